/**
 * Pod-level options both workloads share (the agent DaemonSet and the webhook Deployment),
 * the webhook's platform options (security context, host network, ports, PDB, spread), and
 * the checks that keep each of them inside what stays safe and valid.
 *
 * Like the other structured props, these are passed through as they are, so the chart
 * generator can hand the constructs a Helm placeholder in their place; a placeholder is
 * never checked here (values.schema.json checks the chart's values).
 */
import { isPlaceholder } from './placeholder';
import type { JsonObject } from './json';

/** A reference to a Secret in the install's namespace, as in the Kubernetes API. */
export interface LocalObjectReference {
  readonly name: string;
}

/** An environment variable of a container, as in the Kubernetes API (`value` or `valueFrom`). */
export interface EnvVar {
  readonly name: string;
  /** @default '' */
  readonly value?: string;
  /** @default none */
  readonly valueFrom?: JsonObject;
}

/** Options every lxcfs-kit workload (agent, webhook) takes. */
export interface LxcfsWorkloadOptions {
  /**
   * Extra annotations on the pods (not on the DaemonSet/Deployment itself).
   * @default {}
   */
  readonly podAnnotations?: Readonly<Record<string, string>>;
  /**
   * Extra labels on the pods (never on selectors); the labels lxcfs-kit sets itself are refused.
   * @default {}
   */
  readonly podLabels?: Readonly<Record<string, string>>;
  /**
   * Extra command-line flags appended to the container's args, each `--name` or `--name=value`.
   * Flags lxcfs-kit already sets from other props are refused (set the prop instead).
   * @default []
   */
  readonly extraArgs?: readonly string[];
  /**
   * Extra environment variables of the container. Names lxcfs-kit sets itself are refused.
   * @default []
   */
  readonly extraEnv?: readonly EnvVar[];
}

/** The webhook pod's PodDisruptionBudget. */
export interface PodDisruptionBudgetOptions {
  /**
   * Create the PodDisruptionBudget.
   * @default true
   */
  readonly enabled?: boolean;
  /**
   * Most webhook pods a voluntary disruption may take down (a number or a percentage).
   * Ignored when minAvailable is set.
   * @default 1
   */
  readonly maxUnavailable?: number | string;
  /**
   * Fewest webhook pods that must stay up through a voluntary disruption; replaces maxUnavailable.
   * @default none (maxUnavailable applies)
   */
  readonly minAvailable?: number | string;
}

/** Ports of the webhook container; with hostNetwork they are ports of the node. */
export interface WebhookPorts {
  /**
   * HTTPS port (admission, health); the Service's port 443 targets it.
   * @default 8443
   */
  readonly https?: number;
  /**
   * Plain-HTTP port of /metrics.
   * @default 9090
   */
  readonly metrics?: number;
}

/** The webhook's options for platforms with their own rules (OpenShift SCCs, managed control planes). */
export interface LxcfsWebhookPlatformOptions {
  /**
   * Pod securityContext fields, beside `runAsNonRoot: true`, which is always set. Give `{}` (or,
   * in the chart, set the fields to null) to let the platform pick the user, e.g. OpenShift's
   * restricted SCC, which assigns a UID from the namespace's range. `runAsUser: 0` is refused.
   * @default { runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } }
   */
  readonly podSecurityContext?: JsonObject;
  /**
   * Container securityContext fields, beside the ones always set: runAsNonRoot true,
   * readOnlyRootFilesystem true, allowPrivilegeEscalation false, privileged false and every
   * capability dropped. Setting any of those, `procMount` or `runAsUser: 0` is refused, so
   * the webhook can never be made privileged.
   * @default { seccompProfile: { type: 'RuntimeDefault' } }
   */
  readonly securityContext?: JsonObject;
  /**
   * Run the webhook pods in the node's network namespace, for managed control planes that cannot
   * reach pod IPs (for example EKS with a custom CNI). Its ports then become ports of the node:
   * choose free ones with `ports`.
   * @default false
   */
  readonly hostNetwork?: boolean;
  /**
   * Container ports.
   * @default { https: 8443, metrics: 9090 }
   */
  readonly ports?: WebhookPorts;
  /**
   * The PodDisruptionBudget.
   * @default { enabled: true, maxUnavailable: 1 }
   */
  readonly podDisruptionBudget?: PodDisruptionBudgetOptions;
  /**
   * Topology spread constraints of the webhook pods; replace the built-in one.
   * @default one constraint: maxSkew 1 across kubernetes.io/hostname, ScheduleAnyway
   */
  readonly topologySpreadConstraints?: readonly JsonObject[];
}

export const WEBHOOK_POD_SECURITY_CONTEXT_DEFAULT: JsonObject = {
  runAsUser: 65532,
  runAsGroup: 65532,
  // Mounted certificate files are group-readable by this group (defaultMode 0440).
  fsGroup: 65532,
  seccompProfile: { type: 'RuntimeDefault' },
};
export const WEBHOOK_SECURITY_CONTEXT_DEFAULT: JsonObject = { seccompProfile: { type: 'RuntimeDefault' } };

/** Container securityContext fields the webhook always sets; no prop or value may change them. */
export const WEBHOOK_FIXED_SECURITY_CONTEXT: JsonObject = {
  runAsNonRoot: true,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  privileged: false,
  capabilities: { drop: ['ALL'] },
};
/** Fields of the container securityContext that stay out of reach (procMount Unmasked exposes the host's /proc paths). */
export const WEBHOOK_LOCKED_CONTAINER_FIELDS: readonly string[] = [...Object.keys(WEBHOOK_FIXED_SECURITY_CONTEXT), 'procMount'];
export const WEBHOOK_LOCKED_POD_FIELDS: readonly string[] = ['runAsNonRoot'];

/** Lowest port the webhook can listen on (no NET_BIND_SERVICE). */
export const MIN_WEBHOOK_PORT = 1024;

export const PDB_DEFAULTS = { enabled: true, maxUnavailable: 1 } as const;

/** A Kubernetes resource quantity (`100m`, `1.5Gi`, `2e3`, `128974848`). */
export const QUANTITY_PATTERN = /^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$/;
/** A flag for extraArgs: `--name` or `--name=value`. */
export const EXTRA_ARG_PATTERN = /^--[a-z][a-z0-9-]*(=.*)?$/s;
/** An int-or-string of a PDB: a whole number or a percentage. */
export const INT_OR_PERCENT = /^[0-9]+%$/;

/** Problems with `resources` (quantities, and requests above limits cannot be scheduled). */
export function resourcesProblems(what: string, resources: unknown): string[] {
  if (resources === undefined || isPlaceholder(resources)) return [];
  const problems: string[] = [];
  if (typeof resources !== 'object' || resources === null || Array.isArray(resources)) return [`${what} resources must be an object with requests and limits`];
  for (const [part, quantities] of Object.entries(resources as Record<string, unknown>)) {
    if (part !== 'requests' && part !== 'limits') {
      problems.push(`${what} resources.${part} is not a field of resources; use requests and limits`);
      continue;
    }
    for (const [name, quantity] of Object.entries((quantities ?? {}) as Record<string, unknown>)) {
      const text = typeof quantity === 'number' ? String(quantity) : quantity;
      if (typeof text !== 'string' || !QUANTITY_PATTERN.test(text)) {
        problems.push(`${what} resources.${part}.${name} "${String(quantity)}" is not a Kubernetes quantity; write it like 100m, 0.5, 64Mi or 1Gi`);
      }
    }
  }
  return problems;
}

/** Problems with the pod options of one workload, given the flags and env names the construct sets itself. */
export function workloadProblems(
  what: string,
  options: LxcfsWorkloadOptions,
  managed: {
    /** Every flag of the command (extraArgs must name one). */
    readonly known: readonly string[];
    readonly flags: readonly string[];
    readonly env: readonly string[];
    readonly labels: readonly string[];
    readonly annotations: readonly string[];
    /** The install's extra labels: a pod label repeating one would be ambiguous (the chart renders both). */
    readonly commonLabels: Readonly<Record<string, string>>;
  },
): string[] {
  const problems: string[] = [];
  for (const key of Object.keys(options.podLabels ?? {})) {
    if (isPlaceholder(key)) continue;
    if (managed.labels.includes(key)) problems.push(`${what} podLabels: label "${key}" is set by lxcfs-kit itself (selectors depend on it); remove it`);
    else if (key in managed.commonLabels) problems.push(`${what} podLabels: label "${key}" is also in the install's labels; set it in one place`);
  }
  for (const key of Object.keys(options.podAnnotations ?? {})) {
    if (!isPlaceholder(key) && managed.annotations.includes(key)) problems.push(`${what} podAnnotations: annotation "${key}" is set by lxcfs-kit itself; remove it`);
  }
  for (const arg of placeholderFree(options.extraArgs)) {
    if (typeof arg !== 'string' || !EXTRA_ARG_PATTERN.test(arg)) {
      problems.push(`${what} extraArgs: "${String(arg)}" is not a flag; write each as --name or --name=value`);
      continue;
    }
    const name = arg.slice(2).split('=')[0].replace(/^no-/, '');
    if (managed.flags.includes(name)) problems.push(`${what} extraArgs: --${name} is set by lxcfs-kit from its own props; set the matching prop instead of passing the flag`);
    else if (!managed.known.includes(name)) problems.push(`${what} extraArgs: --${name} is not a flag of lxcfs-kit ${what} (lxcfs-kit ${what} --help lists them)`);
  }
  for (const env of placeholderFree(options.extraEnv)) {
    const name = (env as EnvVar | undefined)?.name;
    if (typeof name !== 'string' || name === '') problems.push(`${what} extraEnv: every entry needs a name`);
    else if (managed.env.includes(name)) problems.push(`${what} extraEnv: ${name} is set by lxcfs-kit itself; remove it`);
  }
  return problems;
}

/** Problems with the webhook's platform options. */
export function webhookPlatformProblems(options: LxcfsWebhookPlatformOptions): string[] {
  const problems: string[] = [];
  const locked = (field: string, ctx: unknown, fields: readonly string[]) => {
    if (ctx === undefined || isPlaceholder(ctx) || typeof ctx !== 'object' || ctx === null) return;
    for (const key of Object.keys(ctx)) {
      if (fields.includes(key)) problems.push(`webhook ${field}.${key} is set by lxcfs-kit itself (the webhook never runs as root or privileged); remove it`);
    }
    if ((ctx as Record<string, unknown>).runAsUser === 0) problems.push(`webhook ${field}.runAsUser 0 is root, which runAsNonRoot forbids; pick another user or leave runAsUser out`);
    const seccomp = (ctx as { seccompProfile?: { type?: unknown } }).seccompProfile;
    if (seccomp?.type === 'Unconfined') problems.push(`webhook ${field}.seccompProfile Unconfined turns off the syscall filter; use RuntimeDefault or a Localhost profile`);
  };
  locked('securityContext', options.securityContext, WEBHOOK_LOCKED_CONTAINER_FIELDS);
  locked('podSecurityContext', options.podSecurityContext, WEBHOOK_LOCKED_POD_FIELDS);
  const ports = options.ports ?? {};
  const portValues = [ports.https, ports.metrics].filter((p): p is number => typeof p === 'number');
  for (const [name, port] of Object.entries(ports)) {
    // The webhook runs as non-root with every capability dropped: it cannot bind a privileged port.
    if (typeof port === 'number' && (!Number.isInteger(port) || port < MIN_WEBHOOK_PORT || port > 65535)) {
      problems.push(`webhook ports.${name} must be a port number from ${MIN_WEBHOOK_PORT} to 65535 (the non-root webhook cannot bind lower ports), got ${port}`);
    }
  }
  if (portValues.length === 2 && portValues[0] === portValues[1]) problems.push(`webhook ports.https and ports.metrics are both ${portValues[0]}; give them different ports`);
  const pdb = options.podDisruptionBudget ?? {};
  for (const field of ['maxUnavailable', 'minAvailable'] as const) {
    const v = pdb[field];
    if (v === undefined || isPlaceholder(v)) continue;
    if (typeof v === 'number' ? !Number.isInteger(v) || v < 0 : !INT_OR_PERCENT.test(v)) {
      problems.push(`webhook podDisruptionBudget.${field} must be a whole number or a percentage such as 50%, got ${String(v)}`);
    }
  }
  return problems;
}

/** The items of a list prop, or none when the list itself is a chart placeholder. */
function placeholderFree<T>(list: readonly T[] | undefined): readonly T[] {
  if (list === undefined || isPlaceholder(list)) return [];
  return list.filter((item) => !isPlaceholder(item));
}

/**
 * The props of the lxcfs-kit constructs, their defaults, and the checks that
 * reject a configuration which would deadlock the cluster or do nothing.
 *
 * Structured props (resources, nodeSelector, tolerations, affinity, labels,
 * annotations) are passed through to the manifests as they are: the constructs
 * never look inside them, which is what lets the chart generator hand the same
 * constructs a Helm placeholder in their place.
 */
import {
  AGENT_IMAGE,
  DEFAULT_LXCFS_FILES,
  DEFAULT_LXCFS_PATH,
  PART_OF_LABEL,
  COMPONENT_LABEL,
  PROJECT_NAME,
  SYNC_WAVE_ANNOTATION,
  SYSTEM_NAMESPACES,
  WEBHOOK_IMAGE,
} from '../contract';
import { AGENT_FLAGS } from '../agent/flags';
import { injectionProblems } from '../injection';
import { Command, optionsOf, propKey, valueProblems } from '../options';
import { WEBHOOK_FLAGS } from '../webhook/flags';
import { isPlaceholder } from './placeholder';
import type { JsonObject } from './json';
import { LocalObjectReference, LxcfsWebhookPlatformOptions, LxcfsWorkloadOptions, resourcesProblems, webhookPlatformProblems } from './workload';

export type { Json, JsonObject } from './json';

/** `resources` of a container, e.g. `{ requests: { cpu: '50m' }, limits: { memory: '512Mi' } }`. */
export interface ResourceRequirements {
  /** @default {} (no requests) */
  readonly requests?: Readonly<Record<string, string>>;
  /** @default {} (no limits) */
  readonly limits?: Readonly<Record<string, string>>;
}

/** A pod toleration, as in the Kubernetes API. */
export interface Toleration {
  /** @default every key (with operator Exists) */
  readonly key?: string;
  /** @default 'Equal' */
  readonly operator?: 'Exists' | 'Equal';
  /** @default '' */
  readonly value?: string;
  /** @default every effect */
  readonly effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  /** @default tolerated forever */
  readonly tolerationSeconds?: number;
}

export type FailurePolicy = 'Fail' | 'Ignore';
export type RepairMode = 'off' | 'report' | 'evict';
export type ImagePullPolicy = 'IfNotPresent' | 'Always' | 'Never';

/** cert-manager issuer that signs the webhook's serving certificate. */
export interface IssuerRef {
  readonly name: string;
  /** @default 'Issuer' */
  readonly kind?: 'Issuer' | 'ClusterIssuer';
  /** @default 'cert-manager.io' */
  readonly group?: string;
}

/** Where the webhook's serving certificate comes from. */
export type CertificateSource =
  /** The webhook creates and rotates a CA and serving certificate itself and publishes the CA into the webhook configuration. */
  | { readonly source: 'self' }
  /** cert-manager issues the certificate and injects the CA (`cert-manager.io/inject-ca-from`); without `issuerRef` a self-signed CA chain is created. */
  | { readonly source: 'certManager'; readonly issuerRef?: IssuerRef }
  /** A kubernetes.io/tls Secret you manage, plus the base64 PEM CA that signed it. */
  | { readonly source: 'existingSecret'; readonly secretName: string; readonly caBundle: string };

/** Props every lxcfs-kit construct shares. */
export interface LxcfsCommonProps {
  /**
   * Prefix of every object name; cluster-scoped objects carry it too, so two installs never collide.
   * @default 'lxcfs-kit'
   */
  readonly name?: string;
  /**
   * Namespace of the install. Pods in it are never injected.
   * @default 'lxcfs-kit'
   */
  readonly namespace?: string;
  /**
   * Host directory where the agent mounts lxcfs (absolute, a directory of its own: system directories such as /, /etc, /usr, /var,
   * /var/lib, /run and anything under /proc, /sys, /dev are rejected); the same as lxcfs-admission-webhook's, so a migration keeps
   * running pods working.
   * @default '/var/lib/lxcfs'
   */
  readonly lxcfsPath?: string;
  /**
   * Extra labels on every object and pod (never on selectors).
   * @default {}
   */
  readonly labels?: Readonly<Record<string, string>>;
  /**
   * Extra annotations on every object.
   * @default {}
   */
  readonly annotations?: Readonly<Record<string, string>>;
  /**
   * Pull policy of both images. `IfNotPresent` lets a node start lxcfs after a power loss
   * before the (often in-cluster) registry is back.
   * @default 'IfNotPresent'
   */
  readonly imagePullPolicy?: ImagePullPolicy;
  /**
   * Value of the `app.kubernetes.io/instance` label (and of the selectors): the Helm chart sets
   * the release name. Changing it on a running install changes immutable selectors.
   * @default the name
   */
  readonly instance?: string;
  /**
   * Secrets with registry credentials for pulling both images.
   * @default []
   */
  readonly imagePullSecrets?: readonly LocalObjectReference[];
}

/** Options of the node agent (the lxcfs DaemonSet). */
export interface LxcfsAgentOptions extends LxcfsWorkloadOptions {
  /**
   * Agent image: a full reference, `[registry/]repository:tag`, optionally pinned with `@sha256:<digest>`.
   * @default 'ghcr.io/lxcfs-kit/agent:<package version>'
   */
  readonly image?: string;
  /**
   * Flags passed to lxcfs (-l: virtual loadavg, --enable-cfs: CPU count follows the CPU quota); --enable-pidfd is added when the
   * lxcfs version supports it. Each one flag starting with "-", printable ASCII without commas or spaces; never one the agent
   * manages (-p, --pidfile, -f, --foreground, -n, --help, -v, --version).
   * @default ['-l', '--enable-cfs']
   */
  readonly lxcfsArgs?: readonly string[];
  /**
   * Seconds between periodic scans for stale lxcfs mounts (at least 1).
   * @default 30
   */
  readonly reconcileIntervalSeconds?: number;
  /**
   * Container resources. No CPU limit (throttling lxcfs slows every /proc read on the node)
   * and a generous memory limit, so lxcfs is never OOM-killed under normal load.
   * @default { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '512Mi' } }
   */
  readonly resources?: ResourceRequirements;
  /**
   * Node selector of the agent pods.
   * @default { 'kubernetes.io/os': 'linux' }
   */
  readonly nodeSelector?: Readonly<Record<string, string>>;
  /**
   * Tolerations of the agent pods; the default tolerates every taint, so every node gets lxcfs.
   * @default [{ operator: 'Exists' }]
   */
  readonly tolerations?: readonly Toleration[];
  /**
   * Affinity of the agent pods.
   * @default {}
   */
  readonly affinity?: JsonObject;
  /**
   * Priority class: the agent must be scheduled before the workloads it serves.
   * @default 'system-node-critical'
   */
  readonly priorityClassName?: string;
}

/** Options of the admission webhook. */
export interface LxcfsWebhookOptions extends LxcfsWorkloadOptions, LxcfsWebhookPlatformOptions {
  /**
   * Webhook image: a full reference, `[registry/]repository:tag`, optionally pinned with `@sha256:<digest>`.
   * @default 'ghcr.io/lxcfs-kit/webhook:<package version>'
   */
  readonly image?: string;
  /**
   * Replicas. With `failurePolicy: Fail` at least 2 are required.
   * @default 2
   */
  readonly replicas?: number;
  /**
   * What the API server does when the webhook cannot be reached. `Fail` never lets an opted-in pod
   * start without lxcfs; only opted-in pods are in scope, so it cannot block the cluster.
   * @default 'Fail'
   */
  readonly failurePolicy?: FailurePolicy;
  /**
   * Admission timeout in seconds (1..30).
   * @default 5
   */
  readonly timeoutSeconds?: number;
  /**
   * Container resources.
   * @default { requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '256Mi' } }
   */
  readonly resources?: ResourceRequirements;
  /**
   * Node selector of the webhook pods.
   * @default { 'kubernetes.io/os': 'linux' }
   */
  readonly nodeSelector?: Readonly<Record<string, string>>;
  /**
   * Tolerations of the webhook pods.
   * @default []
   */
  readonly tolerations?: readonly Toleration[];
  /**
   * Affinity of the webhook pods; replaces the built-in preferred anti-affinity that keeps replicas on different nodes.
   * @default preferred pod anti-affinity across kubernetes.io/hostname
   */
  readonly affinity?: JsonObject;
  /**
   * Priority class of the webhook pods.
   * @default 'system-cluster-critical'
   */
  readonly priorityClassName?: string;
  /**
   * What the leader-elected reconciler does with opted-in pods created without injection: off, report (event + metric) or evict
   * (rate-limited, respects PodDisruptionBudgets).
   * @default 'report'
   */
  readonly repairMode?: RepairMode;
  /**
   * Seconds between repair scans (at least 5).
   * @default 60
   */
  readonly repairIntervalSeconds?: number;
  /**
   * Most repair evictions per minute (repair-mode evict), at least 1.
   * @default 6
   */
  readonly evictionsPerMinute?: number;
  /**
   * Also treat namespaces labelled lxcfs-admission-webhook=enabled as opted in (migration from lxcfs-admission-webhook).
   * @default false
   */
  readonly legacyNamespaceLabel?: boolean;
  /**
   * Further namespaces never injected (kube-system, kube-public, kube-node-lease and the install's own are always excluded).
   * @default []
   */
  readonly excludedNamespaces?: readonly string[];
  /**
   * Source of the serving certificate.
   * @default { source: 'self' }
   */
  readonly certificates?: CertificateSource;
  /**
   * Namespaces that enforce Pod Security `baseline` or `restricted` (label
   * `pod-security.kubernetes.io/enforce`) forbid the hostPath volumes lxcfs-kit injects, and the
   * API server checks Pod Security after mutation, so an injected pod there is refused. `skip`
   * leaves them out of the webhook configuration's namespaceSelector, warns the creators of
   * their opted-in pods (a warning-only webhook, failurePolicy Ignore) and has the reconciler
   * report them; `inject` treats them like any namespace (for clusters that exempt them).
   * Applies to injection mode hostPath: modes csi and podSecurity inject these namespaces with
   * the CSI volume, which every level allows.
   * @default 'skip'
   */
  readonly podSecurityEnforcedNamespaces?: 'skip' | 'inject';
  /**
   * A ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1, Kubernetes 1.30 or later)
   * bound to the webhook's ServiceAccount that lets it change nothing of its
   * MutatingWebhookConfiguration but the caBundle its RBAC `patch` is for. Only with
   * self-managed certificates (the other sources give the webhook no write access to it).
   * @default false (the Helm chart renders it whenever the cluster serves the API)
   */
  readonly configurationPolicy?: boolean;
}

/** Prometheus Operator ServiceMonitors for the webhook's and the agent's metrics. */
export interface ServiceMonitorOptions {
  /**
   * Create the ServiceMonitors (needs the monitoring.coreos.com CRDs); the agent's comes with a headless Service.
   * @default false
   */
  readonly enabled?: boolean;
  /**
   * Scrape interval.
   * @default '30s'
   */
  readonly interval?: string;
  /**
   * Extra labels on the ServiceMonitors, e.g. the one your Prometheus's serviceMonitorSelector matches.
   * @default {}
   */
  readonly labels?: Readonly<Record<string, string>>;
  /**
   * Namespace of the ServiceMonitors (where your Prometheus looks for them); they still select the install's namespace.
   * @default the install's namespace
   */
  readonly namespace?: string;
}

/** Alerts and dashboard beyond the ServiceMonitors (lib/monitoring has their definitions). */
export interface MonitoringOptions {
  /**
   * Annotate the agent pods with `prometheus.io/scrape`, `prometheus.io/port` and `prometheus.io/path`,
   * for a Prometheus that discovers pods by annotation (no Prometheus Operator).
   * @default false
   */
  readonly prometheusAnnotations?: boolean;
  /**
   * A PrometheusRule with lxcfs-kit's alerts (needs the monitoring.coreos.com CRDs).
   * @default { enabled: false }
   */
  readonly prometheusRule?: PrometheusRuleOptions;
  /**
   * A Grafana dashboard in a ConfigMap, labelled for the Grafana sidecar that loads dashboards.
   * @default { enabled: false }
   */
  readonly dashboard?: DashboardOptions;
}

/** The PrometheusRule with lxcfs-kit's alerts. */
export interface PrometheusRuleOptions {
  /**
   * Create the PrometheusRule.
   * @default false
   */
  readonly enabled?: boolean;
  /**
   * Extra labels on the PrometheusRule, e.g. the one your Prometheus's ruleSelector matches (`release: kube-prometheus-stack`).
   * @default {}
   */
  readonly labels?: Readonly<Record<string, string>>;
}

/** The Grafana dashboard ConfigMap. */
export interface DashboardOptions {
  /**
   * Create the dashboard ConfigMap.
   * @default false
   */
  readonly enabled?: boolean;
  /**
   * Labels the Grafana sidecar selects dashboards by.
   * @default { grafana_dashboard: '1' }
   */
  readonly labels?: Readonly<Record<string, string>>;
}

export const DASHBOARD_DEFAULT_LABELS: Readonly<Record<string, string>> = { grafana_dashboard: '1' };

export const DEFAULT_NAME = PROJECT_NAME;
export const DEFAULT_NAMESPACE = PROJECT_NAME;

export const AGENT_DEFAULTS = {
  image: AGENT_IMAGE,
  // Options that reach a flag take their default from its spec (lib/options.ts).
  lxcfsArgs: AGENT_FLAGS['lxcfs-arg'].default as readonly string[],
  reconcileIntervalSeconds: AGENT_FLAGS['reconcile-interval'].default,
  resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '512Mi' } } as ResourceRequirements,
  nodeSelector: { 'kubernetes.io/os': 'linux' } as Readonly<Record<string, string>>,
  tolerations: [{ operator: 'Exists' }] as readonly Toleration[],
  affinity: {} as JsonObject,
  priorityClassName: 'system-node-critical',
} as const;

export const WEBHOOK_DEFAULTS = {
  image: WEBHOOK_IMAGE,
  replicas: 2,
  failurePolicy: 'Fail' as FailurePolicy,
  timeoutSeconds: 5,
  resources: { requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '256Mi' } } as ResourceRequirements,
  nodeSelector: { 'kubernetes.io/os': 'linux' } as Readonly<Record<string, string>>,
  tolerations: [] as readonly Toleration[],
  priorityClassName: 'system-cluster-critical',
  repairMode: WEBHOOK_FLAGS['repair-mode'].default as RepairMode,
  repairIntervalSeconds: WEBHOOK_FLAGS['repair-interval'].default,
  evictionsPerMinute: WEBHOOK_FLAGS['evictions-per-minute'].default,
  legacyNamespaceLabel: WEBHOOK_FLAGS['legacy-namespace-label'].default,
  excludedNamespaces: [] as readonly string[],
  certificates: { source: 'self' } as CertificateSource,
  podSecurityEnforcedNamespaces: WEBHOOK_FLAGS['pod-security-enforced-namespaces'].default as 'skip' | 'inject',
  configurationPolicy: false,
} as const;

/** Labels the constructs set themselves; extra labels must not override them (selectors depend on them). */
export const RESERVED_LABELS: readonly string[] = [
  'app.kubernetes.io/name',
  'app.kubernetes.io/instance',
  'app.kubernetes.io/version',
  COMPONENT_LABEL,
  PART_OF_LABEL,
];

/** Thrown for props that cannot work; the message says how to fix them. */
export class LxcfsKitConfigError extends Error {
  constructor(problems: readonly string[]) {
    super(`lxcfs-kit: invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'LxcfsKitConfigError';
  }
}

/** Throws one error listing every problem, so a user fixes them in one go. */
export function assertNoProblems(problems: readonly string[]): void {
  if (problems.length > 0) throw new LxcfsKitConfigError(problems);
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
/** Longest name prefix: the longest derived name (`<name>-webhook-configuration`) stays within 63 characters. */
export const MAX_NAME_LENGTH = 40;

/** Problems with the props every part shares. Values that are not plain (chart placeholders) are checked by the chart instead. */
export function commonProblems(props: LxcfsCommonProps): string[] {
  const problems: string[] = [];
  const { name, namespace, labels } = props;
  if (name !== undefined && !isPlaceholder(name) && (!DNS_LABEL.test(name) || name.length > MAX_NAME_LENGTH)) {
    problems.push(`name "${name}" must be a DNS label (lower-case letters, digits, "-") of at most ${MAX_NAME_LENGTH} characters`);
  }
  if (namespace !== undefined && !isPlaceholder(namespace)) {
    if (!DNS_LABEL.test(namespace) || namespace.length > 63) {
      problems.push(`namespace "${namespace}" must be a DNS label of at most 63 characters`);
    } else if (namespace === 'default' || SYSTEM_NAMESPACES.includes(namespace)) {
      problems.push(
        `namespace "${namespace}": the install's own namespace is never injected, so installing into "${namespace}" would silently exclude it; use a dedicated namespace such as "lxcfs-kit"`,
      );
    }
  }
  if (props.lxcfsPath !== undefined && !isPlaceholder(props.lxcfsPath)) {
    problems.push(...injectionProblems(props.lxcfsPath, DEFAULT_LXCFS_FILES).filter((p) => p.startsWith('lxcfs path')));
  }
  if (props.instance !== undefined && !isPlaceholder(props.instance) && !LABEL_VALUE.test(props.instance)) {
    problems.push(`instance "${props.instance}" must be a label value: at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit`);
  }
  for (const key of Object.keys(props.annotations ?? {})) {
    if (key === SYNC_WAVE_ANNOTATION) {
      problems.push(`annotation "${key}" is set by lxcfs-kit itself (it orders the Argo CD sync); remove it from annotations`);
    }
  }
  for (const key of Object.keys(labels ?? {})) {
    if (!isPlaceholder(key) && RESERVED_LABELS.includes(key)) {
      problems.push(`label "${key}" is set by lxcfs-kit itself (selectors depend on it); remove it from labels`);
    }
  }
  return problems;
}

/** Problems with the agent options (and the kubelet directory it is given). */
export function agentProblems(options: LxcfsAgentOptions & { readonly kubeletDir?: string }): string[] {
  return [...flagOptionProblems('agent', options), ...resourcesProblems('agent', options.resources)];
}

/**
 * Problems with the props that become a command's flags, judged by the flag's own spec
 * (lib/options.ts): what the constructs accept, the command accepts. Chart placeholders are
 * left to the chart's schema, which is derived from the same spec.
 */
export function flagOptionProblems(command: Command, props: object): string[] {
  const values = props as Readonly<Record<string, unknown>>;
  return optionsOf(command)
    .filter((o) => o.checkedBy === undefined && o.flags[0].command === command)
    .flatMap((o) => {
      const value = values[propKey(o)];
      if (value === undefined || isPlaceholder(value) || (Array.isArray(value) && value.some(isPlaceholder))) return [];
      return valueProblems(o, value, o.prop);
    });
}

/** Problems with the webhook options, given the file set and the install's namespace. */
export function webhookProblems(options: LxcfsWebhookOptions, files: readonly string[] | undefined, namespace: string | undefined): string[] {
  const problems: string[] = flagOptionProblems('webhook', options);
  const { replicas, failurePolicy, timeoutSeconds } = options;
  const policy = failurePolicy ?? WEBHOOK_DEFAULTS.failurePolicy;
  const count = replicas ?? WEBHOOK_DEFAULTS.replicas;
  if (typeof count === 'number') {
    if (!Number.isInteger(count) || count < 1) problems.push(`webhook replicas must be a whole number of at least 1, got ${count}`);
    else if (count < 2 && policy === 'Fail') {
      problems.push(
        `webhook replicas ${count} with failurePolicy Fail: a single webhook pod being rescheduled blocks every opted-in pod creation; set replicas to 2 or more, or failurePolicy to Ignore`,
      );
    }
  }
  if (typeof timeoutSeconds === 'number' && (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > 30)) {
    problems.push(`webhook timeoutSeconds must be a whole number from 1 to 30 (the API server's limit), got ${timeoutSeconds}`);
  }
  if (files !== undefined && Array.isArray(files)) {
    problems.push(...injectionProblems(DEFAULT_LXCFS_PATH, files).filter((p) => !p.startsWith('lxcfs path')));
  }
  for (const ns of options.excludedNamespaces ?? []) {
    if (ns === namespace || isPlaceholder(ns)) continue;
    if (!DNS_LABEL.test(ns)) problems.push(`excluded namespace "${ns}" is not a valid namespace name`);
  }
  const certs = options.certificates;
  if (certs?.source === 'existingSecret' && !isPlaceholder(certs.caBundle)) {
    if (!certs.secretName) problems.push('certificates.secretName is empty; name the kubernetes.io/tls Secret that holds tls.crt and tls.key');
    problems.push(...caBundleProblems(certs.caBundle));
  }
  if (options.configurationPolicy === true && certs !== undefined && certs.source !== 'self') {
    problems.push(`webhook configurationPolicy guards the webhook's own writes to its configuration, which only certificates source "self" makes; remove configurationPolicy or use source "self" (got "${certs.source}")`);
  }
  if (certs?.source === 'certManager' && certs.issuerRef !== undefined && !certs.issuerRef.name) {
    problems.push('certificates.issuerRef.name is empty; name your cert-manager Issuer/ClusterIssuer, or leave issuerRef out for a self-signed CA');
  }
  problems.push(...resourcesProblems('webhook', options.resources));
  problems.push(...webhookPlatformProblems(options));
  return problems;
}

export const PEM_CERTIFICATE_HEADER = '-----BEGIN CERTIFICATE-----';

/** The caBundle must be a base64 PEM certificate; a private key there would be published cluster-wide. */
export function caBundleProblems(caBundle: string): string[] {
  if (!caBundle) return ['certificates.caBundle is empty; give the base64-encoded PEM CA certificate that signed the Secret\'s tls.crt'];
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(caBundle)) return ['certificates.caBundle must be base64 (of the PEM CA certificate), with no spaces or line breaks'];
  const pem = Buffer.from(caBundle, 'base64').toString('utf8');
  if (/PRIVATE KEY/.test(pem)) return ['certificates.caBundle contains a private key; give only the CA certificate (it is published in the webhook configuration)'];
  // A prefix test, so that the chart's schema can make the same check on the base64 text.
  if (!pem.startsWith(PEM_CERTIFICATE_HEADER)) return [`certificates.caBundle does not decode to a PEM certificate (text starting with "${PEM_CERTIFICATE_HEADER}")`];
  return [];
}

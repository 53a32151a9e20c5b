/** The node agent: a DaemonSet that runs and supervises lxcfs on every Linux node. */
import * as path from 'path';
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { AGENT_FLAGS, agentArgs, AgentFlags } from '../agent/flags';
import { directFlagValues } from '../options';
import { AGENT_COMPONENT, AGENT_HEALTH_PORT, AGENT_READY_FILE, AGENT_STATE_DIR, DEFAULT_KUBELET_DIR, DEFAULT_LXCFS_PATH } from '../contract';
import { agentCsiMounts, LxcfsCsiDriver } from './csi-driver';
import { AGENT_SCRAPE_ANNOTATIONS } from './monitoring';
import { DEFAULT_CONTAINER_ANNOTATION, metadataContext, objectMetadata, podMetadata, selectorLabels } from './metadata';
import { AGENT_DEFAULTS, agentProblems, assertNoProblems, commonProblems, LxcfsAgentOptions, LxcfsCommonProps, RESERVED_LABELS } from './props';
import { markAgentSide } from './pairing';
import { workloadProblems } from './workload';

/** Flags the agent construct sets from its props (extraArgs may not repeat them). */
export const AGENT_MANAGED_FLAGS: readonly string[] = ['lxcfs-path', 'lxcfs-arg', 'reconcile-interval', 'ready-file', 'csi', 'kubelet-dir', 'node-name', 'health-port', 'state-dir'];
/** Environment variables the agent container gets from the construct. */
export const AGENT_MANAGED_ENV: readonly string[] = ['NODE_NAME'];

/** Every problem with the props of a LxcfsAgent. */
export function lxcfsAgentProblems(props: LxcfsAgentProps): string[] {
  return [
    ...commonProblems(props),
    ...agentProblems(props),
    ...workloadProblems('agent', props, {
      known: Object.keys(AGENT_FLAGS),
      flags: AGENT_MANAGED_FLAGS,
      env: AGENT_MANAGED_ENV,
      labels: RESERVED_LABELS,
      annotations: [DEFAULT_CONTAINER_ANNOTATION, ...Object.keys(AGENT_SCRAPE_ANNOTATIONS)],
      commonLabels: props.labels ?? {},
    }),
  ];
}

export interface LxcfsAgentProps extends LxcfsCommonProps, LxcfsAgentOptions {
  /**
   * Annotate the pods for Prometheus's annotation-based pod discovery (prometheus.io/scrape, port, path).
   * @default false
   */
  readonly prometheusAnnotations?: boolean;
  /**
   * Serve the CSI node plugin for injection modes `csi` and `podSecurity`: the agent gets the
   * kubelet's pods directory (Bidirectional), its plugin socket directory and the plugin
   * registration directory, and the CSIDriver object is created.
   * @default false
   */
  readonly csi?: boolean;
  /**
   * The kubelet's root directory on the nodes (its --root-dir), used with `csi`.
   * @default '/var/lib/kubelet'
   */
  readonly kubeletDir?: string;
}

/**
 * The agent DaemonSet and its ServiceAccount. The agent needs no Kubernetes API
 * access: no RBAC, and no service account token is mounted.
 */
export class LxcfsAgent extends Construct {
  /** The DaemonSet. */
  public readonly daemonSet: ApiObject;
  /** The ServiceAccount (no token mounted, no permissions). */
  public readonly serviceAccount: ApiObject;
  /** The agent's command line, as rendered into the container args. */
  public readonly flags: Partial<AgentFlags>;
  /** The CSIDriver object, with `csi`. */
  public readonly csiDriver?: LxcfsCsiDriver;
  /** The host directory where this agent mounts lxcfs (a webhook in the same app must inject the same). */
  public readonly lxcfsPath: string;
  /** Whether the agent serves the CSI node plugin (a webhook injecting CSI volumes needs it). */
  public readonly servesCsi: boolean;

  constructor(scope: Construct, id: string, props: LxcfsAgentProps = {}) {
    super(scope, id);
    assertNoProblems(lxcfsAgentProblems(props));
    const ctx = metadataContext(props);
    this.lxcfsPath = props.lxcfsPath ?? DEFAULT_LXCFS_PATH;
    const lxcfsPath = props.lxcfsPath ?? DEFAULT_LXCFS_PATH;
    const agentName = `${ctx.name}-agent`;
    const kubeletDir = props.kubeletDir ?? DEFAULT_KUBELET_DIR;
    this.servesCsi = props.csi === true;
    markAgentSide(this, { installName: ctx.name, installNamespace: ctx.namespace, lxcfsPath: this.lxcfsPath, servesCsi: this.servesCsi });

    this.flags = {
      ...(directFlagValues('agent', props) as Partial<AgentFlags>),
      'ready-file': AGENT_READY_FILE,
      ...(props.csi ? { csi: true, 'kubelet-dir': kubeletDir, 'node-name': '$(NODE_NAME)' } : {}),
    };
    const csiMounts = props.csi ? agentCsiMounts(kubeletDir) : { volumeMounts: [], volumes: [] };
    if (props.csi) this.csiDriver = new LxcfsCsiDriver(this, 'CsiDriver', ctx);

    this.serviceAccount = new ApiObject(this, 'ServiceAccount', {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: objectMetadata(ctx, agentName, AGENT_COMPONENT, 'prerequisites'),
      automountServiceAccountToken: false,
    });

    // With hostNetwork the old and the new agent share the health port during a rolling update
    // (the new one binds it once the old one exits), so an HTTP /readyz probe of the new pod could
    // be answered by the old agent. Readiness is the agent's own --ready-file instead: it exists
    // while this agent serves lxcfs, finished its first reconcile and is the one serving the node.
    const readyFile = (periodSeconds: number, failureThreshold: number): Record<string, unknown> => ({
      exec: { command: ['cat', AGENT_READY_FILE] },
      periodSeconds,
      failureThreshold,
      timeoutSeconds: 3,
      successThreshold: 1,
    });

    this.daemonSet = new ApiObject(this, 'DaemonSet', {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: objectMetadata(ctx, agentName, AGENT_COMPONENT, 'agent'),
      spec: {
        selector: { matchLabels: selectorLabels(ctx, AGENT_COMPONENT) },
        // The new agent mounts lxcfs and re-attaches every container before the old one
        // stops: one extra pod per node during the roll, never zero.
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
        template: {
          metadata: podMetadata(ctx, AGENT_COMPONENT, {
            labels: props.podLabels,
            annotations: { ...(props.prometheusAnnotations ? AGENT_SCRAPE_ANNOTATIONS : {}), ...props.podAnnotations },
          }),
          spec: {
            serviceAccountName: agentName,
            automountServiceAccountToken: false,
            // After a reboot the agent must serve lxcfs before the CNI is up, so it cannot
            // depend on pod networking.
            hostNetwork: true,
            dnsPolicy: 'ClusterFirstWithHostNet',
            // lxcfs resolves each reader's cgroup through /proc/<pid>; the agent finds stale
            // mounts by scanning every process's mountinfo.
            hostPID: true,
            priorityClassName: props.priorityClassName ?? AGENT_DEFAULTS.priorityClassName,
            ...nonEmpty('imagePullSecrets', props.imagePullSecrets),
            ...nonEmpty('nodeSelector', props.nodeSelector ?? AGENT_DEFAULTS.nodeSelector),
            ...nonEmpty('tolerations', props.tolerations ?? AGENT_DEFAULTS.tolerations),
            ...nonEmpty('affinity', props.affinity ?? AGENT_DEFAULTS.affinity),
            // Above the agent's 20 s wait for a successor to take over, plus lxcfs's own stop.
            terminationGracePeriodSeconds: 30,
            containers: [
              {
                name: AGENT_COMPONENT,
                image: props.image ?? AGENT_DEFAULTS.image,
                imagePullPolicy: props.imagePullPolicy ?? 'IfNotPresent',
                args: [...agentArgs(this.flags), ...(props.extraArgs ?? [])],
                env: [{ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }, ...(props.extraEnv ?? [])],
                // No `ports`: with hostNetwork a container port is a host port, and the scheduler
                // would refuse the surge pod on the node its predecessor still occupies.
                // lxcfs needs FUSE (/dev/fuse, mount) and the agent setns()es into other
                // containers' mount namespaces and the host cgroup namespace to re-attach
                // lxcfs files: no narrower set of capabilities allows all three.
                // Read-only root: nothing inside the container can replace the agent's binaries. What it
                // writes goes to dedicated mounts: the ready file to /tmp (a small memory emptyDir),
                // its state and lxcfs instances to the state dir.
                securityContext: { privileged: true, runAsUser: 0, readOnlyRootFilesystem: true },
                // Generous start-up window: lxcfs must mount, take over from the old agent and the
                // first re-attach scan finish. Liveness starts only after it.
                startupProbe: readyFile(2, 60),
                readinessProbe: readyFile(5, 2),
                // /healthz fails when the agent's own lxcfs answers ENOTCONN or not within 2 s (asked
                // through the helper), so a dead or hung lxcfs gets the container restarted and the new
                // lxcfs re-attached everywhere; a container's hung mount never fails it. During a handover the old agent answers it until it exits and the new
                // one binds the port within a second: 3 failures 10 s apart never span that gap.
                livenessProbe: {
                  httpGet: { path: '/healthz', port: AGENT_HEALTH_PORT, scheme: 'HTTP' },
                  periodSeconds: 10,
                  failureThreshold: 3,
                  timeoutSeconds: 3,
                  successThreshold: 1,
                },
                ...nonEmpty('resources', props.resources ?? AGENT_DEFAULTS.resources),
                volumeMounts: [
                  // Bidirectional: the lxcfs FUSE mount made inside the container must appear on the host.
                  { name: 'lxcfs', mountPath: lxcfsPath, mountPropagation: 'Bidirectional' },
                  { name: 'state', mountPath: AGENT_STATE_DIR },
                  { name: 'tmp', mountPath: path.posix.dirname(AGENT_READY_FILE) },
                  ...csiMounts.volumeMounts,
                ],
              },
            ],
            volumes: [
              { name: 'lxcfs', hostPath: { path: lxcfsPath, type: 'DirectoryOrCreate' } },
              { name: 'state', hostPath: { path: AGENT_STATE_DIR, type: 'DirectoryOrCreate' } },
              { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
              ...csiMounts.volumes,
            ],
          },
        },
      },
    });
  }
}

/** `{ key: value }` unless the value is an empty object or list (the API treats both as unset). */
export function nonEmpty(key: string, value: unknown): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (Array.isArray(value) && value.length === 0) return {};
  if (typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0) return {};
  return { [key]: value };
}

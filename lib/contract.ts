/**
 * The names and defaults that several parts of lxcfs-kit must agree on: the
 * constructs, the Helm chart, the webhook and the node agent all import them
 * from here, so a rename can never leave one part behind.
 */
import pkg from '../package.json';

/** The package version; image tags, chart version and appVersion all derive from it. */
export const VERSION: string = pkg.version;

export const PROJECT_NAME = 'lxcfs-kit';
export const LABEL_PREFIX = 'lxcfs-kit.io/';

/** Namespace label (whole namespace) or pod label (one pod) that opts pods in. */
export const INJECT_LABEL = `${LABEL_PREFIX}inject`;
export const INJECT_ENABLED = 'enabled';
/** Pod label value that opts a pod out; the webhook is not even called for it. */
export const INJECT_DISABLED = 'disabled';
/** Pod annotation: comma-separated container names that must not be injected. */
export const EXCLUDE_CONTAINERS_ANNOTATION = `${LABEL_PREFIX}exclude-containers`;
/** Pod annotation set on every injected pod; its value lists the injected files. */
export const INJECTED_ANNOTATION = `${LABEL_PREFIX}injected`;

/** Namespace label of the older lxcfs-admission-webhook project (migration, off by default). */
export const LEGACY_NAMESPACE_LABEL = 'lxcfs-admission-webhook';
export const LEGACY_NAMESPACE_VALUE = 'enabled';

/** Namespaces that are never injected, whatever their labels say. */
export const SYSTEM_NAMESPACES: readonly string[] = ['kube-system', 'kube-public', 'kube-node-lease'];

/** Label every lxcfs-kit pod carries; the webhook's objectSelector excludes it. */
export const PART_OF_LABEL = 'app.kubernetes.io/part-of';
export const COMPONENT_LABEL = 'app.kubernetes.io/component';
export const AGENT_COMPONENT = 'agent';
export const WEBHOOK_COMPONENT = 'webhook';

/** Host directory where the agent mounts LXCFS; the same as lxcfs-admission-webhook's. */
export const DEFAULT_LXCFS_PATH = '/var/lib/lxcfs';

/** Files bind-mounted into every injected container. */
export const DEFAULT_LXCFS_FILES: readonly string[] = [
  '/proc/cpuinfo',
  '/proc/meminfo',
  '/proc/stat',
  '/proc/uptime',
  '/proc/loadavg',
  '/proc/diskstats',
  '/proc/swaps',
  '/sys/devices/system/cpu/online',
];

/**
 * Name of the agent's CSI driver (injection mode `csi`): the CSIDriver object, the pods'
 * inline volumes and the kubelet's plugin registration all use it.
 */
export const CSI_DRIVER_NAME = 'csi.lxcfs-kit.io';
/** The kubelet's root directory on a node (its --root-dir); the CSI sockets and pod volumes live below it. */
export const DEFAULT_KUBELET_DIR = '/var/lib/kubelet';

/** Prefix of every volume the webhook adds to a pod. */
export const VOLUME_PREFIX = 'lxcfs-kit-';

/** Where the release pipeline publishes images; tags are always the package version. */
export const IMAGE_REGISTRY = 'ghcr.io/lxcfs-kit';
export const AGENT_IMAGE = `${IMAGE_REGISTRY}/agent:${VERSION}`;
export const WEBHOOK_IMAGE = `${IMAGE_REGISTRY}/webhook:${VERSION}`;

/** Ports, fixed in one place so manifests, probes and servers agree. */
export const WEBHOOK_HTTPS_PORT = 8443;
export const WEBHOOK_METRICS_PORT = 9090;
export const WEBHOOK_SERVICE_PORT = 443;
/** The agent runs with hostNetwork (it must start before the CNI after a reboot), so its port is a host port. */
export const AGENT_HEALTH_PORT = 9479;

/** Path of the admission endpoint on the webhook's HTTPS port. */
export const MUTATE_PATH = '/mutate';
/** Admission endpoint that always injects in mode `csi` (injection mode `podSecurity` sends baseline/restricted namespaces here). */
export const MUTATE_CSI_PATH = '/mutate/csi';

/** Host directory (hostPath) where agents keep runtime state and hand over to each other. */
export const AGENT_STATE_DIR = '/run/lxcfs-kit';

/**
 * The agent's --ready-file in the DaemonSet, read by its exec readiness and startup probes. In
 * /tmp of the container's own (writable) root filesystem: unlike an emptyDir it starts empty on
 * every container restart, so a file left by a killed agent can never make its successor ready.
 */
export const AGENT_READY_FILE = '/tmp/lxcfs-kit-ready';

/** Where the agent image installs the native mount helper. */
export const HELPER_IMAGE_PATH = '/usr/local/libexec/lxcfs-kit/lxcfs-kit-remount';

/** Where the webhook container reads its serving certificate in cert mode `files` (cert-manager, existing Secret). */
export const WEBHOOK_TLS_DIR = '/etc/lxcfs-kit/tls';
/** Argo CD orders a sync by this annotation: RBAC/priority/quota → agent → webhook → webhook configuration. */
export const SYNC_WAVE_ANNOTATION = 'argocd.argoproj.io/sync-wave';

/**
 * NODE_OPTIONS of the agent image (its Dockerfile target sets it; the manifests do not repeat
 * it). A 1 MiB young generation keeps the agent's resident memory near its 64 MiB request.
 * --expose-gc lets a pass that did bulk work collect V8's garbage where it changes phase
 * (collectGarbage in lib/agent/heal.ts): the peak at 1,000 containers went from 70-72 MiB to
 * 63.2-63.6 (`npm run bench:recovery`). Without it the agent works the same, with a larger heap.
 * --v8-pool-size=1: one V8 background thread instead of four (the agent has one core's work; a
 * pass's helpers take the rest). Each thread that compiles or marks keeps a malloc arena of its
 * own, and four held 3.6 MiB at the peak against one's 2.4: the peak went from 63.2 to 61.1 MiB in
 * back-to-back runs, with no slower recovery.
 * The webhook's counterpart is WEBHOOK_NODE_OPTIONS in lib/webhook/flags.ts.
 */
export const AGENT_NODE_OPTIONS = '--max-semi-space-size=1 --expose-gc --v8-pool-size=1';

/**
 * V8 flags the agent image gives node on its command line (its ENTRYPOINT: node refuses them in
 * NODE_OPTIONS). --optimize-for-size lowered the agent's peak RSS at 1,000 containers by about
 * 6 MiB, with no measurable cost in recovery time or at rest (`npm run bench:recovery`).
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--optimize-for-size'];

/** The agent's command line: parsed by `lxcfs-kit agent`, rendered into the DaemonSet by the constructs. */
import { AGENT_HEALTH_PORT, AGENT_STATE_DIR, DEFAULT_KUBELET_DIR, HELPER_IMAGE_PATH } from '../contract';
import { FlagValues, renderFlags } from '../flags';
import { LXCFS_PATH_FLAG } from '../injection';

export const AGENT_FLAGS = {
  'lxcfs-path': LXCFS_PATH_FLAG,
  'lxcfs-binary': { kind: 'string', default: 'lxcfs', help: 'lxcfs executable (looked up in PATH)' },
  'lxcfs-arg': {
    kind: 'list',
    default: ['-l', '--enable-cfs'],
    minItems: 1,
    item: {
      // Printable ASCII only: JavaScript's and Go's (Helm's schema) \s and . differ beyond it.
      regex: '^-[\\x21-\\x2b\\x2d-\\x7e]+$',
      forbidden: '^(-p|--pidfile|-f|--foreground|-n|--help|-v|--version)(=|$)',
      rule: 'one lxcfs flag starting with "-" (the agent chooses lxcfs\'s mount point itself), printable ASCII without commas or spaces, and not one the agent manages (-p, --pidfile, -f, --foreground, -n, --help, -v, --version)',
    },
    help: 'flags passed to lxcfs (-l: virtual loadavg, --enable-cfs: CPU count follows the CPU quota); --enable-pidfd is added when the lxcfs version supports it',
    cliNote: 'repeat the flag, or separate with commas',
  },
  pidfd: { kind: 'string', default: 'auto', choices: ['auto', 'always', 'never'], help: 'pass --enable-pidfd to lxcfs' },
  'health-address': { kind: 'string', default: '0.0.0.0', help: 'address of the /healthz, /readyz and /metrics server' },
  'health-port': { kind: 'integer', default: AGENT_HEALTH_PORT, min: 0, max: 65535, help: 'port of the /healthz, /readyz and /metrics server (0 picks a free port)' },
  'state-dir': { kind: 'string', default: AGENT_STATE_DIR, help: 'host directory for the agent\'s runtime state (lock and handover between an old and a new agent)' },
  helper: { kind: 'string', default: HELPER_IMAGE_PATH, help: 'path of the native mount helper (lxcfs-kit-remount)' },
  'ready-file': {
    kind: 'string',
    default: '',
    help: 'file that exists exactly while the agent is ready; for an exec readiness probe (with hostNetwork, an old and a new agent share the health port during a rolling update)',
  },
  'heal-scope': {
    kind: 'string',
    default: 'node',
    choices: ['node', 'state-dir'],
    help: 'which dead lxcfs mounts to re-attach: node = every one on the host; state-dir = only those of lxcfs processes started by agents sharing --state-dir (hosts running several lxcfs setups side by side)',
  },
  'restart-burst': {
    kind: 'integer',
    default: 5,
    min: 1,
    max: 1000,
    help: 'lxcfs restarts in a row (each after a run shorter than a minute) done at once; beyond, each start waits twice as long as the last, 1 s up to 60 s',
  },
  'reconcile-interval': { kind: 'integer', default: 30, min: 1, help: 'seconds between periodic scans for stale lxcfs mounts' },
  csi: {
    kind: 'boolean',
    default: false,
    help: 'also serve the CSI node plugin for the injected ephemeral volume (injection mode csi) and register it with the kubelet',
  },
  'kubelet-dir': {
    kind: 'string',
    default: DEFAULT_KUBELET_DIR,
    // Plain path characters only: the manifests carry it unquoted in hostPath volumes.
    pattern: { regex: '^(/[A-Za-z0-9._-]+)+$', rule: 'an absolute path without a trailing slash, made of letters, digits, ".", "_" and "-", such as /var/lib/kubelet' },
    help: 'the kubelet\'s root directory on the node (its --root-dir): the CSI plugin serves its sockets and publishes pod volumes below it',
  },
  'node-name': { kind: 'string', default: '', help: 'this node\'s Kubernetes name (with --csi; NodeGetInfo answers it); empty: the host name' },
} as const;

export type AgentFlags = FlagValues<typeof AGENT_FLAGS>;

/** The container args for the DaemonSet: `agent` followed by every non-default flag. */
export function agentArgs(values: Partial<AgentFlags>): string[] {
  return ['agent', ...renderFlags(AGENT_FLAGS, values)];
}

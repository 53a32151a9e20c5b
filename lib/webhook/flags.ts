/** The webhook's command line: parsed by `lxcfs-kit webhook`, rendered into the Deployment by the constructs. */
import { DEFAULT_LXCFS_FILES, WEBHOOK_HTTPS_PORT, WEBHOOK_METRICS_PORT } from '../contract';
import { FlagValues, renderFlags } from '../flags';
import { LXCFS_FILE_PATTERN, LXCFS_PATH_FLAG } from '../injection';

export const WEBHOOK_FLAGS = {
  address: { kind: 'string', default: '0.0.0.0', help: 'address of the HTTPS server' },
  port: { kind: 'integer', default: WEBHOOK_HTTPS_PORT, min: 0, max: 65535, help: 'HTTPS port: /mutate, /healthz, /readyz (0 picks a free port)' },
  'metrics-port': { kind: 'integer', default: WEBHOOK_METRICS_PORT, min: 0, max: 65535, help: 'plain-HTTP port of /metrics (0 picks a free port)' },
  'cert-mode': {
    kind: 'string',
    default: 'files',
    choices: ['files', 'self'],
    help: 'files: serve --tls-cert-file/--tls-key-file and reload them when they change; self: create and rotate a CA and serving certificate in a Secret and publish the CA to the webhook configuration',
  },
  'tls-cert-file': { kind: 'string', default: '', help: 'PEM serving certificate (cert-mode files)' },
  'tls-key-file': { kind: 'string', default: '', help: 'PEM private key (cert-mode files)' },
  namespace: { kind: 'string', default: '', help: 'namespace of the install; defaults to $POD_NAMESPACE' },
  'service-name': { kind: 'string', default: 'lxcfs-kit-webhook', help: 'Service in front of the webhook (certificate SANs)' },
  'secret-name': { kind: 'string', default: 'lxcfs-kit-webhook-tls', help: 'Secret holding the CA and serving certificate (cert-mode self)' },
  'webhook-configuration': {
    kind: 'string',
    default: 'lxcfs-kit',
    help: 'MutatingWebhookConfiguration whose caBundle the webhook keeps published (cert-mode self)',
  },
  'lxcfs-path': LXCFS_PATH_FLAG,
  'injection-mode': {
    kind: 'string',
    default: 'hostPath',
    choices: ['hostPath', 'csi'],
    help: 'hostPath: one hostPath volume of type File per file; csi: one CSI ephemeral volume of the agent\'s driver and a read-only subPath mount per file (allowed by Pod Security baseline and restricted; the agents must run with --csi)',
  },
  file: {
    kind: 'list',
    default: DEFAULT_LXCFS_FILES,
    minItems: 1,
    unique: true,
    item: LXCFS_FILE_PATTERN,
    help: 'files bind-mounted (read-only) into every injected container',
    cliNote: 'repeat, or separate with commas',
  },
  'legacy-namespace-label': {
    kind: 'boolean',
    default: false,
    help: 'also treat namespaces labelled lxcfs-admission-webhook=enabled as opted in (migration from lxcfs-admission-webhook)',
  },
  'repair-mode': {
    kind: 'string',
    default: 'report',
    choices: ['off', 'report', 'evict'],
    help: 'what the leader-elected reconciler does with opted-in pods created without injection: off, report (event + metric) or evict (rate-limited, respects PodDisruptionBudgets)',
  },
  'pod-security-enforced-namespaces': {
    kind: 'string',
    default: 'skip',
    choices: ['skip', 'inject'],
    help: 'skip: the reconciler reports opted-in namespaces enforcing Pod Security baseline/restricted (which forbid hostPath) instead of their pods, as the webhook configuration leaves them out; inject: treat them like any other (the cluster exempts them from Pod Security)',
  },
  'repair-interval': { kind: 'integer', default: 60, min: 5, help: 'seconds between repair scans' },
  'evictions-per-minute': { kind: 'integer', default: 6, min: 1, help: 'most repair evictions per minute (repair-mode evict)' },
  'lease-name': { kind: 'string', default: 'lxcfs-kit-webhook-repair', help: 'Lease used to elect the replica that runs the reconciler' },
  'cert-lifetime': {
    kind: 'integer',
    default: 365 * 24 * 3600,
    min: 10,
    help: 'seconds a self-managed serving certificate is valid; renewed at two thirds of it (cert-mode self)',
  },
  'ca-lifetime': {
    kind: 'integer',
    default: 10 * 365 * 24 * 3600,
    min: 20,
    help: 'seconds the self-managed CA is valid; renewed at two thirds of it, the old CA stays in the caBundle until it expires (cert-mode self)',
  },
  'sync-interval': {
    kind: 'integer',
    default: 10,
    min: 1,
    help: 'seconds between checks of the certificate files (files) or of the Secret and the caBundle (self)',
  },
  'max-request-bytes': {
    kind: 'integer',
    default: 4 * 1024 * 1024,
    min: 1024,
    help: 'largest admission request body accepted; larger ones get 413 (a pod is at most ~1.5 MB in etcd)',
  },
  'max-in-flight': {
    kind: 'integer',
    default: 8,
    min: 1,
    help: 'admission requests received or answered at once; more get 429 with Retry-After (the API server retries). With --max-request-bytes it bounds the memory requests can hold',
  },
  'shutdown-delay': {
    kind: 'integer',
    default: 5,
    min: 0,
    max: 60,
    help: 'seconds between SIGTERM and closing the listener, while /readyz already fails, so the Service stops routing to this replica before it stops answering',
  },
  'log-level': { kind: 'string', default: 'info', choices: ['debug', 'info', 'warn', 'error'], help: 'least severe log level written (admissions that change nothing are debug)' },
} as const;

export type WebhookFlags = FlagValues<typeof WEBHOOK_FLAGS>;

/** The container args for the Deployment: `webhook` followed by every non-default flag. */
export function webhookArgs(values: Partial<WebhookFlags>): string[] {
  return ['webhook', ...renderFlags(WEBHOOK_FLAGS, values)];
}

/**
 * Node.js options for the webhook container (NODE_OPTIONS). A 4 MiB young-generation
 * semi-space keeps the resident set of a busy webhook near 80 MiB instead of ~105 MiB
 * (V8 otherwise grows it to 16 MiB under allocation-heavy load) at no measurable CPU cost.
 * A 96 MiB old generation makes V8 collect the garbage of decoded requests long before the
 * container's memory limit instead of growing towards its own default of a gigabyte or more;
 * one decoded request is bounded far below it (admission.ts MAX_JSON_VALUES), and bodies
 * waiting to be decoded live outside it. `npm run bench:webhook` runs with the same options.
 */
export const WEBHOOK_NODE_OPTIONS = '--max-semi-space-size=4 --max-old-space-size=96';

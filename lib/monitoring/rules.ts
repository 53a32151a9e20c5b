/**
 * The alerts an operator of lxcfs-kit needs, as Prometheus alerting rules. Every expression
 * selects one install by its namespace and its pods by name, and uses only the metrics the agent
 * and the webhook expose plus `up` (Prometheus's own per-target series). The target labels
 * `namespace` and `pod` come from Prometheus's Kubernetes discovery (the ServiceMonitors lxcfs-kit
 * creates, or the usual `kubernetes-pods` job for the scrape annotations); `node` from the agent
 * ServiceMonitor's relabeling (and the same usual job).
 */
import { PROJECT_NAME, VERSION } from '../contract';

/** Where each alert's runbook lives; the anchor is the alert's section in docs/runbooks.md. */
export const RUNBOOK_BASE_URL = `https://github.com/${PROJECT_NAME}/${PROJECT_NAME}/blob/v${VERSION}/docs/runbooks.md`;

/** Labels Prometheus adds to every scraped series of lxcfs-kit's pods (see the module comment). */
export const TARGET_LABELS: readonly string[] = ['namespace', 'pod', 'node', 'job', 'instance'];

export interface MonitoringTarget {
  /** The install's name (object name prefix). */
  readonly name: string;
  /** The install's namespace. */
  readonly namespace: string;
  /** The webhook configuration's failurePolicy, named in the unavailable-webhook alert. */
  readonly failurePolicy: string;
}

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for: string;
  readonly labels: { readonly severity: 'critical' | 'warning' };
  readonly annotations: { readonly summary: string; readonly description: string; readonly runbook_url: string };
}

/**
 * Admissions slower than this bucket bound count as slow: a mutation normally takes well under a
 * millisecond, so 50 ms already means a starved webhook, long before the admission timeout
 * (1–30 s). The live test checks that the bucket is exposed.
 */
export const SLOW_ADMISSION_BUCKET = '0.05';

/** Runbook anchor of an alert: its name in lower case (GitHub's heading anchors). */
export function runbookAnchor(alert: string): string {
  return alert.toLowerCase();
}

/** Pod-name selectors of the two components (DaemonSet and Deployment pods carry generated suffixes). */
export function podSelectors(t: MonitoringTarget): { agent: string; webhook: string } {
  return {
    agent: `namespace="${t.namespace}", pod=~"${t.name}-agent-.+"`,
    webhook: `namespace="${t.namespace}", pod=~"${t.name}-webhook-.+"`,
  };
}

export function alertRules(t: MonitoringTarget): AlertRule[] {
  const ns = `namespace="${t.namespace}"`;
  const pods = podSelectors(t);
  const rule = (alert: string, severity: 'critical' | 'warning', forDuration: string, expr: string, summary: string, description: string): AlertRule => ({
    alert,
    expr,
    for: forDuration,
    labels: { severity },
    annotations: { summary, description, runbook_url: `${RUNBOOK_BASE_URL}#${runbookAnchor(alert)}` },
  });
  return [
    rule(
      'LxcfsKitAgentDown',
      'critical',
      '5m',
      `up{${pods.agent}} == 0`,
      'lxcfs-kit agent {{ $labels.pod }} on node {{ $labels.node }} does not answer',
      'Prometheus cannot scrape the agent: it is not running or not ready, so lxcfs on this node is not supervised and stale mounts are not healed.',
    ),
    rule(
      'LxcfsKitLxcfsDown',
      'critical',
      '2m',
      `lxcfs_kit_agent_lxcfs_up{${ns}} == 0`,
      'lxcfs is down on node {{ $labels.node }} (agent {{ $labels.pod }})',
      'The agent reports that its lxcfs does not serve files. Containers on this node read their /proc files from lxcfs and fail with "Transport endpoint is not connected" until it is back.',
    ),
    rule(
      'LxcfsKitHealingGaveUp',
      'warning',
      '0m',
      `lxcfs_kit_agent_mounts_given_up{${ns}} > 0`,
      'lxcfs-kit agent {{ $labels.pod }} on node {{ $labels.node }} gave up re-attaching {{ $value }} lxcfs mounts',
      'The agent retries a failed re-attach a few times and then gives up on that mount; containers behind it read a dead lxcfs mount until they restart.',
    ),
    rule(
      'LxcfsKitHealingUnsupported',
      'warning',
      '15m',
      `lxcfs_kit_agent_healing_supported{${ns}} == 0`,
      'node {{ $labels.node }} cannot heal stale lxcfs mounts (agent {{ $labels.pod }})',
      'The kernel lacks open_tree/move_mount (Linux 5.2+): after an lxcfs restart, running containers keep dead lxcfs mounts until they are recreated.',
    ),
    rule(
      'LxcfsKitLxcfsRestarting',
      'warning',
      '0m',
      `increase(lxcfs_kit_agent_lxcfs_restarts_total{${ns}}[30m]) > 3`,
      'lxcfs restarted {{ $value }} times in 30 minutes on node {{ $labels.node }} (agent {{ $labels.pod }})',
      'lxcfs keeps exiting; every restart leaves running containers with stale mounts until the agent re-attaches them.',
    ),
    rule(
      'LxcfsKitUninjectedPods',
      'warning',
      '15m',
      `lxcfs_kit_webhook_uninjected_pods{${ns}} > 0`,
      '{{ $value }} opted-in pods run without lxcfs (reported by webhook {{ $labels.pod }})',
      'Pods in the opt-in scope were created without the lxcfs mounts (webhook down with failurePolicy Ignore, or created before the install). `lxcfs-kit doctor` lists them; the pod events say "LxcfsNotInjected".',
    ),
    rule(
      'LxcfsKitWebhookCertificateExpiresSoon',
      'warning',
      '1h',
      `lxcfs_kit_webhook_certificate_expiry_timestamp_seconds{${ns}} - time() < 7 * 86400`,
      'the {{ $labels.cert }} certificate of webhook {{ $labels.pod }} expires in less than 7 days',
      'Renewal did not happen in time. When it expires the API server cannot call the webhook and, with failurePolicy Fail, opted-in pods cannot be created.',
    ),
    rule(
      'LxcfsKitWebhookCertificateMissing',
      'critical',
      '10m',
      `up{${pods.webhook}} == 1 unless on (namespace, pod) lxcfs_kit_webhook_certificate_expiry_timestamp_seconds{${ns}, cert="serving"}`,
      'webhook {{ $labels.pod }} runs without a serving certificate',
      'The webhook has not loaded a serving certificate, so it cannot answer the API server.',
    ),
    rule(
      'LxcfsKitWebhookCertificateSyncFailing',
      'warning',
      '15m',
      `increase(lxcfs_kit_webhook_errors_total{${ns}, kind="certificate"}[15m]) > 0`,
      'webhook {{ $labels.pod }} fails to sync or publish its certificate',
      'Creating, rotating or publishing the CA into the webhook configuration fails; the API server may soon not trust the serving certificate.',
    ),
    rule(
      'LxcfsKitWebhookTLSErrors',
      'warning',
      '10m',
      `increase(lxcfs_kit_webhook_errors_total{${ns}, kind="tls"}[10m]) > 5`,
      'clients of webhook {{ $labels.pod }} fail the TLS handshake',
      'Usually the CA bundle published in the webhook configuration does not match the serving certificate, so the API server cannot call the webhook.',
    ),
    rule(
      'LxcfsKitWebhookAdmissionErrors',
      'warning',
      '10m',
      `sum by (namespace, pod) (rate(lxcfs_kit_webhook_admissions_total{${ns}, result="rejected"}[5m])) / sum by (namespace, pod) (rate(lxcfs_kit_webhook_admissions_total{${ns}}[5m])) > 0.05`,
      'webhook {{ $labels.pod }} rejects {{ $value | humanizePercentage }} of admission requests as malformed',
      'The API server sends admission reviews the webhook cannot read: a version skew, or something other than the API server calls it.',
    ),
    rule(
      'LxcfsKitWebhookSlow',
      'warning',
      '10m',
      `(sum by (namespace, pod) (rate(lxcfs_kit_webhook_admission_duration_seconds_count{${ns}}[5m])) - sum by (namespace, pod) (rate(lxcfs_kit_webhook_admission_duration_seconds_bucket{${ns}, le="${SLOW_ADMISSION_BUCKET}"}[5m]))) / sum by (namespace, pod) (rate(lxcfs_kit_webhook_admission_duration_seconds_count{${ns}}[5m])) > 0.05`,
      'webhook {{ $labels.pod }} answers {{ $value | humanizePercentage }} of admissions slower than 50 ms',
      'A mutation normally takes well under a millisecond; admissions this slow mean a starved or throttled webhook, on the way to the admission timeout.',
    ),
    rule(
      'LxcfsKitWebhookUnavailable',
      'critical',
      '5m',
      `absent(up{${pods.webhook}} == 1)`,
      `no lxcfs-kit webhook replica is available in namespace ${t.namespace}`,
      `failurePolicy is ${t.failurePolicy}: with Fail, every opted-in pod creation is rejected until a replica is back; with Ignore, opted-in pods start without lxcfs.`,
    ),
  ];
}

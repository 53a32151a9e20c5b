/**
 * The Grafana dashboard of one install: per-node lxcfs health, heal and restart rates,
 * uninjected pods, admission rate and latency, certificate expiry. Queries use the same metrics
 * and target labels as the alerts (rules.ts).
 */
import { MonitoringTarget, podSelectors } from './rules';

export interface DashboardPanel {
  readonly title: string;
  readonly description: string;
  readonly unit: string;
  readonly queries: ReadonlyArray<{ readonly expr: string; readonly legend: string }>;
}

export function dashboardPanels(t: MonitoringTarget): DashboardPanel[] {
  const ns = `namespace="${t.namespace}"`;
  const pods = podSelectors(t);
  return [
    {
      title: 'lxcfs serving, per node',
      description: '1 while the agent on the node answers and its lxcfs serves files.',
      unit: 'none',
      queries: [
        { expr: `lxcfs_kit_agent_lxcfs_up{${ns}}`, legend: 'lxcfs {{node}}' },
        { expr: `up{${pods.agent}}`, legend: 'agent {{node}}' },
      ],
    },
    {
      title: 'Mounts re-attached and failed, per node',
      description: 'Stale lxcfs mounts the agent re-attached, and re-attaches that failed.',
      unit: 'ops',
      queries: [
        { expr: `sum by (node) (rate(lxcfs_kit_agent_mounts_healed_total{${ns}}[5m]))`, legend: 'healed {{node}}' },
        { expr: `sum by (node) (rate(lxcfs_kit_agent_heal_failures_total{${ns}}[5m]))`, legend: 'failed {{node}}' },
      ],
    },
    {
      title: 'lxcfs restarts, per node (1 h)',
      description: 'lxcfs processes the agent restarted after they exited.',
      unit: 'none',
      queries: [{ expr: `sum by (node) (increase(lxcfs_kit_agent_lxcfs_restarts_total{${ns}}[1h]))`, legend: '{{node}}' }],
    },
    {
      title: 'Opted-in pods without lxcfs',
      description: 'Found by the repair reconciler in its last scan.',
      unit: 'none',
      queries: [{ expr: `max(lxcfs_kit_webhook_uninjected_pods{${ns}})`, legend: 'pods' }],
    },
    {
      title: 'Admissions by result',
      description: 'Admission reviews answered by the webhook.',
      unit: 'reqps',
      queries: [{ expr: `sum by (result) (rate(lxcfs_kit_webhook_admissions_total{${ns}}[5m]))`, legend: '{{result}}' }],
    },
    {
      title: 'Admission latency (p99)',
      description: 'From the request body being complete to the response being written.',
      unit: 's',
      queries: [{ expr: `histogram_quantile(0.99, sum by (le) (rate(lxcfs_kit_webhook_admission_duration_seconds_bucket{${ns}}[5m])))`, legend: 'p99' }],
    },
    {
      title: 'Certificate expiry',
      description: 'Time left until the serving certificate (and, in self mode, the CA) expires.',
      unit: 's',
      queries: [{ expr: `min by (cert) (lxcfs_kit_webhook_certificate_expiry_timestamp_seconds{${ns}}) - time()`, legend: '{{cert}}' }],
    },
  ];
}

/** The dashboard as Grafana's JSON model, with a Prometheus data source variable. */
export function dashboardJson(t: MonitoringTarget): Record<string, unknown> {
  const panels = dashboardPanels(t).map((p, i) => ({
    id: i + 1,
    type: 'timeseries',
    title: p.title,
    description: p.description,
    datasource: { type: 'prometheus', uid: '${datasource}' },
    gridPos: { h: 8, w: 12, x: (i % 2) * 12, y: Math.floor(i / 2) * 8 },
    fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
    targets: p.queries.map((q, j) => ({ refId: String.fromCharCode(65 + j), expr: q.expr, legendFormat: q.legend, datasource: { type: 'prometheus', uid: '${datasource}' } })),
  }));
  return {
    title: `lxcfs-kit (${t.namespace}/${t.name})`,
    // The install's name is at most 40 characters, Grafana's limit for a uid.
    uid: t.name,
    tags: ['lxcfs-kit'],
    timezone: 'browser',
    schemaVersion: 39,
    refresh: '1m',
    time: { from: 'now-6h', to: 'now' },
    templating: { list: [{ name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Data source' }] },
    panels,
  };
}

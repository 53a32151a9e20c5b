/** LxcfsMonitoring through LxcfsKit: nothing by default; each switch adds exactly its objects. */
import { Chart, Testing } from 'cdk8s';
import { AGENT_HEALTH_PORT } from '../../lib/contract';
import { LxcfsKit, LxcfsKitProps } from '../../lib';
import { alertRules } from '../../lib/monitoring/rules';
import { dashboardPanels } from '../../lib/monitoring/dashboard';

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-argument -- synthesized manifests are walked as untyped JSON and checked field by field */
type Obj = Record<string, any>;

function synth(props: LxcfsKitProps = {}): Obj[] {
  const chart = new Chart(Testing.app(), 'test');
  new LxcfsKit(chart, 'kit', props);
  return Testing.synth(chart) as Obj[];
}
const ids = (objs: Obj[]) => objs.map((o) => `${o.kind}/${o.metadata.name}`).sort();

describe('monitoring objects', () => {
  test('defaults: no scrape annotations, no agent Service or ServiceMonitor, no rule, no dashboard', () => {
    const objs = synth();
    expect(ids(objs).filter((i) => /ServiceMonitor|PrometheusRule|ConfigMap|agent-metrics/.test(i))).toEqual([]);
    // Only the container kubectl picks by default.
    expect(objs.find((o) => o.kind === 'DaemonSet')!.spec.template.metadata.annotations).toEqual({ 'kubectl.kubernetes.io/default-container': 'agent' });
  });

  test('serviceMonitor: the agent gets a headless Service on its host port and a ServiceMonitor that adds the node label', () => {
    const objs = synth({ name: 'lk', namespace: 'ops', serviceMonitor: { enabled: true, interval: '15s' } });
    const svc = objs.find((o) => o.kind === 'Service' && o.metadata.name === 'lk-agent-metrics')!;
    expect(svc.spec.clusterIP).toBe('None');
    expect(svc.spec.ports).toEqual([{ name: 'metrics', port: AGENT_HEALTH_PORT, targetPort: AGENT_HEALTH_PORT, protocol: 'TCP' }]);
    const ds = objs.find((o) => o.kind === 'DaemonSet')!;
    expect(svc.spec.selector).toEqual(ds.spec.selector.matchLabels);
    const sm = objs.find((o) => o.kind === 'ServiceMonitor' && o.metadata.name === 'lk-agent')!;
    // The ServiceMonitor selects the agent Service (by its labels), and only it.
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) expect(svc.metadata.labels[k]).toBe(v);
    const webhookSvc = objs.find((o) => o.kind === 'Service' && o.metadata.name === 'lk-webhook')!;
    expect(Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => webhookSvc.metadata.labels[k] === v)).toBe(false);
    expect(sm.spec.namespaceSelector).toEqual({ matchNames: ['ops'] });
    expect(sm.spec.endpoints).toEqual([
      { port: 'metrics', path: '/metrics', scheme: 'http', interval: '15s', relabelings: [{ sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node', action: 'replace' }] },
    ]);
  });

  test('prometheusAnnotations: agent pods say where their metrics are', () => {
    const ds = synth({ monitoring: { prometheusAnnotations: true } }).find((o) => o.kind === 'DaemonSet')!;
    expect(ds.spec.template.metadata.annotations).toEqual({ 'kubectl.kubernetes.io/default-container': 'agent', 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(AGENT_HEALTH_PORT), 'prometheus.io/path': '/metrics' });
  });

  test('prometheusRule: the alerts of this install, with the extra labels a ruleSelector needs', () => {
    const objs = synth({ name: 'lk', namespace: 'ops', webhook: { failurePolicy: 'Ignore', replicas: 1 }, monitoring: { prometheusRule: { enabled: true, labels: { release: 'kps' } } } });
    const rule = objs.find((o) => o.kind === 'PrometheusRule')!;
    expect(rule.metadata).toMatchObject({ name: 'lk', namespace: 'ops', labels: { release: 'kps' } });
    expect(rule.spec.groups).toEqual([{ name: 'lxcfs-kit', rules: alertRules({ name: 'lk', namespace: 'ops', failurePolicy: 'Ignore' }) }]);
    expect(JSON.stringify(rule)).toContain('failurePolicy is Ignore');
    expect(JSON.stringify(rule)).toContain('namespace=\\"ops\\", pod=~\\"lk-agent-.+\\"');
  });

  test('dashboard: a ConfigMap for the Grafana sidecar holding the dashboard JSON', () => {
    const objs = synth({ name: 'lk', namespace: 'ops', monitoring: { dashboard: { enabled: true } } });
    const cm = objs.find((o) => o.kind === 'ConfigMap')!;
    expect(cm.metadata.name).toBe('lk-dashboard');
    expect(cm.metadata.labels.grafana_dashboard).toBe('1');
    const dashboard = JSON.parse(cm.data['lxcfs-kit.json']);
    expect(dashboard.uid).toBe('lk');
    const exprs = dashboard.panels.flatMap((p: Obj) => p.targets.map((t: Obj) => t.expr));
    expect(exprs).toEqual(dashboardPanels({ name: 'lk', namespace: 'ops', failurePolicy: 'Fail' }).flatMap((p) => p.queries.map((q) => q.expr)));
    const custom = synth({ monitoring: { dashboard: { enabled: true, labels: { 'grafana.io/dashboard': 'lxcfs' } } } }).find((o) => o.kind === 'ConfigMap')!;
    expect(custom.metadata.labels['grafana.io/dashboard']).toBe('lxcfs');
    expect(custom.metadata.labels.grafana_dashboard).toBeUndefined();
  });
});

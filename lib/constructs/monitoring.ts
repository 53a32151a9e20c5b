/**
 * What lets Prometheus and Grafana watch an install: the agent's headless Service and
 * ServiceMonitor, the PrometheusRule with the alerts, and the dashboard ConfigMap. The alert and
 * dashboard definitions live in lib/monitoring.
 */
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { AGENT_COMPONENT, AGENT_HEALTH_PORT, PROJECT_NAME } from '../contract';
import { dashboardJson } from '../monitoring/dashboard';
import { alertRules } from '../monitoring/rules';
import { MetadataContext, objectMetadata, selectorLabels, serviceMonitorMetadata } from './metadata';
import { DASHBOARD_DEFAULT_LABELS, MonitoringOptions, ServiceMonitorOptions } from './props';

export interface LxcfsMonitoringProps extends MonitoringOptions {
  readonly ctx: MetadataContext;
  /** The webhook configuration's failurePolicy (the unavailable-webhook alert names it). */
  readonly failurePolicy: string;
  /**
   * ServiceMonitors; when enabled, the agent gets a headless Service and a ServiceMonitor here.
   * @default { enabled: false }
   */
  readonly serviceMonitor?: ServiceMonitorOptions;
}

/** Prometheus annotations of the agent pods (the agent listens on a host port: it runs with hostNetwork). */
export const AGENT_SCRAPE_ANNOTATIONS: Readonly<Record<string, string>> = {
  'prometheus.io/scrape': 'true',
  'prometheus.io/port': String(AGENT_HEALTH_PORT),
  'prometheus.io/path': '/metrics',
};

export class LxcfsMonitoring extends Construct {
  constructor(scope: Construct, id: string, props: LxcfsMonitoringProps) {
    super(scope, id);
    const { ctx } = props;
    const agentName = `${ctx.name}-agent`;
    const target = { name: ctx.name, namespace: ctx.namespace, failurePolicy: props.failurePolicy };

    if (props.serviceMonitor?.enabled) {
      const agentPods = selectorLabels(ctx, AGENT_COMPONENT);
      // Headless: Prometheus scrapes every agent pod (its node's address, hostNetwork) through
      // the Endpoints, and no cluster IP is allocated for a Service nobody calls.
      new ApiObject(this, 'AgentMetricsService', {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: objectMetadata(ctx, `${agentName}-metrics`, AGENT_COMPONENT, 'agent'),
        spec: {
          clusterIP: 'None',
          selector: agentPods,
          ports: [{ name: 'metrics', port: AGENT_HEALTH_PORT, targetPort: AGENT_HEALTH_PORT, protocol: 'TCP' }],
        },
      });
      new ApiObject(this, 'AgentServiceMonitor', {
        apiVersion: 'monitoring.coreos.com/v1',
        kind: 'ServiceMonitor',
        metadata: serviceMonitorMetadata(objectMetadata(ctx, agentName, AGENT_COMPONENT, 'agent'), props.serviceMonitor),
        spec: {
          selector: { matchLabels: agentPods },
          namespaceSelector: { matchNames: [ctx.namespace] },
          endpoints: [
            {
              port: 'metrics',
              path: '/metrics',
              scheme: 'http',
              interval: props.serviceMonitor.interval ?? '30s',
              // The alerts and the dashboard name the node: the agent's series carry no labels.
              relabelings: [{ sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node', action: 'replace' }],
            },
          ],
        },
      });
    }

    if (props.prometheusRule?.enabled) {
      const meta = objectMetadata(ctx, ctx.name, PROJECT_NAME, 'webhookConfiguration');
      new ApiObject(this, 'PrometheusRule', {
        apiVersion: 'monitoring.coreos.com/v1',
        kind: 'PrometheusRule',
        metadata: { ...meta, labels: { ...meta.labels, ...props.prometheusRule.labels } },
        spec: { groups: [{ name: PROJECT_NAME, rules: alertRules(target) }] },
      });
    }

    if (props.dashboard?.enabled) {
      const meta = objectMetadata(ctx, `${ctx.name}-dashboard`, PROJECT_NAME, 'webhookConfiguration');
      new ApiObject(this, 'Dashboard', {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { ...meta, labels: { ...meta.labels, ...(props.dashboard.labels ?? DASHBOARD_DEFAULT_LABELS) } },
        data: { [`${PROJECT_NAME}.json`]: JSON.stringify(dashboardJson(target)) },
      });
    }
  }
}

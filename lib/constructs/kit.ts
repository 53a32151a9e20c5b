/** The whole install in one construct: agent, webhook and what they need. */
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { PROJECT_NAME } from '../contract';
import { LxcfsAgent, LxcfsAgentProps, lxcfsAgentProblems } from './agent';
import { InjectionModeChoice, injectionModeProblems } from './csi-driver';
import { metadataContext, objectMetadata } from './metadata';
import {
  AGENT_DEFAULTS,
  assertNoProblems,
  LxcfsAgentOptions,
  LxcfsCommonProps,
  LxcfsWebhookOptions,
  MonitoringOptions,
  ServiceMonitorOptions,
  WEBHOOK_DEFAULTS,
} from './props';
import { LxcfsMonitoring } from './monitoring';
import { LxcfsWebhook, LxcfsWebhookProps, lxcfsWebhookProblems } from './webhook';

export interface LxcfsKitProps extends LxcfsCommonProps {
  /**
   * Also create the Namespace object (plain manifests; Helm installs into the release namespace instead).
   * @default false
   */
  readonly createNamespace?: boolean;
  /**
   * Files bind-mounted (read-only) into every injected container.
   * @default ['/proc/cpuinfo', '/proc/meminfo', '/proc/stat', '/proc/uptime', '/proc/loadavg', '/proc/diskstats', '/proc/swaps', '/sys/devices/system/cpu/online']
   */
  readonly files?: readonly string[];
  /**
   * How lxcfs reaches injected pods. `hostPath`: one hostPath volume of type File per file
   * (Pod Security baseline and restricted forbid it). `csi`: one CSI ephemeral volume served by
   * the agent and a read-only subPath mount per file (allowed by every Pod Security level).
   * `podSecurity`: csi in namespaces labelled pod-security.kubernetes.io/enforce=baseline or
   * restricted, hostPath elsewhere. With csi or podSecurity the agent serves the CSI plugin and
   * the CSIDriver object is created.
   * @default 'hostPath'
   */
  readonly injectionMode?: InjectionModeChoice;
  /**
   * The kubelet's root directory on the nodes (its --root-dir), for injection modes csi and podSecurity.
   * @default '/var/lib/kubelet'
   */
  readonly kubeletDir?: string;
  /**
   * The node agent.
   * @default {}
   */
  readonly agent?: LxcfsAgentOptions;
  /**
   * The admission webhook.
   * @default {}
   */
  readonly webhook?: LxcfsWebhookOptions;
  /**
   * Create a ResourceQuota that admits pods of the agent's and the webhook's priority classes
   * in this namespace. Some clusters only allow system-node-critical/system-cluster-critical
   * pods outside kube-system when such a quota exists.
   * @default false
   */
  readonly criticalPodsQuota?: boolean;
  /**
   * Prometheus Operator ServiceMonitor for the webhook's metrics.
   * @default { enabled: false }
   */
  readonly serviceMonitor?: ServiceMonitorOptions;
  /**
   * Prometheus scrape annotations on the agent pods, alerts (PrometheusRule) and a Grafana dashboard.
   * @default {} (none of them)
   */
  readonly monitoring?: MonitoringOptions;
}

export class LxcfsKit extends Construct {
  public readonly agent: LxcfsAgent;
  public readonly webhook: LxcfsWebhook;

  constructor(scope: Construct, id: string, props: LxcfsKitProps = {}) {
    super(scope, id);
    const common: LxcfsCommonProps = {
      name: props.name,
      namespace: props.namespace,
      lxcfsPath: props.lxcfsPath,
      labels: props.labels,
      annotations: props.annotations,
      imagePullPolicy: props.imagePullPolicy,
      instance: props.instance,
      imagePullSecrets: props.imagePullSecrets,
    };
    const mode = props.injectionMode ?? 'hostPath';
    const agentProps: LxcfsAgentProps = {
      ...common,
      ...props.agent,
      csi: mode !== 'hostPath',
      kubeletDir: props.kubeletDir,
      prometheusAnnotations: props.monitoring?.prometheusAnnotations,
    };
    const webhookProps: LxcfsWebhookProps = { ...common, ...props.webhook, files: props.files, serviceMonitor: props.serviceMonitor, injectionMode: mode };
    // Every problem of every part in one error, each once (the common props are checked by both parts).
    assertNoProblems([...new Set([...injectionModeProblems(mode), ...lxcfsAgentProblems(agentProps), ...lxcfsWebhookProblems(webhookProps)])]);
    const ctx = metadataContext(props);

    if (props.createNamespace) {
      const meta = objectMetadata(ctx, ctx.namespace, PROJECT_NAME, 'prerequisites', { namespaced: false });
      // The agent is privileged (FUSE, setns); Pod Security Admission must allow it here.
      const labels = { ...meta.labels, 'pod-security.kubernetes.io/enforce': 'privileged' };
      new ApiObject(this, 'Namespace', { apiVersion: 'v1', kind: 'Namespace', metadata: { ...meta, labels } });
    }
    if (props.criticalPodsQuota) {
      new ApiObject(this, 'CriticalPodsQuota', {
        apiVersion: 'v1',
        kind: 'ResourceQuota',
        metadata: objectMetadata(ctx, `${ctx.name}-critical-pods`, PROJECT_NAME, 'prerequisites'),
        spec: {
          // A quota that matches the priority classes is what lets such pods run here at all;
          // the limit itself is never meant to bind.
          hard: { pods: '1k' },
          scopeSelector: {
            matchExpressions: [
              {
                scopeName: 'PriorityClass',
                operator: 'In',
                values: [
                  props.agent?.priorityClassName ?? AGENT_DEFAULTS.priorityClassName,
                  props.webhook?.priorityClassName ?? WEBHOOK_DEFAULTS.priorityClassName,
                ],
              },
            ],
          },
        },
      });
    }
    this.agent = new LxcfsAgent(this, 'Agent', agentProps);
    this.webhook = new LxcfsWebhook(this, 'Webhook', webhookProps);
    new LxcfsMonitoring(this, 'Monitoring', {
      ...props.monitoring,
      ctx,
      failurePolicy: props.webhook?.failurePolicy ?? WEBHOOK_DEFAULTS.failurePolicy,
      serviceMonitor: props.serviceMonitor,
    });
  }
}

/**
 * The chart's values: one documented tree that yields values.yaml, values.schema.json
 * and the README's values table, plus the mapping from values to construct props
 * (the equivalence tests synthesize the constructs through it).
 */
import { AGENT_IMAGE, WEBHOOK_IMAGE } from '../contract';
import { NON_CANONICAL_PATH_PATTERN, RESERVED_HOST_DIRECTORIES, VIRTUAL_FILESYSTEM_PATTERN } from '../injection';
import {
  COMMON_ANNOTATIONS_SCHEMA,
  COMMON_LABELS_SCHEMA,
  CROSS_FIELD_RULES,
  fullnameFor,
  helmLabels,
  imageValues,
  platformProps,
  PlatformChartValues,
  QUANTITY_SCHEMA,
  SERVICE_MONITOR_VALUES,
  TOP_VALUES,
  WEBHOOK_PLATFORM_VALUES,
  WebhookPlatformChartValues,
  WorkloadChartValues,
  workloadValues,
} from './platform-values';
import type { Leaf, Schema, Section, ValueNode } from './value-tree';
import { AGENT_DEFAULTS, CertificateSource, DASHBOARD_DEFAULT_LABELS, Json, JsonObject, LxcfsKitProps, WEBHOOK_DEFAULTS } from '../constructs';
import { FlagSpec } from '../flags';
import { option, OptionDef, optionSpec } from '../options';

export type { Leaf, Schema, Section, ValueNode } from './value-tree';

const leaf = (value: Json, schema: Schema, description: string): Leaf => ({ kind: 'leaf', default: value, schema, description });
const section = (description: string, children: Record<string, ValueNode>): Section => ({ kind: 'section', description, children });

/** The schema of a flag's values: what its parser accepts. */
function flagSchema(spec: FlagSpec): Schema {
  switch (spec.kind) {
    case 'integer':
      return { type: 'integer', ...(spec.min !== undefined ? { minimum: spec.min } : {}), ...(spec.max !== undefined ? { maximum: spec.max } : {}) };
    case 'boolean':
      return { type: 'boolean' };
    case 'string':
      return {
        type: 'string',
        ...(spec.choices ? { enum: [...spec.choices] } : {}),
        ...(spec.pattern ? { pattern: spec.pattern.regex, ...(spec.pattern.forbidden ? { not: { pattern: spec.pattern.forbidden } } : {}) } : {}),
      };
    case 'list':
      return {
        type: 'array',
        ...(spec.minItems !== undefined ? { minItems: spec.minItems } : {}),
        ...(spec.unique ? { uniqueItems: true } : {}),
        items: {
          type: 'string',
          ...(spec.item ? { pattern: spec.item.regex, ...(spec.item.forbidden ? { not: { pattern: spec.item.forbidden } } : {}) } : {}),
        },
      };
  }
}

/** A flag's help as a values.yaml sentence: capitalised, ending with a full stop. */
export function helpSentence(help: string): string {
  const text = help.charAt(0).toUpperCase() + help.slice(1);
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

/** What values.yaml says about an option: its flag's help, then what a YAML author must know. */
export function optionDescription(o: OptionDef): string {
  return [helpSentence(optionSpec(o).help), ...(o.chartNote ? [o.chartNote] : [])].join(' ');
}

/** The leaf of a chart value that reaches a flag: default, bounds and docs from the flag's spec (lib/options.ts). */
function optionLeaf(valuePath: string, extra: Schema = {}): Leaf {
  const o = option({ value: valuePath });
  const spec = optionSpec(o);
  const value: Json = spec.kind === 'list' ? [...spec.default] : spec.default;
  return leaf(value, { ...flagSchema(spec), ...extra }, optionDescription(o));
}

/** The leaf also accepting the boolean false, which is what YAML 1.1 makes of a bare off. */
function acceptingBareOff(l: Leaf): Leaf {
  return { ...l, schema: { ...l.schema, type: ['string', 'boolean'], enum: [...(l.schema.enum ?? []), false] } };
}

const stringMap: Schema = { type: 'object', additionalProperties: { type: 'string' } };
const resourcesSchema: Schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    requests: { type: 'object', additionalProperties: QUANTITY_SCHEMA },
    limits: { type: 'object', additionalProperties: QUANTITY_SCHEMA },
  },
};
const tolerationsSchema: Schema = { type: 'array', items: { type: 'object' } };
const k8sName: Schema = { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' };
const imageSection = imageValues;

export const VALUES: Section = section('lxcfs-kit values', {
  ...TOP_VALUES,
  imagePullPolicy: leaf('IfNotPresent', { type: 'string', enum: ['IfNotPresent', 'Always', 'Never'] },
    'Pull policy of both images. `IfNotPresent` lets a rebooted node start lxcfs before an in-cluster registry is back.'),
  commonLabels: leaf({}, COMMON_LABELS_SCHEMA, 'Extra labels on every object and pod (never on selectors).'),
  commonAnnotations: leaf({}, COMMON_ANNOTATIONS_SCHEMA, 'Extra annotations on every object.'),
  lxcfs: section('What lxcfs serves and where.', {
    // A dedicated directory: never a system directory, a virtual filesystem or a non-canonical spelling (injectionProblems' rules).
    path: optionLeaf('lxcfs.path', {
      pattern: '^/.*[^/]$',
      not: { anyOf: [{ enum: [...RESERVED_HOST_DIRECTORIES] }, { pattern: VIRTUAL_FILESYSTEM_PATTERN }, { pattern: NON_CANONICAL_PATH_PATTERN }] },
    }),
    files: optionLeaf('lxcfs.files'),
  }),
  injection: section('How lxcfs reaches injected pods.', {
    mode: leaf('hostPath', { type: 'string', enum: ['hostPath', 'csi', 'podSecurity'] },
      '`hostPath`: one hostPath volume (type File) per file; Pod Security baseline and restricted forbid it. `csi`: one CSI ephemeral volume served by the agent and a read-only subPath mount per file, allowed at every Pod Security level (the CSIDriver object is created). `podSecurity`: csi in namespaces labelled `pod-security.kubernetes.io/enforce` baseline or restricted, hostPath elsewhere.'),
    kubeletDir: optionLeaf('injection.kubeletDir'),
  }),
  agent: section('The node agent (DaemonSet running lxcfs).', {
    image: imageSection(AGENT_IMAGE, 'Agent'),
    lxcfsArgs: optionLeaf('agent.lxcfsArgs'),
    reconcileIntervalSeconds: optionLeaf('agent.reconcileIntervalSeconds'),
    resources: leaf(AGENT_DEFAULTS.resources as JsonObject, resourcesSchema,
      'Agent resources. No CPU limit (throttled lxcfs slows every /proc read on the node); the memory limit is generous so lxcfs is never OOM-killed.'),
    nodeSelector: leaf(AGENT_DEFAULTS.nodeSelector, stringMap, 'Node selector of the agent pods.'),
    tolerations: leaf(AGENT_DEFAULTS.tolerations as unknown as Json, tolerationsSchema, 'Tolerations; the default tolerates every taint so every node serves lxcfs.'),
    affinity: leaf({}, { type: 'object' }, 'Affinity of the agent pods.'),
    priorityClassName: leaf(AGENT_DEFAULTS.priorityClassName, { type: 'string' }, 'Priority class of the agent pods.'),
    ...workloadValues('agent'),
  }),
  webhook: section('The admission webhook.', {
    image: imageSection(WEBHOOK_IMAGE, 'Webhook'),
    replicas: leaf(WEBHOOK_DEFAULTS.replicas, { type: 'integer', minimum: 1 }, 'Replicas; at least 2 with failurePolicy Fail.'),
    failurePolicy: leaf(WEBHOOK_DEFAULTS.failurePolicy, { type: 'string', enum: ['Fail', 'Ignore'] },
      '`Fail`: an opted-in pod is never created without lxcfs while the webhook is down (only opted-in pods are in scope).'),
    timeoutSeconds: leaf(WEBHOOK_DEFAULTS.timeoutSeconds, { type: 'integer', minimum: 1, maximum: 30 }, 'Admission timeout in seconds.'),
    resources: leaf(WEBHOOK_DEFAULTS.resources as JsonObject, resourcesSchema, 'Webhook resources.'),
    nodeSelector: leaf(WEBHOOK_DEFAULTS.nodeSelector, stringMap, 'Node selector of the webhook pods.'),
    tolerations: leaf([], tolerationsSchema, 'Tolerations of the webhook pods.'),
    affinity: leaf({}, { type: 'object' }, 'Affinity of the webhook pods; empty means the built-in preferred anti-affinity across nodes.'),
    priorityClassName: leaf(WEBHOOK_DEFAULTS.priorityClassName, { type: 'string' }, 'Priority class of the webhook pods.'),
    // A bare YAML off is the boolean false, which the chart reads as "off" (template-props.ts REPAIR_MODE).
    repairMode: acceptingBareOff(optionLeaf('webhook.repairMode')),
    repairIntervalSeconds: optionLeaf('webhook.repairIntervalSeconds'),
    evictionsPerMinute: optionLeaf('webhook.evictionsPerMinute'),
    legacyNamespaceLabel: optionLeaf('webhook.legacyNamespaceLabel'),
    excludedNamespaces: leaf([], { type: 'array', items: k8sName }, 'Further namespaces never injected (system namespaces and the release namespace always are).'),
    configurationPolicy: leaf(true, { type: 'boolean' },
      'With certificates.source self, a ValidatingAdmissionPolicy that lets the webhook change only the caBundle of its MutatingWebhookConfiguration; rendered only when the cluster serves admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy (Kubernetes 1.30+).'),
    ...workloadValues('webhook'),
    ...WEBHOOK_PLATFORM_VALUES,
  }),
  certificates: section('The webhook\'s serving certificate.', {
    source: leaf('self', { type: 'string', enum: ['self', 'certManager', 'existingSecret'] },
      '`self`: the webhook creates, rotates and publishes its own CA (no prerequisites); `certManager`: cert-manager issues it and injects the CA; `existingSecret`: a kubernetes.io/tls Secret you manage.'),
    certManager: section('Used when source is certManager.', {
      issuerRef: section('Your Issuer/ClusterIssuer; with an empty name a self-signed CA chain is created.', {
        name: leaf('', { type: 'string' }, 'Issuer name; empty creates a self-signed CA.'),
        kind: leaf('Issuer', { type: 'string', enum: ['Issuer', 'ClusterIssuer'] }, 'Issuer kind.'),
        group: leaf('cert-manager.io', { type: 'string' }, 'Issuer API group.'),
      }),
    }),
    existingSecret: section('Used when source is existingSecret.', {
      secretName: leaf('', { type: 'string' }, 'Secret (type kubernetes.io/tls) in the release namespace with tls.crt and tls.key.'),
      caBundle: leaf('', { type: 'string', pattern: '^[A-Za-z0-9+/]*={0,2}$' }, 'Base64 PEM of the CA that signed tls.crt (the certificate only, never a key).'),
    }),
  }),
  criticalPodsQuota: section('ResourceQuota that admits system-*-critical pods outside kube-system (some managed clusters require it).', {
    enabled: leaf(false, { type: 'boolean' }, 'Create the ResourceQuota.'),
  }),
  serviceMonitor: section('Prometheus Operator ServiceMonitors for the webhook and agent metrics.', {
    enabled: leaf(false, { type: 'boolean' }, 'Create the ServiceMonitors (needs the monitoring.coreos.com CRDs); the agent\'s comes with a headless Service.'),
    interval: leaf('30s', { type: 'string', pattern: '^[0-9]+(ms|s|m|h)$' }, 'Scrape interval.'),
    ...SERVICE_MONITOR_VALUES,
  }),
  monitoring: section('Alerts, dashboard and annotation-based scraping (see docs/runbooks.md).', {
    prometheusAnnotations: leaf(false, { type: 'boolean' }, 'Annotate the agent pods with `prometheus.io/scrape`, `port` and `path` for a Prometheus without the Operator.'),
    prometheusRule: section('PrometheusRule with lxcfs-kit\'s alerts (needs the monitoring.coreos.com CRDs).', {
      enabled: leaf(false, { type: 'boolean' }, 'Create the PrometheusRule.'),
      labels: leaf({}, stringMap, 'Extra labels, e.g. the one your Prometheus\'s ruleSelector matches (`release: kube-prometheus-stack`).'),
    }),
    dashboard: section('Grafana dashboard in a ConfigMap for the Grafana sidecar.', {
      enabled: leaf(false, { type: 'boolean' }, 'Create the dashboard ConfigMap.'),
      labels: leaf({ ...DASHBOARD_DEFAULT_LABELS }, stringMap, 'Labels the Grafana sidecar selects dashboards by.'),
    }),
  }),
});

/** The default values as a plain object. */
export function defaultValues(node: ValueNode = VALUES): Json {
  if (node.kind === 'leaf') return node.default;
  return Object.fromEntries(Object.entries(node.children).map(([k, v]) => [k, defaultValues(v)]));
}

/** values.schema.json: every value typed, unknown keys rejected (a typo never passes silently). */
export function valuesSchema(node: ValueNode = VALUES): Schema {
  if (node.kind === 'leaf') return { ...node.schema, description: node.description };
  return {
    type: 'object',
    description: node.description,
    additionalProperties: node.open === true,
    properties: Object.fromEntries(Object.entries(node.children).map(([k, v]) => [k, valuesSchema(v)])),
    ...(node === VALUES ? { allOf: CROSS_FIELD_RULES } : {}),
  };
}

/** Every leaf with its dotted path, in declaration order. */
export function valueLeaves(node: ValueNode = VALUES, prefix = ''): Array<{ path: string; leaf: Leaf }> {
  if (node.kind === 'leaf') return [{ path: prefix, leaf: node }];
  return Object.entries(node.children).flatMap(([k, v]) => valueLeaves(v, prefix ? `${prefix}.${k}` : k));
}

export { fullnameFor };

/** Chart values, typed as the chart reads them (after Helm merged user values over the defaults). */
export interface ChartValues extends PlatformChartValues {
  imagePullPolicy: 'IfNotPresent' | 'Always' | 'Never';
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  lxcfs: { path: string; files: string[] };
  injection: { mode: 'hostPath' | 'csi' | 'podSecurity'; kubeletDir: string };
  agent: WorkloadChartValues & {
    lxcfsArgs: string[];
    reconcileIntervalSeconds: number;
    resources: JsonObject;
    nodeSelector: Record<string, string>;
    tolerations: JsonObject[];
    affinity: JsonObject;
    priorityClassName: string;
  };
  webhook: WorkloadChartValues & WebhookPlatformChartValues & {
    replicas: number;
    failurePolicy: 'Fail' | 'Ignore';
    timeoutSeconds: number;
    resources: JsonObject;
    nodeSelector: Record<string, string>;
    tolerations: JsonObject[];
    affinity: JsonObject;
    priorityClassName: string;
    repairMode: 'off' | 'report' | 'evict' | false;
    repairIntervalSeconds: number;
    evictionsPerMinute: number;
    legacyNamespaceLabel: boolean;
    excludedNamespaces: string[];
    configurationPolicy: boolean;
  };
  certificates: {
    source: 'self' | 'certManager' | 'existingSecret';
    certManager: { issuerRef: { name: string; kind: 'Issuer' | 'ClusterIssuer'; group: string } };
    existingSecret: { secretName: string; caBundle: string };
  };
  criticalPodsQuota: { enabled: boolean };
  serviceMonitor: { enabled: boolean; interval: string; labels: Record<string, string>; namespace: string };
  monitoring: {
    prometheusAnnotations: boolean;
    prometheusRule: { enabled: boolean; labels: Record<string, string> };
    dashboard: { enabled: boolean; labels: Record<string, string> };
  };
}

/** Deep merge of user values over the defaults, as Helm does (maps merge, null deletes a default, everything else replaces). */
export function mergeValues(base: Json, override: Json | undefined): Json {
  if (override === undefined) return base;
  if (isMap(base) && isMap(override)) {
    const out: Record<string, Json> = { ...base };
    for (const [k, v] of Object.entries(override)) {
      if (v === null) delete out[k];
      else out[k] = k in base ? mergeValues(base[k], v) : v;
    }
    return out;
  }
  return override;
}

function isMap(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** What the chart asks of the cluster it renders for (Helm's .Capabilities). */
export interface ChartCapabilities {
  /** admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy is served (Kubernetes 1.30+). */
  readonly validatingAdmissionPolicy?: boolean;
}

/** The construct props that describe the same install as the chart rendered with these values, for a cluster with these capabilities. */
export function propsFromValues(values: ChartValues, release: { name: string; namespace: string }, capabilities: ChartCapabilities = {}): LxcfsKitProps {
  const certs = values.certificates;
  let certificates: CertificateSource;
  if (certs.source === 'certManager') {
    const ref = certs.certManager.issuerRef;
    certificates = ref.name ? { source: 'certManager', issuerRef: { name: ref.name, kind: ref.kind, group: ref.group } } : { source: 'certManager' };
  } else if (certs.source === 'existingSecret') {
    certificates = { source: 'existingSecret', secretName: certs.existingSecret.secretName, caBundle: certs.existingSecret.caBundle };
  } else {
    certificates = { source: 'self' };
  }
  const platform = platformProps(values, release);
  return {
    ...platform.common,
    name: fullnameFor(release.name, values),
    namespace: release.namespace,
    lxcfsPath: values.lxcfs.path,
    files: values.lxcfs.files,
    labels: { ...helmLabels(), ...values.commonLabels },
    annotations: values.commonAnnotations,
    imagePullPolicy: values.imagePullPolicy,
    criticalPodsQuota: values.criticalPodsQuota.enabled,
    injectionMode: values.injection.mode,
    kubeletDir: values.injection.kubeletDir,
    serviceMonitor: { enabled: values.serviceMonitor.enabled, interval: values.serviceMonitor.interval, ...platform.serviceMonitor },
    monitoring: {
      prometheusAnnotations: values.monitoring.prometheusAnnotations,
      prometheusRule: { enabled: values.monitoring.prometheusRule.enabled, labels: values.monitoring.prometheusRule.labels },
      dashboard: { enabled: values.monitoring.dashboard.enabled, labels: values.monitoring.dashboard.labels },
    },
    agent: {
      ...platform.agent,
      lxcfsArgs: values.agent.lxcfsArgs,
      reconcileIntervalSeconds: values.agent.reconcileIntervalSeconds,
      resources: values.agent.resources,
      nodeSelector: values.agent.nodeSelector,
      tolerations: values.agent.tolerations,
      affinity: values.agent.affinity,
      priorityClassName: values.agent.priorityClassName,
    },
    webhook: {
      ...platform.webhook,
      replicas: values.webhook.replicas,
      failurePolicy: values.webhook.failurePolicy,
      timeoutSeconds: values.webhook.timeoutSeconds,
      resources: values.webhook.resources,
      nodeSelector: values.webhook.nodeSelector,
      tolerations: values.webhook.tolerations,
      affinity: values.webhook.affinity,
      priorityClassName: values.webhook.priorityClassName,
      // A bare `off` in YAML 1.1 is the boolean false.
      repairMode: values.webhook.repairMode === false ? 'off' : values.webhook.repairMode,
      repairIntervalSeconds: values.webhook.repairIntervalSeconds,
      evictionsPerMinute: values.webhook.evictionsPerMinute,
      legacyNamespaceLabel: values.webhook.legacyNamespaceLabel,
      excludedNamespaces: values.webhook.excludedNamespaces,
      configurationPolicy: certificates.source === 'self' && values.webhook.configurationPolicy && capabilities.validatingAdmissionPolicy === true,
      certificates,
    },
  };
}

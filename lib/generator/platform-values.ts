/**
 * The chart values platforms expect, named as in the best-known charts (cert-manager,
 * ingress-nginx, metrics-server, Bitnami): globals for umbrella charts, name overrides,
 * pull secrets, image registry and digest, per-workload pod metadata, extra args and env,
 * the webhook's security context, host network, ports, PDB and spread, and the cross-field
 * rules of values.schema.json (so `helm lint --strict` refuses what `helm template` would).
 *
 * Kept apart from values.ts so that each group is defined once, with the props it maps to.
 */
import { AGENT_FLAGS } from '../agent/flags';
import { PROJECT_NAME, SYNC_WAVE_ANNOTATION, VERSION } from '../contract';
import { WEBHOOK_FLAGS } from '../webhook/flags';
import {
  AGENT_MANAGED_ENV,
  AGENT_MANAGED_FLAGS,
  AGENT_SCRAPE_ANNOTATIONS,
  Json,
  JsonObject,
  LxcfsKitProps,
  MAX_NAME_LENGTH,
  MIN_WEBHOOK_PORT,
  PDB_DEFAULTS,
  PEM_CERTIFICATE_HEADER,
  QUANTITY_PATTERN,
  RESERVED_LABELS,
  WEBHOOK_LOCKED_CONTAINER_FIELDS,
  WEBHOOK_LOCKED_POD_FIELDS,
  WEBHOOK_MANAGED_ENV,
  WEBHOOK_MANAGED_FLAGS,
  WEBHOOK_POD_SECURITY_CONTEXT_DEFAULT,
  WEBHOOK_SECURITY_CONTEXT_DEFAULT,
  DEFAULT_CONTAINER_ANNOTATION,
} from '../constructs';
import type { Leaf, Schema, Section, ValueNode } from './value-tree';

const leaf = (value: Json, schema: Schema, description: string): Leaf => ({ kind: 'leaf', default: value, schema, description });
const section = (description: string, children: Record<string, ValueNode>, open = false): Section => ({ kind: 'section', description, children, ...(open ? { open } : {}) });

/** Labels only the chart sets (standard Helm labels); values may not set them either. */
export const HELM_LABELS: readonly string[] = ['helm.sh/chart', 'app.kubernetes.io/managed-by'];
/** The helm.sh/chart label's value for this chart version. */
export const HELM_CHART_LABEL = `${PROJECT_NAME}-${VERSION}`.replace(/\+/g, '_');

const notOneOf = (names: readonly string[]): Schema => ({ not: { enum: [...names] } });
const stringMapExcept = (reserved: readonly string[]): Schema => ({ type: 'object', additionalProperties: { type: 'string' }, propertyNames: notOneOf(reserved) });
/** Pull secrets as `{name: ...}` (cert-manager, ingress-nginx) or as plain names (Bitnami's globals): an umbrella chart may pass either. */
const pullSecretsSchema: Schema = {
  type: 'array',
  items: {
    anyOf: [
      { type: 'string', minLength: 1 },
      { type: 'object', additionalProperties: false, required: ['name'], properties: { name: { type: 'string', minLength: 1 } } },
    ],
  },
};
const k8sNameOrEmpty: Schema = { type: 'string', maxLength: MAX_NAME_LENGTH, pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$' };
/** A flag of the command that the chart does not render from a value or fix itself. */
const flagSchema = (known: readonly string[], managed: readonly string[]): Schema => ({
  type: 'string',
  pattern: `^--(no-)?(${known.filter((f) => !managed.includes(f)).join('|')})(=.*)?$`,
});
const envSchema = (managed: readonly string[]): Schema => ({
  type: 'array',
  items: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1, not: { enum: [...managed] } } } },
});
export const QUANTITY_SCHEMA: Schema = { type: ['string', 'number'], pattern: QUANTITY_PATTERN.source, minimum: 0 };
const intOrPercent = (allowEmpty: boolean): Schema => ({ type: ['integer', 'string'], minimum: 0, pattern: allowEmpty ? '^([0-9]+%)?$' : '^[0-9]+%$' });
const portSchema: Schema = { type: 'integer', minimum: MIN_WEBHOOK_PORT, maximum: 65535 };
const nonRootUser: Schema = { type: 'integer', minimum: 1 };
const confinedSeccomp: Schema = { type: 'object', properties: { type: { not: { const: 'Unconfined' } } } };

/** The image of one workload: registry, repository, tag and digest. */
export function imageValues(image: string, what: string): Section {
  const slash = image.indexOf('/');
  const colon = image.lastIndexOf(':');
  return section(`${what} image: \`[registry/]repository:tag[@digest]\`.`, {
    registry: leaf(image.slice(0, slash), { type: 'string', pattern: '^\\S*$' }, 'Registry host; `global.imageRegistry` replaces it when set. Empty: the repository alone.'),
    repository: leaf(image.slice(slash + 1, colon), { type: 'string', pattern: '^\\S+$' }, 'Image repository within the registry.'),
    tag: leaf('', { type: 'string', pattern: '^\\S*$' }, 'Image tag; empty means the chart\'s appVersion. Use immutable tags: with `IfNotPresent` a node reuses what it has.'),
    digest: leaf('', { type: 'string', pattern: '^(sha256:[a-f0-9]{64})?$' }, 'Image digest (`sha256:...`), appended to the tag as `@digest` so the node pulls exactly that image.'),
  });
}

/** Values at the top of values.yaml. */
export const TOP_VALUES: Record<string, ValueNode> = {
  global: section(
    'Values an umbrella chart shares with all its subcharts (Helm passes `global` to every subchart); other keys are allowed and ignored.',
    {
      imageRegistry: leaf('', { type: 'string', pattern: '^\\S*$' }, 'Registry of both images, replacing each `image.registry` (a mirror or pull-through cache).'),
      imagePullSecrets: leaf([], pullSecretsSchema, 'Pull secrets for both images, before `imagePullSecrets`: `[{name: ...}]` or plain names.'),
    },
    true,
  ),
  nameOverride: leaf('', k8sNameOrEmpty, `Replaces "${PROJECT_NAME}" in the names of the objects (<release>-<nameOverride>, or the release name when it contains it). Labels keep "app.kubernetes.io/name: ${PROJECT_NAME}" (dashboards, alerts and \`lxcfs-kit doctor\` select by it).`),
  fullnameOverride: leaf('', k8sNameOrEmpty, `The prefix of every object name, replacing <release>-${PROJECT_NAME} (at most ${MAX_NAME_LENGTH} characters).`),
  imagePullSecrets: leaf([], pullSecretsSchema, 'Pull secrets in the release namespace for both images: `[{name: ...}]` or plain names.'),
};

/** Values every workload (agent, webhook) has. */
export function workloadValues(component: 'agent' | 'webhook'): Record<string, ValueNode> {
  const reservedAnnotations = [DEFAULT_CONTAINER_ANNOTATION, ...(component === 'agent' ? Object.keys(AGENT_SCRAPE_ANNOTATIONS) : [])];
  return {
    podAnnotations: leaf({}, stringMapExcept(reservedAnnotations), `Extra annotations on the ${component} pods.${component === 'agent' ? ' The prometheus.io/* ones come from `monitoring.prometheusAnnotations`.' : ''}`),
    podLabels: leaf({}, stringMapExcept([...RESERVED_LABELS, ...HELM_LABELS]), `Extra labels on the ${component} pods (never on selectors); keys must differ from commonLabels.`),
    extraArgs: leaf([], { type: 'array', items: component === 'agent' ? flagSchema(Object.keys(AGENT_FLAGS), AGENT_MANAGED_FLAGS) : flagSchema(Object.keys(WEBHOOK_FLAGS), WEBHOOK_MANAGED_FLAGS) },
      `Extra flags of the ${component} (\`--name=value\`; \`lxcfs-kit ${component} --help\` lists them). Flags the chart renders from other values are refused.`),
    extraEnv: leaf([], envSchema(component === 'agent' ? AGENT_MANAGED_ENV : WEBHOOK_MANAGED_ENV), `Extra environment variables of the ${component} container (Kubernetes EnvVar objects).`),
  };
}

/** The webhook's platform values. */
export const WEBHOOK_PLATFORM_VALUES: Record<string, ValueNode> = {
  podSecurityContext: leaf(WEBHOOK_POD_SECURITY_CONTEXT_DEFAULT, {
    type: 'object',
    propertyNames: notOneOf(WEBHOOK_LOCKED_POD_FIELDS),
    properties: { runAsUser: nonRootUser, seccompProfile: confinedSeccomp },
  }, 'Pod securityContext beside `runAsNonRoot: true` (always set). On OpenShift\'s restricted SCC set runAsUser, runAsGroup and fsGroup to null so the SCC assigns them.'),
  securityContext: leaf(WEBHOOK_SECURITY_CONTEXT_DEFAULT, {
    type: 'object',
    propertyNames: notOneOf(WEBHOOK_LOCKED_CONTAINER_FIELDS),
    properties: { runAsUser: nonRootUser, seccompProfile: confinedSeccomp },
  }, `Container securityContext beside the fields always set (${WEBHOOK_LOCKED_CONTAINER_FIELDS.filter((f) => f !== 'procMount').join(', ')}), which values cannot change: the webhook never runs privileged or as root (nor with seccomp Unconfined).`),
  hostNetwork: leaf(false, { type: 'boolean' }, 'Run the webhook in the node\'s network, for managed control planes that cannot reach pod IPs (custom CNI); pick free node ports with `webhook.ports`.'),
  ports: section('Container ports (node ports with hostNetwork), from 1024 (the non-root webhook cannot bind lower ones) and different from each other.', {
    https: leaf(8443, portSchema, 'HTTPS port (admission, probes); the Service\'s port 443 targets it.'),
    metrics: leaf(9090, portSchema, 'Plain-HTTP port of /metrics.'),
  }),
  podDisruptionBudget: section('The webhook\'s PodDisruptionBudget.', {
    enabled: leaf(PDB_DEFAULTS.enabled, { type: 'boolean' }, 'Create the PodDisruptionBudget.'),
    maxUnavailable: leaf(PDB_DEFAULTS.maxUnavailable, intOrPercent(false), 'Most webhook pods a voluntary disruption may take down (number or percentage); ignored when minAvailable is set.'),
    minAvailable: leaf('', intOrPercent(true), 'Fewest webhook pods kept through a voluntary disruption (number or percentage); empty: maxUnavailable applies.'),
  }),
  topologySpreadConstraints: leaf([], { type: 'array', items: { type: 'object' } }, 'Topology spread constraints; empty means the built-in one (maxSkew 1 across nodes, ScheduleAnyway).'),
};

/** The ServiceMonitors' placement values. */
export const SERVICE_MONITOR_VALUES: Record<string, ValueNode> = {
  labels: leaf({}, stringMapExcept([...RESERVED_LABELS, ...HELM_LABELS]), 'Extra labels on the ServiceMonitors, e.g. the one your Prometheus\'s serviceMonitorSelector matches (`release: kube-prometheus-stack`).'),
  namespace: leaf('', { type: 'string', pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$' }, 'Namespace of the ServiceMonitors (where your Prometheus looks); empty: the release namespace. They always scrape the release namespace.'),
};

/** Labels values may not set on every object: lxcfs-kit's own and the standard Helm ones. */
export const COMMON_LABELS_SCHEMA: Schema = stringMapExcept([...RESERVED_LABELS, ...HELM_LABELS]);
export const COMMON_ANNOTATIONS_SCHEMA: Schema = stringMapExcept([SYNC_WAVE_ANNOTATION]);

/**
 * base64 text in which `needle` appears, at any of the three byte alignments: for each, the
 * characters that only the needle's bytes determine.
 */
export function base64Cores(needle: string): string[] {
  const cores: string[] = [];
  for (let offset = 0; offset < 3; offset++) {
    const encoded = Buffer.from('\0'.repeat(offset) + needle).toString('base64');
    const first = Math.ceil(offset / 3) * 4;
    const fullGroups = Math.floor((offset + needle.length) / 3);
    cores.push(encoded.slice(first, fullGroups * 4));
  }
  return cores;
}

const at = (path: readonly string[], schema: Schema): Schema =>
  path.reduceRight<Schema>((inner, key) => ({ type: 'object', required: [key], properties: { [key]: inner } }), schema);

/**
 * Cross-field rules of the values, in JSON Schema (if/then), the same rules the constructs and
 * templates/validate.yaml enforce: `helm lint --strict` runs the schema but does not stop on a
 * template's `fail`.
 */
export const CROSS_FIELD_RULES: readonly Schema[] = [
  {
    description: 'webhook.replicas below 2 with webhook.failurePolicy Fail: a rescheduled single pod blocks opted-in pod creation; set replicas to 2 or more, or failurePolicy to Ignore',
    if: at(['webhook', 'failurePolicy'], { const: 'Fail' }),
    then: at(['webhook', 'replicas'], { minimum: 2 }),
  },
  {
    description: 'certificates.source existingSecret needs the Secret\'s name and the base64 PEM CA certificate (no private key) that signed it',
    if: at(['certificates', 'source'], { const: 'existingSecret' }),
    then: at(['certificates', 'existingSecret'], {
      properties: {
        secretName: { type: 'string', minLength: 1 },
        caBundle: {
          type: 'string',
          pattern: `^${Buffer.from(PEM_CERTIFICATE_HEADER).toString('base64')}`,
          not: { pattern: base64Cores('PRIVATE KEY').join('|') },
        },
      },
    }),
  },
];

/** The platform values as the chart reads them. */
type PullSecret = string | { name: string };
export interface PlatformChartValues {
  global: { imageRegistry: string; imagePullSecrets: PullSecret[] };
  nameOverride: string;
  fullnameOverride: string;
  imagePullSecrets: PullSecret[];
}
export interface WorkloadChartValues {
  image: { registry: string; repository: string; tag: string; digest: string };
  podAnnotations: Record<string, string>;
  podLabels: Record<string, string>;
  extraArgs: string[];
  extraEnv: JsonObject[];
}
export interface WebhookPlatformChartValues {
  podSecurityContext: JsonObject;
  securityContext: JsonObject;
  hostNetwork: boolean;
  ports: { https: number; metrics: number };
  podDisruptionBudget: { enabled: boolean; maxUnavailable: number | string; minAvailable: number | string };
  topologySpreadConstraints: JsonObject[];
}

/** The image reference the chart renders (templates/_helpers.tpl "lxcfs-kit.image"). */
export function imageReference(image: WorkloadChartValues['image'], globalRegistry: string): string {
  const registry = globalRegistry || image.registry;
  const repo = registry ? `${registry}/${image.repository}` : image.repository;
  return `${repo}:${image.tag || VERSION}${image.digest ? `@${image.digest}` : ''}`;
}

/** The install's name for a release, as templates/_helpers.tpl "lxcfs-kit.fullname" computes it. */
export function fullnameFor(releaseName: string, overrides: { nameOverride?: string; fullnameOverride?: string } = {}): string {
  const trim = (s: string) => s.slice(0, MAX_NAME_LENGTH).replace(/-+$/, '');
  if (overrides.fullnameOverride) return trim(overrides.fullnameOverride);
  const name = overrides.nameOverride || PROJECT_NAME;
  return trim(releaseName.includes(name) ? releaseName : `${releaseName}-${name}`);
}

/** The construct props for the platform values, merged into what propsFromValues builds. */
export function platformProps(
  values: PlatformChartValues & { agent: WorkloadChartValues; webhook: WorkloadChartValues & WebhookPlatformChartValues; serviceMonitor: { labels: Record<string, string>; namespace: string } },
  release: { name: string },
): { common: Partial<LxcfsKitProps>; agent: NonNullable<LxcfsKitProps['agent']>; webhook: NonNullable<LxcfsKitProps['webhook']>; serviceMonitor: NonNullable<LxcfsKitProps['serviceMonitor']> } {
  const workload = (w: WorkloadChartValues) => ({
    image: imageReference(w.image, values.global.imageRegistry),
    podAnnotations: w.podAnnotations,
    podLabels: w.podLabels,
    extraArgs: w.extraArgs,
    extraEnv: w.extraEnv as unknown as Array<{ name: string }>,
  });
  const pdb = values.webhook.podDisruptionBudget;
  return {
    common: {
      instance: release.name,
      imagePullSecrets: [...values.global.imagePullSecrets, ...values.imagePullSecrets].map((s) => (typeof s === 'string' ? { name: s } : s)),
    },
    agent: workload(values.agent),
    webhook: {
      ...workload(values.webhook),
      podSecurityContext: values.webhook.podSecurityContext,
      securityContext: values.webhook.securityContext,
      hostNetwork: values.webhook.hostNetwork,
      ports: values.webhook.ports,
      podDisruptionBudget: {
        enabled: pdb.enabled,
        ...(pdb.minAvailable !== '' ? { minAvailable: pdb.minAvailable } : { maxUnavailable: pdb.maxUnavailable }),
      },
      topologySpreadConstraints: values.webhook.topologySpreadConstraints,
    },
    serviceMonitor: { labels: values.serviceMonitor.labels, ...(values.serviceMonitor.namespace ? { namespace: values.serviceMonitor.namespace } : {}) },
  };
}

/** The standard labels the chart puts on every object. */
export function helmLabels(): Record<string, string> {
  return { 'helm.sh/chart': HELM_CHART_LABEL, 'app.kubernetes.io/managed-by': 'Helm' };
}

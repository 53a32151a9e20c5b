/**
 * What the chart generator feeds the constructs: construct props in which every
 * value an operator sets is a placeholder (later replaced by a Go-template
 * expression), and the few choices that change which objects or fields exist
 * (certificate source, repair mode, ...) as "dimensions" synthesized one by one.
 */
import { PROJECT_NAME, WEBHOOK_COMPONENT } from '../contract';
import { CertificateSource, defaultWebhookAffinity, defaultWebhookTopologySpread, Json, LxcfsKitProps, placeholder, selectorLabels } from '../constructs';

export type PlaceholderKind =
  /** A string scalar, whole (`{{ x | quote }}`) or inside a longer string (`{{ x }}`). */
  | 'string'
  /** A number or boolean scalar. */
  | 'number'
  /** A whole map or list value, left out when empty: `key: __TPL__`. */
  | 'block'
  /** User keys merged into a map: `__TPL__: __TPL__`. */
  | 'mergeKeys'
  /** User items appended to a list of strings: `- __TPL__`. */
  | 'splice'
  /** User items (maps) appended to a list: `- __TPL__`. */
  | 'spliceBlock'
  /** Lines the generator writes itself (the container args): `key: __TPL__`. */
  | 'raw';

export interface PlaceholderEntry {
  readonly kind: PlaceholderKind;
  /** Go-template expression of the value, using `$` for the root context. */
  readonly expr: string;
  /** block: what is rendered when the value is empty (instead of leaving the key out). */
  readonly fallback?: Json;
  /** raw: the lines, given the indentation of the key. */
  readonly lines?: (indent: number) => string[];
}

/** Placeholders handed out in one generator run, by their text. */
export class Placeholders {
  public readonly entries = new Map<string, PlaceholderEntry>();
  private readonly byExpr = new Map<string, string>();

  add(entry: PlaceholderEntry): string {
    const key = `${entry.kind}:${entry.expr}`;
    const existing = this.byExpr.get(key);
    if (existing !== undefined) return existing;
    const text = placeholder(this.entries.size);
    this.entries.set(text, entry);
    this.byExpr.set(key, text);
    return text;
  }
}

/** A choice that changes the shape of the output; each value is synthesized. */
export interface Dimension {
  readonly name: string;
  /** The first value is the chart's default. */
  readonly values: readonly string[];
  /** Go-template condition that holds when the values select `value`. */
  condition(value: string): string;
  /**
   * The choice only adds objects or fields of its own, whatever the other dimensions say: its
   * values are synthesized with every other dimension at its default, instead of multiplying
   * the combinations (and the chart tests' renders).
   */
  readonly additive?: boolean;
}

/** The repair mode with a bare YAML `off` (the boolean false) read as "off". */
export const REPAIR_MODE = 'include "lxcfs-kit.repairMode" $';

const eq = (path: string) => (value: string) => `eq ${path} ${JSON.stringify(value)}`;
const flag = (path: string) => (value: string) => (value === 'true' ? path : `not ${path}`);

export const DIMENSIONS: readonly Dimension[] = [
  { name: 'certificates', values: ['self', 'certManager', 'existingSecret'], condition: eq('$.Values.certificates.source') },
  {
    name: 'issuer',
    values: ['builtin', 'external'],
    condition: (v) => (v === 'external' ? '$.Values.certificates.certManager.issuerRef.name' : 'not $.Values.certificates.certManager.issuerRef.name'),
  },
  { name: 'legacy', values: ['false', 'true'], condition: flag('$.Values.webhook.legacyNamespaceLabel') },
  { name: 'repair', values: ['report', 'off', 'evict'], condition: eq(`(${REPAIR_MODE})`) },
  { name: 'quota', values: ['false', 'true'], condition: flag('$.Values.criticalPodsQuota.enabled') },
  { name: 'serviceMonitor', values: ['false', 'true'], condition: flag('$.Values.serviceMonitor.enabled') },
  // Not additive: podSecurity splits the webhook entries every other dimension shapes.
  { name: 'injection', values: ['hostPath', 'csi', 'podSecurity'], condition: eq('$.Values.injection.mode') },
  { name: 'prometheusAnnotations', values: ['false', 'true'], condition: flag('$.Values.monitoring.prometheusAnnotations'), additive: true },
  { name: 'prometheusRule', values: ['false', 'true'], condition: flag('$.Values.monitoring.prometheusRule.enabled'), additive: true },
  { name: 'dashboard', values: ['false', 'true'], condition: flag('$.Values.monitoring.dashboard.enabled'), additive: true },
  { name: 'webhookHostNetwork', values: ['false', 'true'], condition: flag('$.Values.webhook.hostNetwork'), additive: true },
  {
    name: 'pdb',
    values: ['maxUnavailable', 'minAvailable', 'disabled'],
    condition: (v) => {
      const pdb = '$.Values.webhook.podDisruptionBudget';
      if (v === 'disabled') return `not ${pdb}.enabled`;
      return `and ${pdb}.enabled (${v === 'minAvailable' ? 'ne' : 'eq'} (toString ${pdb}.minAvailable) "")`;
    },
    additive: true,
  },
];

export type Combo = Readonly<Record<string, string>>;

/** Every combination of dimension values, the all-defaults one first; additive dimensions vary on the defaults only. */
export function allCombos(dimensions: readonly Dimension[] = DIMENSIONS): Combo[] {
  const defaults = Object.fromEntries(dimensions.map((d) => [d.name, d.values[0]]));
  let combos: Record<string, string>[] = [defaults];
  for (const d of dimensions) if (!d.additive) combos = combos.flatMap((c) => d.values.map((v) => ({ ...c, [d.name]: v })));
  for (const d of dimensions) if (d.additive) combos.push(...d.values.slice(1).map((v) => ({ ...defaults, [d.name]: v })));
  return combos;
}

/** Named templates the expressions use (written to _helpers.tpl). */
export const FULLNAME = 'include "lxcfs-kit.fullname" $';
export const SECRET_NAME = 'include "lxcfs-kit.secretName" $';

/** Construct props for one combination, with placeholders for every operator-set value. */
export function templateProps(combo: Combo, ph: Placeholders): LxcfsKitProps {
  const s = (expr: string) => ph.add({ kind: 'string', expr });
  const n = <T>(expr: string) => ph.add({ kind: 'number', expr }) as unknown as T;
  const block = <T>(expr: string, fallback?: Json) => ph.add({ kind: 'block', expr, fallback }) as unknown as T;
  const image = (component: string) => s(`include "lxcfs-kit.image" (dict "root" $ "image" $.Values.${component}.image)`);
  const mergeKeys = (expr: string) => ({ [ph.add({ kind: 'mergeKeys', expr })]: '' });
  const workload = (component: string) => ({
    image: image(component),
    podAnnotations: mergeKeys(`$.Values.${component}.podAnnotations`),
    podLabels: mergeKeys(`$.Values.${component}.podLabels`),
    // extraArgs: the chart renders the whole args list (chart.ts), extra flags included.
    extraEnv: [ph.add({ kind: 'spliceBlock', expr: `$.Values.${component}.extraEnv` })] as unknown as Array<{ name: string }>,
  });
  const pdb = '$.Values.webhook.podDisruptionBudget';

  let certificates: CertificateSource;
  if (combo.certificates === 'certManager') {
    certificates =
      combo.issuer === 'external'
        ? {
            source: 'certManager',
            issuerRef: {
              name: s('$.Values.certificates.certManager.issuerRef.name'),
              kind: s('$.Values.certificates.certManager.issuerRef.kind') as 'Issuer',
              group: s('$.Values.certificates.certManager.issuerRef.group'),
            },
          }
        : { source: 'certManager' };
  } else if (combo.certificates === 'existingSecret') {
    certificates = { source: 'existingSecret', secretName: s(SECRET_NAME), caBundle: s('$.Values.certificates.existingSecret.caBundle') };
  } else {
    certificates = { source: 'self' };
  }

  const name = s(FULLNAME);
  const instance = s('$.Release.Name');
  const podLabels = selectorLabels({ name, instance, namespace: '', labels: {}, annotations: {} }, WEBHOOK_COMPONENT);
  return {
    name,
    instance,
    namespace: s('$.Release.Namespace'),
    imagePullSecrets: block('(include "lxcfs-kit.imagePullSecrets" $ | fromJsonArray)'),
    lxcfsPath: s('$.Values.lxcfs.path'),
    labels: {
      'helm.sh/chart': s(`printf "%s-%s" "${PROJECT_NAME}" $.Chart.Version | replace "+" "_" | trunc 63`),
      'app.kubernetes.io/managed-by': s('$.Release.Service'),
      ...mergeKeys('$.Values.commonLabels'),
    },
    annotations: { [ph.add({ kind: 'mergeKeys', expr: '$.Values.commonAnnotations' })]: '' },
    imagePullPolicy: s('$.Values.imagePullPolicy') as 'IfNotPresent',
    criticalPodsQuota: combo.quota === 'true',
    injectionMode: combo.injection as 'hostPath',
    kubeletDir: s('$.Values.injection.kubeletDir'),
    serviceMonitor: {
      enabled: combo.serviceMonitor === 'true',
      interval: s('$.Values.serviceMonitor.interval'),
      labels: mergeKeys('$.Values.serviceMonitor.labels'),
      namespace: s('default $.Release.Namespace $.Values.serviceMonitor.namespace'),
    },
    monitoring: {
      prometheusAnnotations: combo.prometheusAnnotations === 'true',
      prometheusRule: { enabled: combo.prometheusRule === 'true', labels: { [ph.add({ kind: 'mergeKeys', expr: '$.Values.monitoring.prometheusRule.labels' })]: '' } },
      dashboard: { enabled: combo.dashboard === 'true', labels: { [ph.add({ kind: 'mergeKeys', expr: '$.Values.monitoring.dashboard.labels' })]: '' } },
    },
    agent: {
      ...workload('agent'),
      resources: block('$.Values.agent.resources'),
      nodeSelector: block('$.Values.agent.nodeSelector'),
      tolerations: block('$.Values.agent.tolerations'),
      affinity: block('$.Values.agent.affinity'),
      priorityClassName: s('$.Values.agent.priorityClassName'),
    },
    webhook: {
      ...workload('webhook'),
      podSecurityContext: mergeKeys('$.Values.webhook.podSecurityContext'),
      securityContext: mergeKeys('$.Values.webhook.securityContext'),
      hostNetwork: combo.webhookHostNetwork === 'true',
      ports: { https: n('$.Values.webhook.ports.https'), metrics: n('$.Values.webhook.ports.metrics') },
      podDisruptionBudget:
        combo.pdb === 'disabled' ? { enabled: false } : combo.pdb === 'minAvailable' ? { minAvailable: n(`${pdb}.minAvailable`) } : { maxUnavailable: n(`${pdb}.maxUnavailable`) },
      // Empty values fall back to the built-in spread, as in the constructs.
      topologySpreadConstraints: block('$.Values.webhook.topologySpreadConstraints', defaultWebhookTopologySpread(podLabels)),
      replicas: n('$.Values.webhook.replicas'),
      failurePolicy: s('$.Values.webhook.failurePolicy') as 'Fail',
      timeoutSeconds: n('$.Values.webhook.timeoutSeconds'),
      resources: block('$.Values.webhook.resources'),
      nodeSelector: block('$.Values.webhook.nodeSelector'),
      tolerations: block('$.Values.webhook.tolerations'),
      // Empty values fall back to the built-in anti-affinity, as in the constructs.
      affinity: block('$.Values.webhook.affinity', defaultWebhookAffinity(podLabels)),
      priorityClassName: s('$.Values.webhook.priorityClassName'),
      repairMode: combo.repair as 'report',
      legacyNamespaceLabel: combo.legacy === 'true',
      excludedNamespaces: [ph.add({ kind: 'splice', expr: '$.Values.webhook.excludedNamespaces' })],
      // Rendered under a guard on the value and the cluster's API (chart.ts TEMPLATE_GUARDS).
      configurationPolicy: combo.certificates === 'self',
      certificates,
    },
  };
}

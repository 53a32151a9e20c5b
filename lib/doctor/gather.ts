/** What doctor reads from the cluster, in one snapshot the checks (checks.ts) judge. */
import { AGENT_COMPONENT, AGENT_HEALTH_PORT, INJECT_DISABLED, INJECT_ENABLED, INJECT_LABEL, WEBHOOK_COMPONENT } from '../contract';
import { ClusterReader } from './cluster';
import { LabelSelector, matchesSelector } from './selector';

export interface Meta {
  readonly name: string;
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly deletionTimestamp?: string;
}
export interface Pod {
  readonly metadata: Meta;
  readonly spec?: { readonly nodeName?: string; readonly os?: { readonly name?: string }; readonly volumes?: ReadonlyArray<{ readonly secret?: { readonly secretName?: string } }> };
  readonly status?: { readonly phase?: string; readonly conditions?: ReadonlyArray<{ readonly type: string; readonly status: string; readonly message?: string }> };
}
export interface Namespace {
  readonly metadata: Meta;
}
export interface WebhookConfiguration {
  readonly metadata: Meta;
  readonly webhooks?: ReadonlyArray<{
    readonly name: string;
    readonly failurePolicy?: string;
    readonly clientConfig?: { readonly caBundle?: string; readonly service?: { readonly name?: string; readonly namespace?: string; readonly path?: string } };
    readonly namespaceSelector?: LabelSelector;
    readonly objectSelector?: LabelSelector;
  }>;
}
export interface Deployment {
  readonly metadata: Meta;
  readonly spec?: { readonly template?: { readonly spec?: Pod['spec'] & { readonly containers?: ReadonlyArray<{ readonly args?: readonly string[] }> } } };
  readonly status?: { readonly availableReplicas?: number };
}
/** The agent's /status, read defensively: other versions may lack or add fields. */
export interface AgentStatus {
  readonly ready?: boolean;
  readonly readyProblem?: string | null;
  readonly healingSupported?: boolean;
  readonly healingProblem?: string | null;
  readonly givenUp?: number;
  readonly lastReconcile?: { readonly failed?: number; readonly pending?: number; readonly givenUp?: number } | null;
}

/** A value, or why it could not be read. */
export type Read<T> = { readonly ok: true; readonly value: T | undefined } | { readonly ok: false; readonly error: string };

export interface Snapshot {
  readonly name: string;
  readonly namespace: string;
  readonly daemonSet: Read<{ metadata: Meta }>;
  readonly agentPods: readonly Pod[];
  readonly webhookDeployment: Read<Deployment>;
  readonly configuration: Read<WebhookConfiguration>;
  readonly servingCertificate: Read<{ secretName: string; certPem: string | undefined }>;
  /** Namespaces opted in as a whole, and namespaces of opted-in pods. */
  readonly namespaces: readonly Namespace[];
  /** Opted-in pods (namespace or pod label), in scope of the webhook. */
  readonly optedInPods: readonly Pod[];
  /** Agent /status by agent pod name. */
  readonly agentStatus: ReadonlyMap<string, Read<AgentStatus>>;
}

interface List<T> {
  readonly items: T[];
}

async function read<T>(what: () => Promise<T | undefined>): Promise<Read<T>> {
  try {
    return { ok: true, value: await what() };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

const selector = (labels: Record<string, string>) => encodeURIComponent(Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(','));

export async function gather(api: ClusterReader, name: string, namespace: string, systemNamespaces: readonly string[]): Promise<Snapshot> {
  const ns = encodeURIComponent(namespace);
  const daemonSet = await read(() =>
    api.get<{ metadata: Meta; spec?: { selector?: { matchLabels?: Record<string, string> } } }>(`/apis/apps/v1/namespaces/${ns}/daemonsets/${encodeURIComponent(`${name}-agent`)}`),
  );
  // The DaemonSet's own selector finds its pods (the chart's instance label is the release name,
  // which need not be the install's name); the constructs' default labels when it cannot be read.
  const ownSelector = daemonSet.ok ? daemonSet.value?.spec?.selector?.matchLabels : undefined;
  const agentSelector = ownSelector && Object.keys(ownSelector).length > 0 ? ownSelector : { 'app.kubernetes.io/instance': name, 'app.kubernetes.io/component': AGENT_COMPONENT };
  // Listing is required: without it nothing below means anything.
  const agentPods = (await api.get<List<Pod>>(`/api/v1/namespaces/${ns}/pods?labelSelector=${selector(agentSelector)}`))?.items ?? [];
  const webhookDeployment = await read(() => api.get<Deployment>(`/apis/apps/v1/namespaces/${ns}/deployments/${encodeURIComponent(`${name}-${WEBHOOK_COMPONENT}`)}`));
  const configuration = await read(() => api.get<WebhookConfiguration>(`/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${encodeURIComponent(name)}`));

  // The Secret the webhook pods mount (cert-manager, existing Secret), else the one it manages itself.
  const mounted = webhookDeployment.ok ? webhookDeployment.value?.spec?.template?.spec?.volumes?.find((v) => v.secret?.secretName)?.secret?.secretName : undefined;
  const secretName = mounted ?? `${name}-webhook-tls`;
  const servingCertificate = await read(async () => {
    const s = await api.get<{ data?: Record<string, string> }>(`/api/v1/namespaces/${ns}/secrets/${encodeURIComponent(secretName)}`);
    const crt = s?.data?.['tls.crt'];
    return { secretName, certPem: crt === undefined ? undefined : Buffer.from(crt, 'base64').toString('utf8') };
  });

  // The opt-in scope as the webhook configuration states it (its namespace and object selectors:
  // opt-in labels, opt-out label, excluded namespaces, legacy label); the default scope of the
  // design when the configuration cannot be read.
  const allNamespaces = (await api.get<List<Namespace>>('/api/v1/namespaces'))?.items ?? [];
  const nsLabels = new Map(allNamespaces.map((n) => [n.metadata.name, { ...n.metadata.labels, 'kubernetes.io/metadata.name': n.metadata.name }]));
  const entries = configuration.ok ? configuration.value?.webhooks : undefined;
  const excluded = new Set([...systemNamespaces, namespace]);
  const inScope = (p: Pod): boolean => {
    const labels = p.metadata.labels ?? {};
    const nsl: Readonly<Record<string, string>> = nsLabels.get(p.metadata.namespace ?? '') ?? {};
    if (entries && entries.length > 0) return entries.some((w) => matchesSelector(w.namespaceSelector, nsl) && matchesSelector(w.objectSelector, labels));
    if (excluded.has(p.metadata.namespace ?? '') || labels[INJECT_LABEL] === INJECT_DISABLED) return false;
    return labels[INJECT_LABEL] === INJECT_ENABLED || nsl[INJECT_LABEL] === INJECT_ENABLED;
  };
  const optedInPods = ((await api.get<List<Pod>>('/api/v1/pods'))?.items ?? []).filter(inScope);
  const podNamespaces = new Set(optedInPods.map((p) => p.metadata.namespace));
  // Opted in as a whole: a pod without labels created there would be injected.
  const namespaces = allNamespaces.filter((n) => podNamespaces.has(n.metadata.name) || inScope({ metadata: { name: '', namespace: n.metadata.name } }));

  const agentStatus = new Map<string, Read<AgentStatus>>();
  for (const p of agentPods) {
    // Pod names are DNS subdomains; the colon stays literal, as kubectl sends it.
    const path = `/api/v1/namespaces/${ns}/pods/${p.metadata.name}:${AGENT_HEALTH_PORT}/proxy/status`;
    agentStatus.set(p.metadata.name, await read(() => api.get<AgentStatus>(path)));
  }
  return { name, namespace, daemonSet, agentPods, webhookDeployment, configuration, servingCertificate, namespaces, optedInPods, agentStatus };
}


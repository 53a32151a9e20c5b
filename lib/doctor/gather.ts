/** What doctor reads from the cluster, in one snapshot the checks (checks.ts) judge. */
import { AGENT_COMPONENT, AGENT_HEALTH_PORT, INJECT_ENABLED, INJECT_LABEL, LEGACY_NAMESPACE_LABEL, LEGACY_NAMESPACE_VALUE, WEBHOOK_COMPONENT } from '../contract';
import { ClusterReader } from './cluster';

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
  readonly webhooks?: ReadonlyArray<{ readonly name: string; readonly failurePolicy?: string; readonly clientConfig?: { readonly caBundle?: string; readonly service?: { readonly name?: string; readonly namespace?: string } } }>;
}
export interface Deployment {
  readonly metadata: Meta;
  readonly spec?: { readonly template?: { readonly spec?: Pod['spec'] } };
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
  /** Namespaces whose pods are opted in (by label), and namespaces of pods opted in one by one. */
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
  const instance = { 'app.kubernetes.io/instance': name };
  const daemonSet = await read(() => api.get<{ metadata: Meta }>(`/apis/apps/v1/namespaces/${ns}/daemonsets/${encodeURIComponent(`${name}-agent`)}`));
  // Listing is required: without it nothing below means anything.
  const agentPods = (await api.get<List<Pod>>(`/api/v1/namespaces/${ns}/pods?labelSelector=${selector({ ...instance, 'app.kubernetes.io/component': AGENT_COMPONENT })}`))?.items ?? [];
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

  // The opt-in scope as the webhook configuration states it: the legacy label only when it selects on it.
  const legacy = configuration.ok && JSON.stringify(configuration.value ?? {}).includes(LEGACY_NAMESPACE_LABEL);
  const allNamespaces = (await api.get<List<Namespace>>('/api/v1/namespaces'))?.items ?? [];
  const excluded = new Set([...systemNamespaces, namespace]);
  const optedInNamespace = (n: Namespace) =>
    n.metadata.labels?.[INJECT_LABEL] === INJECT_ENABLED || (legacy && n.metadata.labels?.[LEGACY_NAMESPACE_LABEL] === LEGACY_NAMESPACE_VALUE);
  const scopeNamespaces = allNamespaces.filter((n) => optedInNamespace(n) && !excluded.has(n.metadata.name));
  const pods = new Map<string, Pod>();
  for (const n of scopeNamespaces) {
    for (const p of (await api.get<List<Pod>>(`/api/v1/namespaces/${encodeURIComponent(n.metadata.name)}/pods`))?.items ?? []) pods.set(`${n.metadata.name}/${p.metadata.name}`, p);
  }
  for (const p of (await api.get<List<Pod>>(`/api/v1/pods?labelSelector=${selector({ [INJECT_LABEL]: INJECT_ENABLED })}`))?.items ?? []) {
    if (!excluded.has(p.metadata.namespace ?? '')) pods.set(`${p.metadata.namespace}/${p.metadata.name}`, p);
  }
  const optedInPods = [...pods.values()].filter((p) => p.metadata.labels?.[INJECT_LABEL] !== 'disabled');
  const podNamespaces = new Set(optedInPods.map((p) => p.metadata.namespace));
  const namespaces = allNamespaces.filter((n) => scopeNamespaces.includes(n) || podNamespaces.has(n.metadata.name));

  const agentStatus = new Map<string, Read<AgentStatus>>();
  for (const p of agentPods) {
    // Pod names are DNS subdomains; the colon stays literal, as kubectl sends it.
    const path = `/api/v1/namespaces/${ns}/pods/${p.metadata.name}:${AGENT_HEALTH_PORT}/proxy/status`;
    agentStatus.set(p.metadata.name, await read(() => api.get<AgentStatus>(path)));
  }
  return { name, namespace, daemonSet, agentPods, webhookDeployment, configuration, servingCertificate, namespaces, optedInPods, agentStatus };
}


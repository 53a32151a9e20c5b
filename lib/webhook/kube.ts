/**
 * KubeApi over the official @kubernetes/client-node. ESM-only package: this
 * module is loaded with a dynamic import by the running webhook only.
 */
import type * as k8s from '@kubernetes/client-node';
import { ClusterPod, ConflictError, EventInput, EvictionResult, KubeApi, LeaseSpecInput, LeaseState, NamespaceState, SecretState, WebhookConfigurationState } from './kube-api';

type Client = typeof k8s;

function code(err: unknown): number | undefined {
  const c = (err as { code?: unknown }).code;
  return typeof c === 'number' ? c : undefined;
}

async function orUndefined<T>(p: Promise<T>, what: string): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (code(err) === 404) return undefined;
    throw new Error(`${what}: ${apiErrorText(err)}`);
  }
}

/** The API server's own words (Status.message) instead of the client's multi-line dump. */
function apiErrorText(err: unknown): string {
  const c = code(err);
  if (c === undefined) return err instanceof Error ? err.message : String(err);
  let body = (err as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      // not JSON: keep the text
    }
  }
  const message = body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string' ? (body as { message: string }).message : typeof body === 'string' ? body : body === undefined || body === null ? '' : JSON.stringify(body);
  return `HTTP ${c}: ${message}`;
}

async function conflictAware<T>(p: Promise<T>, what: string): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (code(err) === 409) throw new ConflictError(`${what}: conflict`);
    throw new Error(`${what}: ${apiErrorText(err)}`);
  }
}

function decodeSecret(s: k8s.V1Secret): SecretState {
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.data ?? {})) data[k] = Buffer.from(v, 'base64').toString('utf8');
  return { data, resourceVersion: s.metadata?.resourceVersion ?? '' };
}

function encode(data: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(data)) out[k] = Buffer.from(v, 'utf8').toString('base64');
  return out;
}

function mwcState(m: k8s.V1MutatingWebhookConfiguration): WebhookConfigurationState {
  return {
    webhooks: (m.webhooks ?? []).map((w) => ({ name: w.name, caBundle: w.clientConfig?.caBundle })),
    resourceVersion: m.metadata?.resourceVersion ?? '',
  };
}

function leaseState(l: k8s.V1Lease): LeaseState {
  const s = l.spec ?? {};
  return {
    holderIdentity: s.holderIdentity,
    renewTime: s.renewTime ? new Date(s.renewTime) : undefined,
    acquireTime: s.acquireTime ? new Date(s.acquireTime) : undefined,
    leaseDurationSeconds: s.leaseDurationSeconds,
    leaseTransitions: s.leaseTransitions,
    resourceVersion: l.metadata?.resourceVersion ?? '',
  };
}

function leaseBody(lib: Client, namespace: string, name: string, spec: LeaseSpecInput, resourceVersion?: string): k8s.V1Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace, resourceVersion },
    // MicroTime: the API server wants exactly six fractional digits, which V1MicroTime prints.
    spec: {
      holderIdentity: spec.holderIdentity,
      leaseDurationSeconds: spec.leaseDurationSeconds,
      acquireTime: new lib.V1MicroTime(spec.acquireTime.getTime()),
      renewTime: new lib.V1MicroTime(spec.renewTime.getTime()),
      leaseTransitions: spec.leaseTransitions,
    },
  };
}

export class ClientNodeKubeApi implements KubeApi {
  private readonly core: k8s.CoreV1Api;
  private readonly admission: k8s.AdmissionregistrationV1Api;
  private readonly coordination: k8s.CoordinationV1Api;
  private readonly jsonPatch: k8s.ConfigurationOptions;

  private readonly kc: k8s.KubeConfig;

  constructor(private readonly lib: Client, kc: k8s.KubeConfig) {
    this.kc = kc;
    this.core = kc.makeApiClient(lib.CoreV1Api);
    this.admission = kc.makeApiClient(lib.AdmissionregistrationV1Api);
    this.coordination = kc.makeApiClient(lib.CoordinationV1Api);
    this.jsonPatch = lib.setHeaderOptions('Content-Type', lib.PatchStrategy.JsonPatch);
  }

  async getSecret(namespace: string, name: string): Promise<SecretState | undefined> {
    const s = await orUndefined(this.core.readNamespacedSecret({ namespace, name }), `read Secret ${namespace}/${name}`);
    return s && decodeSecret(s);
  }

  async createSecret(namespace: string, name: string, data: Record<string, string>, labels: Record<string, string>): Promise<SecretState> {
    const body: k8s.V1Secret = { apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name, namespace, labels }, data: encode(data) };
    return decodeSecret(await conflictAware(this.core.createNamespacedSecret({ namespace, body }), `create Secret ${namespace}/${name}`));
  }

  async replaceSecret(namespace: string, name: string, data: Record<string, string>, labels: Record<string, string>, resourceVersion: string): Promise<SecretState> {
    const body: k8s.V1Secret = { apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name, namespace, labels, resourceVersion }, data: encode(data) };
    return decodeSecret(await conflictAware(this.core.replaceNamespacedSecret({ namespace, name, body }), `update Secret ${namespace}/${name}`));
  }

  async getWebhookConfiguration(name: string): Promise<WebhookConfigurationState | undefined> {
    const m = await orUndefined(this.admission.readMutatingWebhookConfiguration({ name }), `read MutatingWebhookConfiguration ${name}`);
    return m && mwcState(m);
  }

  watchWebhookConfiguration(name: string, onEvent: () => void, onError: (err: unknown) => void): () => void {
    const watch = new this.lib.Watch(this.kc);
    let stopped = false;
    let controller: AbortController | undefined;
    let timer: NodeJS.Timeout | undefined;
    const start = (): void => {
      if (stopped) return;
      let ended = false;
      const restart = (err: unknown): void => {
        if (ended || stopped) return;
        ended = true;
        if (err) onError(err);
        // A quiet end is the server's watch timeout: resume at once; after an error, back off.
        timer = setTimeout(start, err ? 5000 : 100);
      };
      watch
        .watch(
          '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
          { fieldSelector: `metadata.name=${name}`, timeoutSeconds: 300, allowWatchBookmarks: false },
          (phase) => {
            if (phase !== 'BOOKMARK') onEvent();
          },
          restart,
        )
        .then(
          (c) => {
            controller = c;
            if (stopped) c.abort();
          },
          restart,
        );
    };
    start();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      controller?.abort();
    };
  }

  async patchWebhookConfiguration(name: string, ops: readonly object[]): Promise<WebhookConfigurationState> {
    const m = await conflictAware(this.admission.patchMutatingWebhookConfiguration({ name, body: ops }, this.jsonPatch), `patch MutatingWebhookConfiguration ${name}`);
    return mwcState(m);
  }

  async getLease(namespace: string, name: string): Promise<LeaseState | undefined> {
    const l = await orUndefined(this.coordination.readNamespacedLease({ namespace, name }), `read Lease ${namespace}/${name}`);
    return l && leaseState(l);
  }

  async createLease(namespace: string, name: string, spec: LeaseSpecInput): Promise<LeaseState> {
    return leaseState(await conflictAware(this.coordination.createNamespacedLease({ namespace, body: leaseBody(this.lib, namespace, name, spec) }), `create Lease ${name}`));
  }

  async replaceLease(namespace: string, name: string, spec: LeaseSpecInput, resourceVersion: string): Promise<LeaseState> {
    const body = leaseBody(this.lib, namespace, name, spec, resourceVersion);
    return leaseState(await conflictAware(this.coordination.replaceNamespacedLease({ namespace, name, body }), `update Lease ${name}`));
  }

  async listNamespaces(labelSelector: string): Promise<NamespaceState[]> {
    const list = await conflictAware(this.core.listNamespace({ labelSelector, resourceVersion: '0' }), 'list namespaces');
    return list.items.map((n) => ({ name: n.metadata?.name ?? '', labels: n.metadata?.labels ?? {} })).filter((n) => n.name !== '');
  }

  async listPods(namespace?: string, labelSelector?: string): Promise<ClusterPod[]> {
    // resourceVersion "0": served from the API server's watch cache, not from etcd.
    const list = await conflictAware(
      namespace === undefined
        ? this.core.listPodForAllNamespaces({ labelSelector, resourceVersion: '0' })
        : this.core.listNamespacedPod({ namespace, labelSelector, resourceVersion: '0' }),
      `list pods${namespace === undefined ? '' : ` in ${namespace}`}`,
    );
    // The typed model is structurally a superset of what the mutation reads.
    return list.items as unknown as ClusterPod[];
  }

  async createEvent(e: EventInput): Promise<void> {
    const now = new Date();
    const body: k8s.CoreV1Event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${e.podName}.`, namespace: e.namespace },
      involvedObject: { apiVersion: 'v1', kind: 'Pod', name: e.podName, namespace: e.namespace, uid: e.podUid },
      reason: e.reason,
      message: e.message,
      type: e.type,
      source: { component: 'lxcfs-kit-webhook' },
      reportingComponent: 'lxcfs-kit.io/webhook',
      reportingInstance: e.reportingInstance,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    await conflictAware(this.core.createNamespacedEvent({ namespace: e.namespace, body }), `create Event in ${e.namespace}`);
  }

  async evictPod(namespace: string, name: string): Promise<EvictionResult> {
    try {
      await this.core.createNamespacedPodEviction({
        namespace,
        name,
        body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace } },
      });
      return 'evicted';
    } catch (err) {
      const c = code(err);
      if (c === 404) return 'gone';
      if (c === 429) return 'blocked'; // a PodDisruptionBudget says not now
      throw new Error(`evict pod ${namespace}/${name}: ${apiErrorText(err)}`);
    }
  }
}

/** Loads client-node (ESM) and the kubeconfig: $KUBECONFIG, ~/.kube/config or the in-cluster service account. */
export async function connect(): Promise<KubeApi> {
  const lib = (await import('@kubernetes/client-node')) as Client;
  const kc = new lib.KubeConfig();
  kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new Error('no Kubernetes configuration: not in a cluster and no kubeconfig');
  return new ClientNodeKubeApi(lib, kc);
}

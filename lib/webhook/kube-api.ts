/**
 * The few Kubernetes calls the webhook makes, as a plain interface. The real
 * implementation (kube.ts) wraps @kubernetes/client-node, which is ESM-only and
 * is therefore loaded only by the running process, never by code under jest.
 */
import { PodLike } from './mutate';

export interface SecretState {
  readonly data: Readonly<Record<string, string>>; // decoded (UTF-8) values
  readonly resourceVersion: string;
}

export interface WebhookEntry {
  readonly name: string;
  readonly caBundle?: string; // base64, as stored
}

export interface WebhookConfigurationState {
  readonly webhooks: readonly WebhookEntry[];
  readonly resourceVersion: string;
}

export interface LeaseState {
  readonly holderIdentity?: string;
  readonly renewTime?: Date;
  readonly acquireTime?: Date;
  readonly leaseDurationSeconds?: number;
  readonly leaseTransitions?: number;
  readonly resourceVersion: string;
}

export interface LeaseSpecInput {
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  readonly acquireTime: Date;
  readonly renewTime: Date;
  readonly leaseTransitions: number;
}

export interface ClusterPod extends PodLike {
  metadata: NonNullable<PodLike['metadata']> & {
    uid?: string;
    deletionTimestamp?: unknown;
    ownerReferences?: { kind?: string; name?: string; uid?: string; controller?: boolean }[];
  };
  status?: { phase?: string };
}

export interface EventInput {
  readonly namespace: string;
  readonly podName: string;
  readonly podUid?: string;
  readonly reason: string;
  readonly message: string;
  readonly type: 'Normal' | 'Warning';
  readonly reportingInstance: string;
}

export interface NamespaceState {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

export type EvictionResult = 'evicted' | 'blocked' | 'gone';

/** Raised for 409 Conflict (create of an existing object, update with a stale resourceVersion). */
export class ConflictError extends Error {}

export interface KubeApi {
  getSecret(namespace: string, name: string): Promise<SecretState | undefined>;
  /** Throws ConflictError when the Secret already exists. */
  createSecret(namespace: string, name: string, data: Record<string, string>, labels: Record<string, string>): Promise<SecretState>;
  /** Optimistic update; throws ConflictError when resourceVersion is stale. */
  replaceSecret(namespace: string, name: string, data: Record<string, string>, labels: Record<string, string>, resourceVersion: string): Promise<SecretState>;

  getWebhookConfiguration(name: string): Promise<WebhookConfigurationState | undefined>;
  /**
   * Calls `onEvent` on every change of the named configuration, restarting the
   * watch whenever the stream ends, until the returned function is called.
   */
  watchWebhookConfiguration(name: string, onEvent: () => void, onError: (err: unknown) => void): () => void;
  /** Applies RFC 6902 operations (the caller patches only caBundle fields, guarded by `test`). */
  patchWebhookConfiguration(name: string, ops: readonly object[]): Promise<WebhookConfigurationState>;

  getLease(namespace: string, name: string): Promise<LeaseState | undefined>;
  createLease(namespace: string, name: string, spec: LeaseSpecInput): Promise<LeaseState>;
  replaceLease(namespace: string, name: string, spec: LeaseSpecInput, resourceVersion: string): Promise<LeaseState>;

  listNamespaces(labelSelector: string): Promise<NamespaceState[]>;
  /** Pods of one namespace, or of all namespaces when `namespace` is undefined; optionally by label. */
  listPods(namespace?: string, labelSelector?: string): Promise<ClusterPod[]>;
  createEvent(event: EventInput): Promise<void>;
  evictPod(namespace: string, name: string): Promise<EvictionResult>;
}

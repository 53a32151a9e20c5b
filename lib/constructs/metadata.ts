/** Labels, annotations and sync waves shared by every object lxcfs-kit creates. */
import { ApiObjectMetadata } from 'cdk8s';
import { COMPONENT_LABEL, PART_OF_LABEL, PROJECT_NAME, SYNC_WAVE_ANNOTATION, VERSION } from '../contract';

/**
 * Argo CD sync waves: what the agent and webhook need exists first, the agent
 * serves lxcfs before the webhook injects it, and the webhook configuration
 * comes last so the API server never calls a webhook that is not running yet.
 */
export const SYNC_WAVES = {
  prerequisites: '0',
  agent: '1',
  webhook: '2',
  webhookConfiguration: '3',
} as const;
export type SyncWave = keyof typeof SYNC_WAVES;

/** What every object's metadata is built from. */
export interface MetadataContext {
  readonly name: string;
  /** Value of app.kubernetes.io/instance (the Helm release name in the chart); the name when absent. */
  readonly instance?: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

/** Labels that select one component's pods; stable across upgrades (selectors are immutable). */
export function selectorLabels(ctx: MetadataContext, component: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': PROJECT_NAME,
    'app.kubernetes.io/instance': ctx.instance ?? ctx.name,
    [COMPONENT_LABEL]: component,
  };
}

/** Labels of an object or pod: the selector labels, part-of (the webhook's objectSelector excludes it), version and the user's extras. */
export function objectLabels(ctx: MetadataContext, component: string): Record<string, string> {
  return {
    ...selectorLabels(ctx, component),
    [PART_OF_LABEL]: PROJECT_NAME,
    'app.kubernetes.io/version': VERSION,
    ...ctx.labels,
  };
}

/** Metadata of an object in the install's namespace (or cluster-scoped with `namespaced: false`). */
export function objectMetadata(
  ctx: MetadataContext,
  name: string,
  component: string,
  wave: SyncWave,
  options: { readonly namespaced?: boolean; readonly annotations?: Readonly<Record<string, string>> } = {},
): ApiObjectMetadata {
  return {
    name,
    ...(options.namespaced === false ? {} : { namespace: ctx.namespace }),
    labels: objectLabels(ctx, component),
    annotations: { [SYNC_WAVE_ANNOTATION]: SYNC_WAVES[wave], ...options.annotations, ...ctx.annotations },
  };
}

/** The metadata context of an install from its common props. */
export function metadataContext(props: {
  readonly name?: string;
  readonly namespace?: string;
  readonly instance?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}): MetadataContext {
  return {
    name: props.name ?? PROJECT_NAME,
    namespace: props.namespace ?? PROJECT_NAME,
    ...(props.instance !== undefined ? { instance: props.instance } : {}),
    labels: props.labels ?? {},
    annotations: props.annotations ?? {},
  };
}

/** Names the container `kubectl logs` and `kubectl exec` pick in a pod (each workload's pod has one, named after its component). */
export const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container';

/** Metadata of a workload's pod template: the object labels plus the pod's own labels and annotations. */
export function podMetadata(
  ctx: MetadataContext,
  component: string,
  pod: { readonly labels?: Readonly<Record<string, string>>; readonly annotations?: Readonly<Record<string, string>> },
): { labels: Record<string, string>; annotations: Record<string, string> } {
  return {
    labels: { ...objectLabels(ctx, component), ...pod.labels },
    annotations: { [DEFAULT_CONTAINER_ANNOTATION]: component, ...pod.annotations },
  };
}

/** A ServiceMonitor's metadata: in the namespace and with the labels the Prometheus that should find it looks for. */
export function serviceMonitorMetadata(
  meta: ApiObjectMetadata,
  options: { readonly namespace?: string; readonly labels?: Readonly<Record<string, string>> },
): ApiObjectMetadata {
  return { ...meta, ...(options.namespace ? { namespace: options.namespace } : {}), labels: { ...meta.labels, ...options.labels } };
}

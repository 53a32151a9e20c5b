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
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

/** Labels that select one component's pods; stable across upgrades (selectors are immutable). */
export function selectorLabels(ctx: MetadataContext, component: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': PROJECT_NAME,
    'app.kubernetes.io/instance': ctx.name,
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

/**
 * AdmissionReview v1 in, AdmissionReview v1 out, as a pure function of the body
 * text. Anything that is not a well-formed review gets an HTTP 400 with a reason;
 * a well-formed review always gets an answer, so the API server never sees a
 * hang or a crash.
 */
import { PodLike, PodMutator, SkipReason } from './mutate';

export type AdmissionResult = 'mutated' | 'unchanged' | 'skipped' | 'ignored' | 'rejected';

export interface AdmissionOutcome {
  readonly status: number;
  readonly body: string;
  readonly result: AdmissionResult;
  readonly uid?: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly injectedContainers: number;
  /** Why the request was rejected, ignored or skipped. */
  readonly reason?: string;
}

const API_VERSION = 'admission.k8s.io/v1';

interface ReviewRequest {
  uid?: unknown;
  kind?: { group?: unknown; version?: unknown; kind?: unknown };
  resource?: { group?: unknown; version?: unknown; resource?: unknown };
  subResource?: unknown;
  operation?: unknown;
  namespace?: unknown;
  name?: unknown;
  object?: unknown;
}

function rejected(reason: string, status = 400): AdmissionOutcome {
  return { status, body: JSON.stringify({ error: reason }), result: 'rejected', injectedContainers: 0, reason };
}

function answer(uid: string, extra: string): string {
  // Built by hand: the uid is the only variable part besides the patch, and JSON.stringify of it keeps it safe.
  return `{"apiVersion":"${API_VERSION}","kind":"AdmissionReview","response":{"uid":${JSON.stringify(uid)},"allowed":true${extra}}}`;
}

export function admit(bodyText: string, mutator: PodMutator): AdmissionOutcome {
  let review: unknown;
  try {
    review = JSON.parse(bodyText);
  } catch {
    return rejected('body is not valid JSON');
  }
  if (review === null || typeof review !== 'object' || Array.isArray(review)) return rejected('body is not a JSON object');
  const r = review as { apiVersion?: unknown; kind?: unknown; request?: ReviewRequest };
  if (r.kind !== 'AdmissionReview') return rejected(`kind must be AdmissionReview, got ${JSON.stringify(r.kind) ?? 'nothing'}`);
  if (r.apiVersion !== API_VERSION) return rejected(`apiVersion must be ${API_VERSION}, got ${JSON.stringify(r.apiVersion) ?? 'nothing'}`);
  const req = r.request;
  if (req === null || typeof req !== 'object' || Array.isArray(req)) return rejected('request is missing');
  if (typeof req.uid !== 'string' || req.uid === '') return rejected('request.uid is missing');
  const uid = req.uid;
  const namespace = typeof req.namespace === 'string' ? req.namespace : undefined;
  const base = { uid, namespace, status: 200, injectedContainers: 0 } as const;

  const kind = req.kind && typeof req.kind === 'object' ? req.kind : {};
  const isPod = kind.group === '' && kind.version === 'v1' && kind.kind === 'Pod' && (req.subResource === undefined || req.subResource === '');
  if (!isPod || req.operation !== 'CREATE') {
    const what = `${String(kind.kind ?? '?')}${req.subResource ? `/${String(req.subResource)}` : ''} ${String(req.operation ?? '?')}`;
    return { ...base, body: answer(uid, ''), result: 'ignored', reason: `not a Pod CREATE (${what})` };
  }
  const pod = req.object;
  if (pod === null || typeof pod !== 'object' || Array.isArray(pod)) {
    return { ...base, body: answer(uid, ''), result: 'ignored', reason: 'request.object is not a pod' };
  }
  const p = pod as PodLike;
  const meta = p.metadata && typeof p.metadata === 'object' ? p.metadata : undefined;
  const name = typeof meta?.name === 'string' && meta.name !== '' ? meta.name : typeof meta?.generateName === 'string' ? `${meta.generateName}*` : undefined;
  if (p.spec !== undefined && (p.spec === null || typeof p.spec !== 'object' || Array.isArray(p.spec))) {
    // Validation after admission rejects such a pod; do not guess at it.
    return { ...base, name, body: answer(uid, ''), result: 'ignored', reason: 'spec is not an object' };
  }
  const plan = mutator.plan(p, namespace);
  if (plan.skipped) return { ...base, name, body: answer(uid, ''), result: 'skipped', reason: skipText(plan.skipped) };
  if (plan.patch.length === 0) return { ...base, name, body: answer(uid, ''), result: 'unchanged' };
  const patch = Buffer.from(mutator.serializePatch(plan.patch)).toString('base64');
  return { ...base, name, body: answer(uid, `,"patchType":"JSONPatch","patch":"${patch}"`), result: 'mutated', injectedContainers: plan.injectedContainers };
}

function skipText(r: SkipReason): string {
  switch (r) {
    case 'system-namespace':
      return 'system namespaces are never injected';
    case 'own-namespace':
      return "the webhook's own namespace is never injected";
    case 'windows':
      return 'Windows pods are never injected';
    case 'opted-out':
      return 'pod is labelled lxcfs-kit.io/inject=disabled';
  }
}

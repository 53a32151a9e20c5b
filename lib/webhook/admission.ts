/**
 * AdmissionReview v1 in, AdmissionReview v1 out, as a pure function of the body
 * text. Anything that is not a well-formed review gets an HTTP 400 with a reason;
 * a well-formed review always gets an answer, so the API server never sees a
 * hang or a crash.
 */
import { podSecurityWarning } from '../pod-security';
import { clientString, clientText } from './client-text';
import { PodLike, PodMutator, SkipReason } from './mutate';

export type AdmissionResult = 'mutated' | 'unchanged' | 'skipped' | 'ignored' | 'denied' | 'rejected';

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
  return outcome(status, JSON.stringify({ error: reason }), 'rejected', undefined, undefined, undefined, 0, reason);
}

function answer(uid: string, extra: string, allowed = true): string {
  // Built by hand: the uid is the only variable part besides the patch, and JSON.stringify of it keeps it safe.
  return `{"apiVersion":"${API_VERSION}","kind":"AdmissionReview","response":{"uid":${JSON.stringify(uid)},"allowed":${allowed}${extra}}}`;
}

/** `warnings` of an AdmissionResponse: shown to the pod's creator (kubectl prints them). */
function warningsField(warnings: readonly string[] | undefined): string {
  return warnings && warnings.length > 0 ? `,"warnings":${JSON.stringify(warnings)}` : '';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Deepest JSON nesting accepted. A pod review nests about 15 levels (managedFields a few more);
 * parsing time grows steeply with depth (a 4 MiB body of brackets costs V8 seconds), so deeper
 * bodies are refused before they are parsed.
 */
export const MAX_JSON_DEPTH = 100;

/**
 * Most JSON values (array elements, object members, containers) accepted. Decoded, each costs
 * V8 up to ~60 bytes whatever its text costs, so a 4 MiB body of `{},{},…` would become ~90 MB of
 * heap; this bounds a decoded request to ~20 MB. A large real pod has some tens of thousands.
 */
export const MAX_JSON_VALUES = 250_000;

/** Longest request uid accepted (the API server sends 36-character UUIDs). */
export const MAX_UID_LENGTH = 256;

/**
 * Why the JSON text is too costly to decode (too deep, too many values), or undefined: one
 * pass over the text, strings skipped, no allocation.
 */
export function jsonCostProblem(text: string, maxDepth = MAX_JSON_DEPTH, maxValues = MAX_JSON_VALUES): string | undefined {
  let depth = 0;
  let values = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      i = stringEnd(text, i);
      if (i < 0) return undefined; // unterminated: JSON.parse refuses it
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) return `body nests deeper than ${maxDepth} levels`;
      if (++values > maxValues) return `body holds more than ${maxValues} JSON values`;
    } else if (c === 0x2c) {
      if (++values > maxValues) return `body holds more than ${maxValues} JSON values`;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return undefined;
}

/**
 * Index of the quote closing the string opened at `open`, or -1. Most of a pod's text is inside
 * strings (every key is one), so they are skipped with indexOf instead of character by character.
 * A quote is escaped when an odd run of backslashes precedes it; each run is looked at once, as
 * runs between consecutive quotes do not overlap, so the scan stays linear whatever the text.
 */
function stringEnd(text: string, open: number): number {
  let q = text.indexOf('"', open + 1);
  while (q >= 0) {
    let k = q - 1;
    while (text.charCodeAt(k) === 0x5c) k--;
    if ((q - 1 - k) % 2 === 0) return q;
    q = text.indexOf('"', q + 1);
  }
  return -1;
}

/**
 * `mode` 'pod-security-warning' is the endpoint the configuration calls (failurePolicy Ignore)
 * for opted-in pods of namespaces left out for their Pod Security level: it never mutates, it
 * only tells the pod's creator why there is no lxcfs.
 */
export function admit(bodyText: string, mutator: PodMutator, mode: 'mutate' | 'pod-security-warning' = 'mutate'): AdmissionOutcome {
  const tooCostly = jsonCostProblem(bodyText);
  if (tooCostly) return rejected(tooCostly);
  let review: unknown;
  try {
    review = JSON.parse(bodyText);
  } catch {
    return rejected('body is not valid JSON');
  }
  if (!isRecord(review)) return rejected('body is not a JSON object');
  const r = review as { apiVersion?: unknown; kind?: unknown; request?: unknown };
  if (r.kind !== 'AdmissionReview') return rejected(`kind must be AdmissionReview, got ${clientText(r.kind)}`);
  if (r.apiVersion !== API_VERSION) return rejected(`apiVersion must be ${API_VERSION}, got ${clientText(r.apiVersion)}`);
  if (!isRecord(r.request)) return rejected('request is missing');
  const req = r.request as ReviewRequest;
  if (typeof req.uid !== 'string' || req.uid === '') return rejected('request.uid is missing');
  // The API server sends a UUID; a long one would only make the answer (which echoes it) costly.
  if (req.uid.length > MAX_UID_LENGTH) return rejected(`request.uid is longer than ${MAX_UID_LENGTH} characters`);
  const uid = req.uid;
  const namespace = typeof req.namespace === 'string' ? req.namespace : undefined;
  const answered = (body: string, result: AdmissionResult, name?: string, reason?: string, injectedContainers = 0): AdmissionOutcome =>
    outcome(200, body, result, uid, namespace, name, injectedContainers, reason);

  if (mode === 'pod-security-warning') {
    const warning = podSecurityWarning(clientString(namespace) ?? '?');
    return answered(answer(uid, warningsField([warning])), 'skipped', undefined, 'namespace enforces a Pod Security level that forbids hostPath');
  }
  const kind: Record<string, unknown> = isRecord(req.kind) ? req.kind : {};
  const isPod = kind.group === '' && kind.version === 'v1' && kind.kind === 'Pod' && (req.subResource === undefined || req.subResource === '');
  if (!isPod || req.operation !== 'CREATE') {
    const sub = req.subResource === undefined || req.subResource === '' ? '' : `/${clientText(req.subResource)}`;
    return answered(answer(uid, ''), 'ignored', undefined, `not a Pod CREATE (${clientText(kind.kind)}${sub} ${clientText(req.operation)})`);
  }
  const pod = req.object;
  if (!isRecord(pod)) return answered(answer(uid, ''), 'ignored', undefined, 'request.object is not a pod');
  const p = pod as PodLike;
  if (p.metadata !== undefined && !isRecord(p.metadata)) return answered(answer(uid, ''), 'ignored', undefined, 'metadata is not an object');
  const meta = p.metadata;
  const name = clientString(meta?.name) || (typeof meta?.generateName === 'string' ? `${clientString(meta.generateName)}*` : undefined);
  // Validation after admission rejects such a pod; do not guess at it.
  if (p.spec !== undefined && !isRecord(p.spec)) return answered(answer(uid, ''), 'ignored', name, 'spec is not an object');
  const plan = mutator.plan(p, namespace);
  if (plan.skipped) return answered(answer(uid, ''), 'skipped', name, skipText(plan.skipped));
  if (plan.denied) {
    const status = `,"status":{"code":400,"reason":"BadRequest","message":${JSON.stringify(plan.denied)}}`;
    return answered(answer(uid, status, false), 'denied', name, plan.denied);
  }
  const warnings = warningsField(plan.warnings);
  if (plan.patch.length === 0) return answered(answer(uid, warnings), 'unchanged', name);
  const patch = Buffer.from(mutator.serializePatch(plan.patch)).toString('base64');
  return answered(answer(uid, `,"patchType":"JSONPatch","patch":"${patch}"${warnings}`), 'mutated', name, undefined, plan.injectedContainers);
}

/**
 * Every outcome has the same fields in the same order (absent ones undefined): one object shape
 * for V8, where spreading a shared base into each literal cost a slow property definition per
 * admission.
 */
function outcome(
  status: number,
  body: string,
  result: AdmissionResult,
  uid: string | undefined,
  namespace: string | undefined,
  name: string | undefined,
  injectedContainers: number,
  reason: string | undefined,
): AdmissionOutcome {
  return { status, body, result, uid, namespace, name, injectedContainers, reason };
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

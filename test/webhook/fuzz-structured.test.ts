/**
 * Structure-aware fuzzing of the real webhook process over real HTTPS: a realistic
 * AdmissionReview of a realistic pod, with arbitrary JSON (any type, odd numbers, hostile
 * strings, deep and long values) planted at one to three of its fields, plus whole bodies
 * that are deep or long up to the body limit. The process must never die and every answer
 * must be a well-formed 200 AdmissionReview for the sent uid, or a 400 with a short reason.
 */
import * as fc from 'fast-check';
import { DEFAULT_LXCFS_PATH } from '../../lib/contract';
import { admissionResponse, fixturePod, makePki, request, review, startFileModeWebhook, TestPki, WebhookProcess } from './helpers';
import { PipelinedAnswer, PipelinedConnection } from './pipelined';

const CASES = Number(process.env.FUZZ_STRUCTURED_CASES ?? 100_000);
const BATCH = 250;
const CONNECTIONS = 8;
/** Every this many batches, one body near the size limit that is deep or long as a whole. */
const BIG_EVERY = 20;
const MAX_BODY = 4 * 1024 * 1024;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function basePod(): { [k: string]: Json } {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'fuzz',
      generateName: 'fuzz-',
      namespace: 'apps',
      labels: { app: 'fuzz', 'lxcfs-kit.io/inject': 'enabled' },
      annotations: { 'lxcfs-kit.io/exclude-containers': 'sidecar', 'lxcfs-kit.io/injected': '/proc/meminfo', note: 'x' },
    },
    spec: {
      os: { name: 'linux' },
      nodeSelector: { 'kubernetes.io/os': 'linux' },
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/os', operator: 'In', values: ['linux'] }] }] } } },
      volumes: [
        { name: 'data', emptyDir: {} },
        { name: 'lxcfs-kit-proc-meminfo', hostPath: { path: `${DEFAULT_LXCFS_PATH}/proc/meminfo`, type: 'File' } },
      ],
      initContainers: [{ name: 'init', image: 'busybox', volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
      containers: [
        { name: 'app', image: 'busybox', volumeMounts: [{ name: 'data', mountPath: '/data' }, { name: 'lxcfs-kit-proc-meminfo', mountPath: '/proc/meminfo', readOnly: true }] },
        { name: 'sidecar', image: 'busybox' },
      ],
    },
  };
}

function baseReview(uid: string): { [k: string]: Json } {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      subResource: '',
      name: 'fuzz',
      namespace: 'apps',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts'] },
      object: basePod(),
      oldObject: null,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  };
}

const O = ['request', 'object'];
const SPEC = [...O, 'spec'];
const C0 = [...SPEC, 'containers', 0];
/** Every field of the review and of the pod that the webhook reads, and their parents. */
const PATHS: (string | number)[][] = [
  [],
  ['apiVersion'],
  ['kind'],
  ['request'],
  ...['uid', 'kind', 'resource', 'requestKind', 'subResource', 'name', 'namespace', 'operation', 'userInfo', 'object', 'oldObject', 'dryRun', 'options'].map((k) => ['request', k]),
  ...['group', 'version', 'kind'].map((k) => ['request', 'kind', k]),
  ...['apiVersion', 'kind', 'metadata', 'spec'].map((k) => [...O, k]),
  ...['name', 'generateName', 'namespace', 'labels', 'annotations'].map((k) => [...O, 'metadata', k]),
  [...O, 'metadata', 'labels', 'lxcfs-kit.io/inject'],
  [...O, 'metadata', 'annotations', 'lxcfs-kit.io/exclude-containers'],
  [...O, 'metadata', 'annotations', 'lxcfs-kit.io/injected'],
  ...['os', 'nodeSelector', 'affinity', 'volumes', 'initContainers', 'containers'].map((k) => [...SPEC, k]),
  [...SPEC, 'os', 'name'],
  [...SPEC, 'nodeSelector', 'kubernetes.io/os'],
  [...SPEC, 'affinity', 'nodeAffinity'],
  [...SPEC, 'affinity', 'nodeAffinity', 'requiredDuringSchedulingIgnoredDuringExecution'],
  [...SPEC, 'affinity', 'nodeAffinity', 'requiredDuringSchedulingIgnoredDuringExecution', 'nodeSelectorTerms'],
  [...SPEC, 'affinity', 'nodeAffinity', 'requiredDuringSchedulingIgnoredDuringExecution', 'nodeSelectorTerms', 0],
  [...SPEC, 'affinity', 'nodeAffinity', 'requiredDuringSchedulingIgnoredDuringExecution', 'nodeSelectorTerms', 0, 'matchExpressions'],
  [...SPEC, 'affinity', 'nodeAffinity', 'requiredDuringSchedulingIgnoredDuringExecution', 'nodeSelectorTerms', 0, 'matchExpressions', 0],
  ...['key', 'operator', 'values'].map((k) => [...SPEC, 'affinity', 'nodeAffinity', 'requiredDuringSchedulingIgnoredDuringExecution', 'nodeSelectorTerms', 0, 'matchExpressions', 0, k]),
  [...SPEC, 'volumes', 0],
  [...SPEC, 'volumes', 1],
  ...['name', 'hostPath', 'emptyDir'].map((k) => [...SPEC, 'volumes', 1, k]),
  [...SPEC, 'volumes', 1, 'hostPath', 'path'],
  [...SPEC, 'volumes', 1, 'hostPath', 'type'],
  [...SPEC, 'initContainers', 0],
  [...SPEC, 'initContainers', 0, 'volumeMounts'],
  C0,
  [...SPEC, 'containers', 1],
  ...['name', 'image', 'volumeMounts'].map((k) => [...C0, k]),
  [...C0, 'volumeMounts', 0],
  [...C0, 'volumeMounts', 1],
  ...['name', 'mountPath', 'readOnly'].map((k) => [...C0, 'volumeMounts', 1, k]),
];

function nested(depth: number, leaf: Json): Json {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { a: v };
  return v;
}

/** Values that broke or could break decoders: coercion traps, prototype keys, odd numbers and strings, deep and long values. */
const SPECIAL: Json[] = [
  null, '', 0, -0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 2, true, false, [], {}, [null], [[]], [{}],
  JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":1}}') as Json,
  { toString: 1, valueOf: 1 }, { toString: { toString: 1 } }, { kind: { toString: 1 } }, { name: { toString: 1 } },
  'CREATE', 'Pod', 'v1', 'windows', 'WINDOWS', 'enabled', 'disabled', '/proc/meminfo', '/proc/meminfo/', '//proc//meminfo', 'lxcfs-kit-proc-meminfo',
  'a,b,,app, sidecar ,', '\u0000', '\ud800', '\u2028\u2029', '"\\', '~0~1/', '${x}', '%s%n', '../../etc/shadow',
  'x'.repeat(100_000), ','.repeat(50_000),
  Array.from({ length: 3000 }, () => ({})), Array.from({ length: 3000 }, (_, i) => ({ name: `c${i}`, mountPath: '/proc/stat' })),
  Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`k${i}`, i])),
  nested(60, 'deep'), nested(99, 1), nested(150, null),
];

const value: fc.Arbitrary<Json> = fc.oneof(
  { weight: 6, arbitrary: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json> },
  { weight: 3, arbitrary: fc.constantFrom(...SPECIAL) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
);

interface Case {
  readonly body: Buffer;
  /** The uid a 200 answer must echo; undefined when the sent uid is not a non-empty string. */
  readonly uid?: string;
}

function plant(root: { [k: string]: Json }, path: (string | number)[], v: Json): Json {
  if (path.length === 0) return v;
  let node: Json = root;
  for (const key of path.slice(0, -1)) {
    if (node === null || typeof node !== 'object') return root;
    node = (node as Record<string, Json>)[key as string];
  }
  if (node === null || typeof node !== 'object') return root;
  (node as Record<string, Json>)[path[path.length - 1] as string] = v;
  return root;
}

function expectedUid(doc: Json): string | undefined {
  const req = doc && typeof doc === 'object' && !Array.isArray(doc) ? doc.request : undefined;
  const uid = req && typeof req === 'object' && !Array.isArray(req) ? req.uid : undefined;
  return typeof uid === 'string' && uid !== '' ? uid : undefined;
}

const caseArb: fc.Arbitrary<Case> = fc
  .record({ uid: fc.uuid(), plants: fc.array(fc.tuple(fc.constantFrom(...PATHS), value), { minLength: 1, maxLength: 3 }) })
  .map(({ uid, plants }) => {
    let doc: Json = baseReview(uid);
    // Cloned: a shared special value planted twice would make the document circular.
    for (const [path, v] of plants) doc = plant(doc as { [k: string]: Json }, path, structuredClone(v));
    const text = JSON.stringify(doc) ?? 'null';
    return { body: Buffer.from(text), uid: expectedUid(doc) };
  });

/** Whole bodies near the 4 MiB limit: the shapes that cost a JSON decoder most. */
function bigCase(i: number): Case {
  const uid = `big-${i}`;
  switch (i % 5) {
    case 0:
      return { body: Buffer.from(`${'['.repeat(MAX_BODY / 2 - 8)}${']'.repeat(MAX_BODY / 2 - 8)}`) };
    case 1: {
      const doc = baseReview(uid);
      (((doc.request as Record<string, Json>).object as Record<string, Json>).spec as Record<string, Json>).containers = Array.from({ length: 200_000 }, () => ({}));
      return { body: Buffer.from(JSON.stringify(doc)), uid };
    }
    case 2: {
      const doc = baseReview(uid);
      ((((doc.request as Record<string, Json>).object as Record<string, Json>).metadata as Record<string, Json>).annotations as Record<string, Json>)['lxcfs-kit.io/exclude-containers'] = 'a,'.repeat(1_500_000);
      return { body: Buffer.from(JSON.stringify(doc)), uid };
    }
    case 3: {
      const long = 'u'.repeat(MAX_BODY - 4096);
      return { body: Buffer.from(JSON.stringify(baseReview(long))), uid: long };
    }
    default:
      return { body: Buffer.from(`[${'{},'.repeat(MAX_BODY / 3 - 4)}{}]`) };
  }
}

const REASON_MAX = 400;

function problemWith(c: Case, a: PipelinedAnswer): string | undefined {
  if (!/^application\/json/.test(a.headers['content-type'] ?? '')) return `content-type ${a.headers['content-type']}`;
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(a.body) as Record<string, unknown>;
  } catch {
    return `body is not JSON: ${a.body.slice(0, 80)}`;
  }
  if (a.status === 400) {
    const reason = body.error;
    return typeof reason === 'string' && reason.length > 0 && reason.length <= REASON_MAX ? undefined : `400 without a short reason: ${a.body.slice(0, 120)}`;
  }
  if (a.status !== 200) return `status ${a.status}: ${a.body.slice(0, 120)}`;
  if (body.apiVersion !== 'admission.k8s.io/v1' || body.kind !== 'AdmissionReview') return 'not an AdmissionReview';
  const r = body.response as Record<string, unknown> | undefined;
  if (!r || r.uid !== c.uid) return `uid ${String(r?.uid).slice(0, 40)} != ${String(c.uid).slice(0, 40)}`;
  if (typeof r.allowed !== 'boolean') return 'allowed is not a boolean';
  if (!r.allowed) {
    const st = r.status as { code?: unknown; message?: unknown } | undefined;
    if (st?.code !== 400 || typeof st.message !== 'string' || st.message.length > REASON_MAX) return `denial without a short message: ${a.body.slice(0, 200)}`;
  }
  if (r.warnings !== undefined && !(Array.isArray(r.warnings) && r.warnings.every((w) => typeof w === 'string' && w.length <= REASON_MAX))) return 'malformed warnings';
  if (r.patch !== undefined) {
    if (r.patchType !== 'JSONPatch' || typeof r.patch !== 'string') return 'patch without patchType JSONPatch';
    const ops = JSON.parse(Buffer.from(r.patch, 'base64').toString('utf8')) as unknown;
    if (!Array.isArray(ops) || ops.length === 0 || !ops.every((o: { op?: unknown; path?: unknown }) => o.op === 'add' && typeof o.path === 'string' && o.path.startsWith('/'))) return 'malformed patch';
  }
  return undefined;
}

let pki: TestPki;
let webhook: WebhookProcess;

beforeAll(async () => {
  pki = makePki();
  // Pipelined requests are all in flight at once from the server's point of view; the bound has its own test.
  webhook = await startFileModeWebhook(pki, ['--max-in-flight=4096', '--log-level=warn']);
});

afterAll(async () => {
  await webhook?.stop();
});

test(`structure-aware fuzz: ${CASES} reviews with arbitrary JSON at every field, plus deep and long bodies up to 4 MiB; the process never dies and every answer is well-formed (real HTTPS server)`, async () => {
  const seed = Date.now() % 2 ** 31;
  const batches = Math.ceil(CASES / BATCH);
  const counts = new Map<string, number>();
  const failures: string[] = [];
  let nextBatch = 0;
  let sent = 0;

  async function connectionWorker(): Promise<void> {
    let conn = new PipelinedConnection(webhook.port, pki.ca.certPem);
    while (nextBatch < batches) {
      const b = nextBatch++;
      const cases = fc.sample(caseArb, { numRuns: Math.min(BATCH, CASES - b * BATCH), seed: seed + b });
      if (b % BIG_EVERY === 0) cases.push(bigCase(b / BIG_EVERY));
      let answers: PipelinedAnswer[];
      try {
        answers = await conn.exchange(cases);
      } catch (err) {
        failures.push(`batch ${b} (seed ${seed + b}): ${(err as Error).message}`);
        conn.close();
        conn = new PipelinedConnection(webhook.port, pki.ca.certPem);
        continue;
      }
      sent += cases.length;
      answers.forEach((a, i) => {
        const result = a.status === 200 ? ((JSON.parse(a.body) as { response: { allowed: boolean; patch?: string } }).response.patch ? 'patched' : 'allowed-unchanged') : String(a.status);
        counts.set(result, (counts.get(result) ?? 0) + 1);
        const problem = problemWith(cases[i], a);
        if (problem) failures.push(`batch ${b} (seed ${seed + b}) case ${i}: ${problem}; sent ${cases[i].body.subarray(0, 160).toString()}`);
      });
    }
    conn.close();
  }

  await Promise.all(Array.from({ length: CONNECTIONS }, connectionWorker));
  process.stdout.write(`structured fuzz: ${sent} cases, seed ${seed}, answers ${JSON.stringify(Object.fromEntries(counts))}\n`);
  expect(failures.slice(0, 10)).toEqual([]);
  expect(sent).toBeGreaterThanOrEqual(CASES);
  expect(webhook.proc.exitCode).toBeNull();
  // Both kinds of answer really occurred, and the server still injects afterwards.
  expect(counts.get('patched') ?? 0).toBeGreaterThan(CASES / 20);
  expect(counts.get('400') ?? 0).toBeGreaterThan(CASES / 50);
  const ok = await request(webhook.port, pki.ca.certPem, { body: review(fixturePod()) });
  expect(admissionResponse(ok.body).patch).toBeDefined();
  // No log line carries more than a short piece of what clients sent.
  const longest = Math.max(...webhook.logs.map((l) => JSON.stringify(l).length));
  expect(longest).toBeLessThan(1024);
}, 600_000);

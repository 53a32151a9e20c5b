import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tls from 'tls';
import { applyPatch, deepClone, Operation } from 'fast-json-patch';
import { DEFAULT_LXCFS_FILES, DEFAULT_LXCFS_PATH, EXCLUDE_CONTAINERS_ANNOTATION, INJECTED_ANNOTATION } from '../../lib/contract';
import { CertFileWatcher } from '../../lib/webhook/cert-files';
import { Logger } from '../../lib/log';
import { WebhookMetrics } from '../../lib/webhook/metrics';
import { MAX_JSON_DEPTH } from '../../lib/webhook/admission';
import { MAX_INJECTED_MOUNTS, PodMutator } from '../../lib/webhook/mutate';
import { POD_SECURITY_WARNING_PATH, podSecurityWarning } from '../../lib/pod-security';
import { WebhookServer } from '../../lib/webhook/server';
import { admissionResponse, decodePatch, fixturePod, makePki, request, review, TestPki } from './helpers';

type Mount = { name: string; mountPath: string; readOnly?: boolean };
type Ctr = { name: string; volumeMounts?: Mount[] };
type Pod = {
  metadata?: { annotations?: Record<string, string>; labels?: Record<string, string> };
  spec: { containers: Ctr[]; initContainers?: Ctr[]; volumes?: { name: string; hostPath?: { path: string; type: string } }[] };
};

const logLines: string[] = [];
const logger = new Logger({ write: (l: string) => logLines.push(l) }, 'webhook', 'debug');
let pki: TestPki;
let metrics: WebhookMetrics;
let server: WebhookServer;
let port: number;
let ready = true;

beforeAll(async () => {
  pki = makePki();
  metrics = new WebhookMetrics(false);
  server = new WebhookServer({
    mutator: PodMutator.fromFlags(DEFAULT_LXCFS_PATH, DEFAULT_LXCFS_FILES, 'lxcfs-kit'),
    metrics,
    logger,
    extraReady: () => ready,
    limits: { maxBodyBytes: 64 * 1024, headersTimeoutMs: 1000, requestTimeoutMs: 2000, handshakeTimeoutMs: 2000 },
  });
  port = await server.listen(pki.serving, 0, '127.0.0.1');
});
afterAll(() => server.close(100));

async function admitPod(pod: unknown, ns = 'apps'): Promise<{ out: Pod; patch: unknown[] }> {
  const res = await request(port, pki.ca.certPem, { body: review(pod, { namespace: ns }) });
  expect(res.status).toBe(200);
  const a = admissionResponse(res.body);
  expect(a.uid).toBe('e911857d-c318-11e8-bbad-025000000001');
  expect(a.allowed).toBe(true);
  const patch = decodePatch(a);
  if (patch.length > 0) expect(a.patchType).toBe('JSONPatch');
  const out = applyPatch(deepClone(pod), patch as Operation[], true, false).newDocument as Pod;
  return { out, patch };
}

function lxcfsMounts(c: { volumeMounts?: { mountPath: string; name: string }[] }): string[] {
  return (c.volumeMounts ?? []).filter((m) => m.name.startsWith('lxcfs-kit-')).map((m) => m.mountPath);
}

describe('admission over real HTTPS on loopback', () => {
  test('the reference pod (test-lxcfs-deployment.yaml) gets every lxcfs file, read-only, from hostPath type File', async () => {
    const { out } = await admitPod(fixturePod());
    const c = out.spec.containers[0];
    expect(lxcfsMounts(c)).toEqual([...DEFAULT_LXCFS_FILES]);
    expect(c.volumeMounts?.every((m) => m.readOnly === true)).toBe(true);
    const vols = out.spec.volumes ?? [];
    expect(vols.map((v) => v.hostPath)).toEqual(DEFAULT_LXCFS_FILES.map((f) => ({ path: `${DEFAULT_LXCFS_PATH}${f}`, type: 'File' })));
    expect(out.metadata?.annotations?.[INJECTED_ANNOTATION]).toBe(DEFAULT_LXCFS_FILES.join(','));
    expect(out.metadata?.labels).toEqual({ app: 'testlxcfs' });
    // Reinvocation: the mutated pod yields no patch.
    expect((await admitPod(out)).patch).toEqual([]);
  });

  test('init containers, existing volumes, a pre-existing /proc/meminfo mount and exclusions', async () => {
    const pod = {
      metadata: { name: 'p', annotations: { [EXCLUDE_CONTAINERS_ANNOTATION]: 'skip-me' } },
      spec: {
        volumes: [{ name: 'data', emptyDir: {} }, { name: 'my-meminfo', configMap: { name: 'fake-meminfo' } }],
        initContainers: [{ name: 'init', image: 'busybox' }],
        containers: [
          { name: 'app', image: 'busybox', volumeMounts: [{ name: 'data', mountPath: '/data' }, { name: 'my-meminfo', mountPath: '/proc/meminfo', subPath: 'meminfo' }] },
          { name: 'skip-me', image: 'busybox' },
        ],
      },
    };
    const { out } = await admitPod(pod);
    const s = out.spec as Required<Pod['spec']>;
    expect(lxcfsMounts(s.initContainers[0])).toEqual([...DEFAULT_LXCFS_FILES]);
    expect(s.containers[0].volumeMounts?.slice(0, 2)).toEqual(pod.spec.containers[0].volumeMounts);
    expect(lxcfsMounts(s.containers[0])).toEqual(DEFAULT_LXCFS_FILES.filter((f) => f !== '/proc/meminfo'));
    expect(s.containers[0].volumeMounts?.filter((m) => m.mountPath === '/proc/meminfo')).toHaveLength(1);
    expect(s.containers[1].volumeMounts).toBeUndefined();
    expect(s.volumes.slice(0, 2)).toEqual(pod.spec.volumes);
    expect(s.volumes).toHaveLength(2 + DEFAULT_LXCFS_FILES.length);
  });

  test('annotation keys containing / and ~ stay intact', async () => {
    const annotations = { 'example.com/a~b': 'x', '~/~': 'y', 'plain': 'z' };
    const { out, patch } = await admitPod({ metadata: { name: 'p', annotations }, spec: { containers: [{ name: 'a', image: 'i' }] } });
    expect(out.metadata?.annotations).toEqual({ ...annotations, [INJECTED_ANNOTATION]: DEFAULT_LXCFS_FILES.join(',') });
    expect(patch).toContainEqual({ op: 'add', path: '/metadata/annotations/lxcfs-kit.io~1injected', value: DEFAULT_LXCFS_FILES.join(',') });
  });

  test('Windows pods, system and own namespaces are allowed untouched', async () => {
    const c = { containers: [{ name: 'a', image: 'i' }] };
    expect((await admitPod({ metadata: { name: 'w' }, spec: { ...c, os: { name: 'windows' } } })).patch).toEqual([]);
    expect((await admitPod({ metadata: { name: 's' }, spec: c }, 'kube-system')).patch).toEqual([]);
    expect((await admitPod({ metadata: { name: 'o' }, spec: c }, 'lxcfs-kit')).patch).toEqual([]);
  });

  test('pods pinned to Windows by required node affinity are skipped; a term that also allows Linux is not pinned', async () => {
    const c = { containers: [{ name: 'a', image: 'i' }] };
    const term = (values: string[], operator = 'In') => ({ matchExpressions: [{ key: 'kubernetes.io/os', operator, values }, { key: 'pool', operator: 'Exists' }] });
    const affinity = (...terms: unknown[]) => ({ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } });
    expect((await admitPod({ metadata: { name: 'w' }, spec: { ...c, affinity: affinity(term(['windows'])) } })).patch).toEqual([]);
    expect((await admitPod({ metadata: { name: 'w2' }, spec: { ...c, affinity: affinity(term(['windows']), term(['Windows'])) } })).patch).toEqual([]);
    // Alternatives that admit a Linux node, or no os requirement at all: injected.
    expect((await admitPod({ metadata: { name: 'l' }, spec: { ...c, affinity: affinity(term(['windows']), term(['linux'])) } })).patch).not.toEqual([]);
    expect((await admitPod({ metadata: { name: 'l2' }, spec: { ...c, affinity: affinity(term(['windows', 'linux'])) } })).patch).not.toEqual([]);
    expect((await admitPod({ metadata: { name: 'l3' }, spec: { ...c, affinity: affinity(term(['linux'], 'NotIn')) } })).patch).not.toEqual([]);
  });

  test('an existing volume that collides with an injected volume name is never mounted over a /proc file; the creator is warned', async () => {
    const pod = {
      metadata: { name: 'collide' },
      spec: {
        volumes: [{ name: 'lxcfs-kit-proc-meminfo', hostPath: { path: '/etc', type: 'Directory' } }],
        containers: [{ name: 'a', image: 'i' }],
      },
    };
    const res = await request(port, pki.ca.certPem, { body: review(pod) });
    const a = admissionResponse(res.body) as ReturnType<typeof admissionResponse> & { warnings?: string[] };
    const out = applyPatch(deepClone(pod), decodePatch(a) as Operation[], true, false).newDocument as unknown as Pod;
    expect(out.spec.containers[0].volumeMounts?.some((m) => m.mountPath === '/proc/meminfo')).toBe(false);
    expect(lxcfsMounts(out.spec.containers[0])).toEqual(DEFAULT_LXCFS_FILES.filter((f) => f !== '/proc/meminfo'));
    // The pod's own volume is left exactly as it was.
    expect(out.spec.volumes?.filter((v) => v.name === 'lxcfs-kit-proc-meminfo')).toEqual(pod.spec.volumes);
    expect(a.warnings).toEqual([expect.stringContaining('lxcfs-kit-proc-meminfo')]);
    // Our own volume from an earlier pass is not a collision: reinvocation changes nothing.
    expect((await admitPod(out)).patch).toEqual([]);
  });

  test('a pod beyond the patch bound is denied with a clear message, not answered with a huge patch', async () => {
    const containers = Array.from({ length: Math.floor(MAX_INJECTED_MOUNTS / DEFAULT_LXCFS_FILES.length) + 1 }, (_, i) => ({ name: `c${i}`, image: 'i' }));
    const res = await request(port, pki.ca.certPem, { body: review({ metadata: { name: 'many' }, spec: { containers } }) });
    expect(res.status).toBe(200);
    const a = JSON.parse(res.body) as { response: { allowed: boolean; patch?: string; status: { code: number; message: string } } };
    expect(a.response.allowed).toBe(false);
    expect(a.response.patch).toBeUndefined();
    expect(a.response.status).toEqual({ code: 400, reason: 'BadRequest', message: expect.stringMatching(/at most 512 .*lxcfs-kit\.io\/exclude-containers/) as unknown });
  });

  test('the Pod Security warning endpoint allows the pod unchanged and tells its creator why', async () => {
    const res = await request(port, pki.ca.certPem, { path: POD_SECURITY_WARNING_PATH, body: review(fixturePod(), { namespace: 'secure' }) });
    expect(res.status).toBe(200);
    const a = admissionResponse(res.body) as ReturnType<typeof admissionResponse> & { warnings?: string[] };
    expect(a).toMatchObject({ allowed: true, uid: 'e911857d-c318-11e8-bbad-025000000001' });
    expect(a.patch).toBeUndefined();
    expect(a.warnings).toEqual([podSecurityWarning('secure')]);
  });

  test('client input in a rejection is cut short and never coerced (a value with a non-callable toString)', async () => {
    const res = await request(port, pki.ca.certPem, { body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: { toString: 1, valueOf: 1 }, request: {} }) });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toEqual({ error: 'kind must be AdmissionReview, got an object' });
    const long = await request(port, pki.ca.certPem, { body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'x'.repeat(10_000) }) });
    expect((JSON.parse(long.body) as { error: string }).error.length).toBeLessThan(150);
    const kind = await request(port, pki.ca.certPem, { body: review(fixturePod(), { kind: { kind: { toString: 1 } }, subResource: { toString: 1 }, operation: ['CREATE'] }) });
    expect(admissionResponse(kind.body)).toMatchObject({ allowed: true });
    expect(admissionResponse(kind.body).patch).toBeUndefined();
  });

  test('bodies nested deeper than the bound are refused before they are decoded', async () => {
    const res = await request(port, pki.ca.certPem, { body: `${'['.repeat(20_000)}${']'.repeat(20_000)}` });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toEqual({ error: `body nests deeper than ${MAX_JSON_DEPTH} levels` });
  });

  test('non-Pod kinds, subresources and non-CREATE operations are allowed untouched', async () => {
    const pod = fixturePod();
    const cases: Record<string, unknown>[] = [
      { kind: { group: '', version: 'v1', kind: 'ConfigMap' }, resource: { group: '', version: 'v1', resource: 'configmaps' } },
      { kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, resource: { group: 'apps', version: 'v1', resource: 'deployments' } },
      { operation: 'UPDATE' },
      { operation: 'DELETE', object: null },
      { subResource: 'ephemeralcontainers', operation: 'UPDATE' },
    ];
    for (const over of cases) {
      const res = await request(port, pki.ca.certPem, { body: review(pod, over) });
      expect(res.status).toBe(200);
      const a = admissionResponse(res.body);
      expect(a.allowed).toBe(true);
      expect(a.patch).toBeUndefined();
    }
  });

  test('logs are JSON lines that carry the request uid', () => {
    // A rejected body has no uid to carry.
    const entries = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.msg === 'admission' && e.result !== 'rejected');
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.every((e) => e.uid === 'e911857d-c318-11e8-bbad-025000000001')).toBe(true);
  });
});

describe('bad input gets a clear HTTP error and the server keeps serving', () => {
  const bad: [string, Parameters<typeof request>[2], number, RegExp][] = [
    ['malformed JSON', { body: '{"apiVersion":' }, 400, /not valid JSON/],
    ['a JSON array', { body: '[]' }, 400, /not a JSON object/],
    ['wrong apiVersion', { body: review({}).replace('admission.k8s.io/v1', 'admission.k8s.io/v1beta1') }, 400, /apiVersion must be/],
    ['wrong kind', { body: review({}).replace('"AdmissionReview"', '"Pod"') }, 400, /kind must be AdmissionReview/],
    ['missing request.uid', { body: review({}, { uid: undefined }) }, 400, /uid is missing/],
    ['missing request', { body: '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}' }, 400, /request is missing/],
    ['GET on /mutate', { method: 'GET' }, 405, /use POST/],
    ['POST on /healthz', { path: '/healthz', body: '{}' }, 405, /use GET/],
    ['unknown path', { path: '/../../etc/passwd' }, 404, /not found/],
    ['a non-JSON content type', { body: 'x', headers: { 'content-type': 'text/plain' } }, 415, /application\/json/],
    ['a declared body over the limit', { body: Buffer.alloc(65 * 1024, 32) }, 413, /larger than/],
    ['a chunked body over the limit', { body: Buffer.alloc(65 * 1024, 32), headers: { 'transfer-encoding': 'chunked' } }, 413, /larger than/],
  ];
  test.each(bad)('%s', async (_what, opts, status, text) => {
    const res = await request(port, pki.ca.certPem, opts);
    expect(res.status).toBe(status);
    expect(res.body).toMatch(text);
    expect((await request(port, pki.ca.certPem, { path: '/healthz', method: 'GET' })).status).toBe(200);
  });

  function rawTls(): Promise<tls.TLSSocket> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: pki.ca.certPem }, () => resolve(s));
      s.on('error', reject);
    });
  }
  function collect(s: tls.TLSSocket): Promise<string> {
    return new Promise((resolve) => {
      let text = '';
      s.on('data', (d: Buffer) => (text += d.toString()));
      s.on('close', () => resolve(text));
      s.on('error', () => undefined);
    });
  }

  test('a client that stalls in its headers is answered 408 and disconnected', async () => {
    const s = await rawTls();
    const answer = collect(s);
    s.write('POST /mutate HTTP/1.1\r\nHost: x\r\n');
    expect(await answer).toMatch(/^HTTP\/1\.1 408/);
  });

  test('a client that stalls in its body is disconnected', async () => {
    const s = await rawTls();
    const answer = collect(s);
    s.write('POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"apiVersion"');
    const text = await answer;
    expect(text === '' || /^HTTP\/1\.1 408/.test(text)).toBe(true);
    expect((await request(port, pki.ca.certPem, { path: '/healthz', method: 'GET' })).status).toBe(200);
  });

  test('a garbage request line gets 400', async () => {
    const s = await rawTls();
    const answer = collect(s);
    s.write('\x00\x01 NOT HTTP\r\n\r\n');
    expect(await answer).toMatch(/^HTTP\/1\.1 400/);
  });

  test('TLS 1.1 is refused, TLS 1.2 is accepted', async () => {
    await expect(
      new Promise((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: pki.ca.certPem, minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }, () => resolve(s.getProtocol()));
        s.on('error', reject);
      }),
    ).rejects.toThrow();
    const v = await new Promise((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: pki.ca.certPem, maxVersion: 'TLSv1.2' }, () => {
        resolve(s.getProtocol());
        s.end();
      });
      s.on('error', reject);
    });
    expect(v).toBe('TLSv1.2');
  });

  test('metrics count admissions by result and errors by kind', async () => {
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/lxcfs_kit_webhook_admissions_total\{result="mutated"\} [1-9]/);
    expect(text).toMatch(/lxcfs_kit_webhook_admissions_total\{result="rejected"\} [1-9]/);
    expect(text).toMatch(/lxcfs_kit_webhook_errors_total\{kind="too-large"\} 2/);
    expect(text).toMatch(/lxcfs_kit_webhook_injected_containers_total [1-9]/);
    expect(text).toMatch(/lxcfs_kit_webhook_certificate_expiry_timestamp_seconds\{cert="serving"\} \d+/);
  });
});

describe('health, readiness and certificate reload', () => {
  test('/readyz follows the readiness condition; /healthz does not', async () => {
    ready = false;
    expect((await request(port, pki.ca.certPem, { method: 'GET', path: '/readyz' })).status).toBe(503);
    expect((await request(port, pki.ca.certPem, { method: 'GET', path: '/healthz' })).status).toBe(200);
    ready = true;
    expect((await request(port, pki.ca.certPem, { method: 'GET', path: '/readyz' })).status).toBe(200);
  });

  test('certificate files that change are reloaded without a restart; a broken pair is refused', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcfs-kit-certs-'));
    const certFile = path.join(dir, 'tls.crt');
    const keyFile = path.join(dir, 'tls.key');
    fs.writeFileSync(certFile, pki.serving.certPem);
    fs.writeFileSync(keyFile, pki.serving.keyPem);
    const watcher = new CertFileWatcher(certFile, keyFile, pki.serving, (p) => server.reload(p), logger);
    const next = makePki();
    // A half-rotated pair (new cert, old key) must not be loaded.
    fs.writeFileSync(certFile, next.serving.certPem);
    watcher.check();
    expect((await request(port, pki.ca.certPem, { method: 'GET', path: '/healthz' })).status).toBe(200);
    await expect(request(port, next.ca.certPem, { method: 'GET', path: '/healthz' })).rejects.toThrow();
    fs.writeFileSync(keyFile, next.serving.keyPem);
    watcher.check();
    expect((await request(port, next.ca.certPem, { method: 'GET', path: '/healthz' })).status).toBe(200);
    await expect(request(port, pki.ca.certPem, { method: 'GET', path: '/healthz' })).rejects.toThrow(/self.signed|unable to verify|certificate/i);
    // Back to the original pair for the other tests.
    server.reload(pki.serving);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('an unexpected exception in a request', () => {
  test('becomes a 500 and a metric; the server goes on answering', async () => {
    const m = new WebhookMetrics(false);
    const real = PodMutator.fromFlags(DEFAULT_LXCFS_PATH, DEFAULT_LXCFS_FILES, 'lxcfs-kit');
    let fail = true;
    // A mutator that throws once: stands in for any bug a request could reach.
    const flaky = Object.create(real) as PodMutator;
    flaky.plan = (pod, ns) => {
      if (fail) {
        fail = false;
        throw new Error('boom');
      }
      return real.plan(pod, ns);
    };
    const s = new WebhookServer({ mutator: flaky, metrics: m, logger });
    const p = await s.listen(pki.serving, 0, '127.0.0.1');
    try {
      const failed = await request(p, pki.ca.certPem, { body: review(fixturePod()) });
      expect(failed.status).toBe(500);
      expect(JSON.parse(failed.body)).toEqual({ error: 'internal error' });
      expect(await m.registry.metrics()).toMatch(/lxcfs_kit_webhook_errors_total\{kind="internal"\} 1/);
      const ok = await request(p, pki.ca.certPem, { body: review(fixturePod()) });
      expect(admissionResponse(ok.body).patch).toBeDefined();
    } finally {
      await s.close(100);
    }
  });
});

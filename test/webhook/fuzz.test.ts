import * as https from 'https';
import * as tls from 'tls';
import * as fc from 'fast-check';
import { admissionResponse, fixturePod, makePki, request, review, startFileModeWebhook, TestPki, WebhookProcess } from './helpers';

const CASES = 10_000;
const RAW_EVERY = 25; // every 25th case is raw bytes on a fresh TLS connection, not an HTTP client request
const CONCURRENCY = Number(process.env.FUZZ_CONCURRENCY ?? 16);

interface Case {
  readonly method: string;
  readonly path: string;
  readonly contentType?: string;
  readonly body: string | Buffer;
  /** The uid a well-formed review carries; a 200 must echo it. */
  readonly uid?: string;
}

const json = fc.jsonValue({ maxDepth: 4 });
const anything = fc.oneof(json, fc.constantFrom(null, '', 0, -1, [], {}, 'CREATE', 'Pod', { kind: 'Pod' }));
const uid = fc.oneof(fc.uuid(), fc.string({ maxLength: 40 }));

/** A real review with random values planted at the places a decoder trips over. */
const plantedReview: fc.Arbitrary<Case> = fc
  .record({
    uid,
    plant: fc.constantFrom('kind', 'operation', 'namespace', 'object', 'object.metadata', 'object.spec', 'containers', 'container', 'volumeMounts', 'volumes', 'annotations', 'os', 'none'),
    value: anything,
  })
  .map(({ uid, plant, value }) => {
    const pod = fixturePod() as { metadata: Record<string, unknown>; spec: Record<string, unknown> };
    const containers = pod.spec.containers as Record<string, unknown>[];
    const over: Record<string, unknown> = { uid };
    switch (plant) {
      case 'kind':
      case 'operation':
      case 'namespace':
      case 'object':
        over[plant] = value;
        break;
      case 'object.metadata':
        pod.metadata = value as Record<string, unknown>;
        break;
      case 'object.spec':
        pod.spec = value as Record<string, unknown>;
        break;
      case 'containers':
        pod.spec.containers = value;
        break;
      case 'container':
        containers[0] = value as Record<string, unknown>;
        break;
      case 'volumeMounts':
        containers[0].volumeMounts = value;
        break;
      case 'volumes':
        pod.spec.volumes = value;
        break;
      case 'annotations':
        pod.metadata.annotations = value;
        break;
      case 'os':
        pod.spec.os = value;
        break;
    }
    return { method: 'POST', path: '/mutate', contentType: 'application/json', body: review(over.object === undefined ? pod : over.object, over), uid: uid === '' ? undefined : uid };
  });

const randomRequest: fc.Arbitrary<Case> = fc.oneof(
  { weight: 3, arbitrary: plantedReview },
  { weight: 2, arbitrary: json.map((v) => ({ method: 'POST', path: '/mutate', contentType: 'application/json', body: JSON.stringify(v) ?? '' })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2048 }).map((b) => ({ method: 'POST', path: '/mutate', body: Buffer.from(b) })) },
  {
    weight: 1,
    arbitrary: fc.record({
      method: fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'POST', 'HEAD'),
      path: fc.oneof(fc.constantFrom('/mutate', '/healthz', '/readyz', '/metrics', '/', '/mutate?x=1', '//mutate', '/mutate/'), fc.webPath()),
      contentType: fc.option(fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/merge-patch+json', ';;'), { nil: undefined }),
      body: fc.string({ maxLength: 200 }),
    }),
  },
  { weight: 1, arbitrary: fc.integer({ min: 64 * 1024 + 1, max: 200 * 1024 }).map((n) => ({ method: 'POST', path: '/mutate', contentType: 'application/json', body: Buffer.alloc(n, 0x7b) })) },
);

const rawBytes = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 512 }).map((b) => Buffer.from(b)),
  fc.string({ maxLength: 300 }).map((s) => Buffer.from(`${s}\r\n\r\n`)),
  fc.string({ maxLength: 100 }).map((s) => Buffer.from(`POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Length: ${s}\r\n\r\n{}`)),
  fc.constantFrom(
    Buffer.from('POST /mutate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'),
    Buffer.from('GET / HTTP/9.9\r\n\r\n'),
    Buffer.from(`GET /${'a'.repeat(20000)} HTTP/1.1\r\nHost: x\r\n\r\n`),
    Buffer.from('POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}'),
  ),
);

let pki: TestPki;
let webhook: WebhookProcess;

beforeAll(async () => {
  pki = makePki();
  webhook = await startFileModeWebhook(pki, [`--max-request-bytes=${64 * 1024}`]);
});

afterAll(async () => {
  await webhook?.stop();
});

function rawExchange(bytes: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const s = tls.connect({ host: '127.0.0.1', port: webhook.port, servername: 'localhost', ca: pki.ca.certPem }, () => s.end(bytes));
    s.setTimeout(20_000, () => reject(new Error('raw connection hung')));
    s.on('data', (d: Buffer) => (text += d.toString('latin1')));
    s.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? undefined : reject(err)));
    s.on('close', () => resolve(text));
  });
}

test(`fuzz: ${CASES} malformed or random requests; every answer is valid HTTP and the server never exits (real process)`, async () => {
  const seed = Date.now() % 2 ** 31;
  const cases = fc.sample(randomRequest, { numRuns: CASES, seed });
  const raws = fc.sample(rawBytes, { numRuns: Math.ceil(CASES / RAW_EVERY), seed });
  const agent = new https.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const statuses = new Map<number, number>();
  const failures: string[] = [];
  let next = 0;

  async function worker(): Promise<void> {
    while (next < CASES) {
      const i = next++;
      const label = `case ${i} (seed ${seed})`;
      try {
        if (i % RAW_EVERY === 0) {
          const text = await rawExchange(raws[i / RAW_EVERY]);
          // A raw connection either gets an HTTP status line, or nothing when it was not even a request start.
          if (text !== '' && !/^HTTP\/1\.1 [1-5]\d\d /.test(text)) failures.push(`${label}: raw answer ${JSON.stringify(text.slice(0, 80))}`);
          continue;
        }
        const c = cases[i];
        const res = await request(webhook.port, pki.ca.certPem, {
          method: c.method,
          path: c.path,
          body: c.method === 'GET' || c.method === 'HEAD' ? undefined : c.body,
          headers: c.contentType === undefined ? {} : { 'content-type': c.contentType },
          agent,
        }).catch((err: NodeJS.ErrnoException) => {
          // The server closes after a 413 it did not read to the end; the client may see that as a reset. Re-check the answer on a fresh connection.
          if ((err.code === 'ECONNRESET' || err.code === 'EPIPE') && Buffer.byteLength(c.body) > 64 * 1024) return { status: 413, headers: {}, body: 'reset after 413' };
          throw err;
        });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status < 200 || res.status > 599) failures.push(`${label}: status ${res.status}`);
        if (res.status === 200 && c.path.split('?')[0] === '/mutate') {
          const a = admissionResponse(res.body);
          if (c.uid !== undefined && a.uid !== c.uid) failures.push(`${label}: uid ${a.uid} != ${c.uid}`);
          if (a.allowed !== true) failures.push(`${label}: not allowed`);
        }
        if (res.status >= 400 && c.method !== 'HEAD' && res.body === '') failures.push(`${label}: empty ${res.status} body`);
      } catch (err) {
        const c = cases[i];
        const p = cases[i - 1];
        failures.push(`${label}: ${(err as Error).message} [${c.method} ${c.path} ${c.contentType ?? '-'} ${Buffer.byteLength(c.body)} bytes] prev [${p?.method} ${p?.path} ${p?.contentType ?? '-'} ${Buffer.byteLength(p?.body ?? '')} bytes ${(i - 1) % RAW_EVERY === 0 ? 'raw' : ''}]`);
      }
    }
  }

  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  agent.destroy();
  expect(failures.slice(0, 20)).toEqual([]);
  expect(webhook.proc.exitCode).toBeNull();
  // Still serving correctly after the storm.
  const ok = await request(webhook.port, pki.ca.certPem, { body: review(fixturePod()) });
  expect(admissionResponse(ok.body).patch).toBeDefined();
  // The mix really exercised both paths.
  expect(statuses.get(200) ?? 0).toBeGreaterThan(500);
  expect(statuses.get(400) ?? 0).toBeGreaterThan(500);
  expect(statuses.get(413) ?? 0).toBeGreaterThan(100);
}, 300_000);

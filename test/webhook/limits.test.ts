/**
 * The limits that keep one webhook replica alive and inside its memory limit whatever
 * clients do, checked on the real `lxcfs-kit webhook` process: the TLS suites it offers
 * (with the openssl command line client), the bound on admissions in flight, and its
 * resident memory while the bound of maximum-size requests is in flight.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as tls from 'tls';
import { WEBHOOK_DEFAULTS } from '../../lib/constructs/props';
import { WEBHOOK_FLAGS, WEBHOOK_NODE_OPTIONS } from '../../lib/webhook/flags';
import { fixturePod, makePki, request, review, startFileModeWebhook, TestPki } from './helpers';

let pki: TestPki;
beforeAll(() => {
  pki = makePki();
});

function metricsText(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
        let t = '';
        res.on('data', (d: Buffer) => (t += d.toString()));
        res.on('end', () => resolve(t));
      })
      .on('error', reject);
  });
}

describe('TLS (openssl s_client against the real process)', () => {
  function handshake(port: number, args: string[]): { ok: boolean; cipher: string } {
    const r = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', ...args], { input: '', encoding: 'utf8', timeout: 30_000 });
    const cipher = /Cipher is (\S+)/.exec(r.stdout)?.[1] ?? '';
    return { ok: r.status === 0 && cipher !== '' && cipher !== '(NONE)', cipher };
  }

  test('TLS 1.2 offers only ECDHE key exchange with AEAD ciphers; RSA key exchange, DHE and CBC suites are refused; TLS 1.3 works', async () => {
    const w = await startFileModeWebhook(pki);
    try {
      const refused = [
        'AES128-GCM-SHA256', // RSA key exchange: not forward secret
        'AES256-GCM-SHA384',
        'AES128-SHA', // RSA key exchange, CBC
        'AES256-SHA256',
        'DHE-RSA-AES128-GCM-SHA256', // finite-field DHE
        'DHE-RSA-AES256-GCM-SHA384',
        'ECDHE-RSA-AES128-SHA', // forward secret but CBC
        'ECDHE-RSA-AES256-SHA384',
      ];
      for (const offered of refused) expect({ offered, ok: handshake(w.port, ['-tls1_2', '-cipher', offered]).ok }).toEqual({ offered, ok: false });
      for (const cipher of ['ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-RSA-CHACHA20-POLY1305']) {
        expect(handshake(w.port, ['-tls1_2', '-cipher', cipher])).toEqual({ ok: true, cipher });
      }
      // With everything offered, TLS 1.2 settles on an ECDHE AEAD suite.
      expect(handshake(w.port, ['-tls1_2', '-cipher', 'ALL:@SECLEVEL=0']).cipher).toMatch(/^ECDHE-RSA-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)$/);
      expect(handshake(w.port, ['-tls1_3']).cipher).toMatch(/^TLS_(AES_\d+_GCM_SHA\d+|CHACHA20_POLY1305_SHA256)$/);
      expect(handshake(w.port, ['-tls1_1']).ok).toBe(false);
    } finally {
      await w.stop();
    }
  }, 120_000);
});

describe('admissions in flight are bounded (real process)', () => {
  test('over --max-in-flight a request gets 429 with Retry-After at once, counted; the held requests still complete', async () => {
    const w = await startFileModeWebhook(pki, ['--max-in-flight=2']);
    const body = Buffer.from(review(fixturePod()));
    // Two requests that have sent their headers and half their body hold both slots.
    const held = [0, 1].map(
      () =>
        new Promise<{ socket: tls.TLSSocket; answer: Promise<string> }>((resolve) => {
          const socket = tls.connect({ host: '127.0.0.1', port: w.port, servername: 'localhost', ca: pki.ca.certPem }, () => {
            socket.write(`POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
            socket.write(body.subarray(0, 100));
            let text = '';
            const answer = new Promise<string>((done) => {
              socket.on('data', (d: Buffer) => {
                text += d.toString();
                if (text.includes('"uid"')) done(text);
              });
            });
            resolve({ socket, answer });
          });
        }),
    );
    try {
      const sockets = await Promise.all(held);
      // The server has both requests once their first body bytes arrived; wait for that, not for a time.
      let over = await request(w.port, pki.ca.certPem, { body: body.toString() });
      for (let i = 0; over.status !== 429 && i < 200; i++) {
        await new Promise((r) => setTimeout(r, 50));
        over = await request(w.port, pki.ca.certPem, { body: body.toString() });
      }
      expect(over.status).toBe(429);
      expect(over.headers['retry-after']).toBe('1');
      expect(await metricsText(w.metricsPort)).toMatch(/lxcfs_kit_webhook_errors_total\{kind="overloaded"\} [1-9]/);
      for (const s of sockets) s.socket.write(body.subarray(100));
      for (const s of sockets) expect(await s.answer).toMatch(/^HTTP\/1\.1 200 /);
      for (const s of sockets) s.socket.destroy();
      // Slots are given back: admissions flow again.
      let after = await request(w.port, pki.ca.certPem, { body: body.toString() });
      for (let i = 0; after.status === 429 && i < 200; i++) {
        await new Promise((r) => setTimeout(r, 50));
        after = await request(w.port, pki.ca.certPem, { body: body.toString() });
      }
      expect(after.status).toBe(200);
    } finally {
      await w.stop();
    }
  }, 120_000);
});

describe('memory (real process, RSS sampled)', () => {
  /** Bodies at the 4 MiB limit in the shapes that cost most memory once decoded. */
  function worstBodies(max: number): Buffer[] {
    const pod = fixturePod() as { spec: Record<string, unknown> };
    const manyContainers = JSON.parse(review(pod)) as { request: { object: { spec: Record<string, unknown> } } };
    manyContainers.request.object.spec.containers = Array.from({ length: Math.floor((max - 4096) / 3) }, () => ({}));
    const keys: string[] = [];
    for (let i = 0, size = 2; size < max - 64; i++) {
      const k = `"k${i}":1`;
      keys.push(k);
      size += k.length + 1;
    }
    // Accepted and injected: a pod as large as the limit allows, by one long value and by many small ones.
    const longAnnotation = fixturePod() as { metadata: { annotations?: Record<string, string> } };
    longAnnotation.metadata.annotations = { note: 'x'.repeat(max - 8192) };
    const manyEnv = fixturePod() as { spec: { containers: Record<string, unknown>[] } };
    manyEnv.spec.containers[0].env = Array.from({ length: Math.floor((max - 8192) / 64) }, (_, i) => ({ name: `VARIABLE_${i}`, value: `value-${i}` }));
    const bodies = [
      Buffer.from(review(longAnnotation)),
      Buffer.from(review(manyEnv)),
      Buffer.from(JSON.stringify(manyContainers).slice(0, max)),
      Buffer.from(`{${keys.join(',')}}`),
      Buffer.from(`[${'{},'.repeat(Math.floor(max / 3) - 2)}{}]`),
      Buffer.from(review(pod, { uid: 'u'.repeat(max - 4096) })),
    ];
    return bodies.map((b) => (b.length > max ? b.subarray(0, max) : b));
  }

  function rssMiB(pid: number): number {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  }

  test('with the bound of maximum-size requests in flight, RSS stays under the container memory limit with headroom', async () => {
    const maxBytes = WEBHOOK_FLAGS['max-request-bytes'].default;
    const inFlight = WEBHOOK_FLAGS['max-in-flight'].default;
    const limitMiB = parseInt(WEBHOOK_DEFAULTS.resources.limits?.memory ?? '', 10);
    expect(WEBHOOK_DEFAULTS.resources.limits?.memory).toMatch(/^\d+Mi$/);
    const w = await startFileModeWebhook(pki, ['--log-level=warn'], { NODE_OPTIONS: WEBHOOK_NODE_OPTIONS });
    const pid = w.proc.pid as number;
    const idle = rssMiB(pid);
    const samples: number[] = [];
    const sampler = setInterval(() => samples.push(rssMiB(pid)), 10);
    try {
      const bodies = worstBodies(maxBytes);
      const statuses = new Map<number, number>();
      for (let round = 0; round < 6; round++) {
        const answers = await Promise.all(
          Array.from({ length: inFlight }, (_, i) => request(w.port, pki.ca.certPem, { body: bodies[(i + round) % bodies.length] })),
        );
        for (const a of answers) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
      }
      clearInterval(sampler);
      const peak = Math.max(...samples);
      process.stdout.write(`webhook RSS with ${inFlight} x ${maxBytes} B requests in flight: peak ${peak.toFixed(1)} MiB (idle ${idle.toFixed(1)} MiB, under ts-node) over ${samples.length} samples (limit ${limitMiB} MiB); answers ${JSON.stringify(Object.fromEntries(statuses))}\n`);
      expect(w.proc.exitCode).toBeNull();
      // Every request was admitted to processing (none over the bound) and answered.
      expect(statuses.get(429)).toBeUndefined();
      expect(statuses.get(200)).toBeGreaterThan(0);
      expect(peak).toBeLessThan(limitMiB * 0.8);
    } finally {
      clearInterval(sampler);
      await w.stop();
    }
  }, 300_000);
});

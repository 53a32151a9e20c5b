/** Shared helpers of the webhook tests: real certificates, real HTTPS clients, admission reviews. */
import * as fs from 'fs';
import * as https from 'https';
import * as os from 'os';
import * as path from 'path';
import * as yaml from 'yaml';
import { createCa, issueServingCert, KeyPairPem } from '../../lib/webhook/tls';

export const REPO = path.resolve(__dirname, '..', '..');

export interface TestPki {
  readonly ca: KeyPairPem;
  readonly serving: KeyPairPem;
}

export function makePki(dnsNames: string[] = ['localhost'], lifetimeMs = 3600_000): TestPki {
  const ca = createCa('lxcfs-kit test CA', lifetimeMs * 2);
  return { ca, serving: issueServingCert(ca, dnsNames, lifetimeMs) };
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

export function request(
  port: number,
  ca: string,
  opts: { method?: string; path?: string; body?: string | Buffer; headers?: Record<string, string>; agent?: https.Agent; host?: string } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        servername: opts.host ?? 'localhost',
        port,
        ca,
        method: opts.method ?? 'POST',
        path: opts.path ?? '/mutate',
        // Explicit length: Node's client sends DELETE/OPTIONS bodies without one, which is a malformed stream.
        headers: { 'content-type': 'application/json', ...(opts.body !== undefined && !opts.headers?.['transfer-encoding'] ? { 'content-length': String(Buffer.byteLength(opts.body)) } : {}), ...opts.headers },
        agent: opts.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    // No test may hang on a stuck exchange: fail it instead.
    req.setTimeout(30_000, () => req.destroy(new Error('no answer within 30 s')));
    req.end(opts.body);
  });
}

export function review(object: unknown, over: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'e911857d-c318-11e8-bbad-025000000001',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      namespace: 'apps',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
      object,
      dryRun: false,
      ...over,
    },
  });
}

/** The pod the reference Deployment (test/fixtures/test-lxcfs-deployment.yaml) creates. */
export function fixturePod(): Record<string, unknown> {
  const doc = yaml.parse(fs.readFileSync(path.join(REPO, 'test', 'fixtures', 'test-lxcfs-deployment.yaml'), 'utf8')) as {
    spec: { template: { metadata: Record<string, unknown>; spec: Record<string, unknown> } };
  };
  return { apiVersion: 'v1', kind: 'Pod', metadata: { ...doc.spec.template.metadata, generateName: 'test-lxcfs-5d8f7c9b6-' }, spec: doc.spec.template.spec };
}

export interface AdmissionAnswer {
  uid: string;
  allowed: boolean;
  patchType?: string;
  patch?: string;
}

export function admissionResponse(body: string): AdmissionAnswer {
  const r = JSON.parse(body) as { apiVersion: string; kind: string; response: AdmissionAnswer };
  if (r.apiVersion !== 'admission.k8s.io/v1' || r.kind !== 'AdmissionReview') throw new Error(`not an AdmissionReview: ${body}`);
  return r.response;
}

export function decodePatch(a: AdmissionAnswer): unknown[] {
  return a.patch ? (JSON.parse(Buffer.from(a.patch, 'base64').toString('utf8')) as unknown[]) : [];
}

export interface WebhookProcess {
  readonly proc: import('child_process').ChildProcess;
  readonly port: number;
  readonly metricsPort: number;
  /** Every JSON log line so far, parsed. */
  readonly logs: Record<string, unknown>[];
  /** What the process wrote to stderr so far (its logs go to stdout). */
  stderr(): string;
  /** Resolves with the first log entry matching `pred` (polling the collected logs). */
  waitForLog(pred: (e: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(): Promise<number | null>;
}

/**
 * Runs `lxcfs-kit webhook` as a real process (ts-node, transpile only), waits
 * for its "listening" log line and returns the ports it bound.
 */
export async function startWebhookProcess(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<WebhookProcess> {
  const { spawn } = await import('child_process');
  // Tests stop replicas often; the SIGTERM drain delay has its own test.
  const all = args.some((a) => a.startsWith('--shutdown-delay')) ? args : ['--shutdown-delay=0', ...args];
  const proc = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'lib/cli.ts', 'webhook', ...all], {
    cwd: REPO,
    env: { ...process.env, TS_NODE_PROJECT: path.join(REPO, 'tsconfig.json'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  let buf = '';
  proc.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ msg: 'non-JSON output', line });
      }
    }
  });
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));

  const waitForLog = async (pred: (e: Record<string, unknown>) => boolean, ms = timeoutMs): Promise<Record<string, unknown>> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = logs.find(pred);
      if (hit) return hit;
      if (proc.exitCode !== null) throw new Error(`webhook exited with ${proc.exitCode}: ${stderr}\n${JSON.stringify(logs.slice(-20))}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for a log line; last logs: ${JSON.stringify(logs.slice(-10))}\nstderr: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  let listening: Record<string, unknown>;
  try {
    listening = await waitForLog((e) => e.msg === 'listening');
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  }
  return {
    proc,
    port: listening.port as number,
    metricsPort: listening.metricsPort as number,
    logs,
    stderr: () => stderr,
    waitForLog,
    stop: async () => {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/**
 * Runs the webhook in file mode on loopback, serving `pki.serving` from files in a
 * temporary directory that `stop()` removes.
 */
export async function startFileModeWebhook(pki: TestPki, args: string[] = [], env: Record<string, string> = {}): Promise<WebhookProcess> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcfs-kit-webhook-'));
  const certFile = path.join(dir, 'tls.crt');
  const keyFile = path.join(dir, 'tls.key');
  fs.writeFileSync(certFile, pki.serving.certPem);
  fs.writeFileSync(keyFile, pki.serving.keyPem);
  let w: WebhookProcess;
  try {
    w = await startWebhookProcess([`--tls-cert-file=${certFile}`, `--tls-key-file=${keyFile}`, '--address=127.0.0.1', '--port=0', '--metrics-port=0', '--repair-mode=off', ...args], env);
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    ...w,
    stop: async () => {
      const code = await w.stop();
      fs.rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}

/**
 * Polls `fn` until it yields a truthy value (errors count as "not yet"). The bound only ends a
 * wait that will never succeed: generous, because the machines running the suite are shared.
 */
export async function eventually<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 90_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out: ${what}${last ? ` (${last instanceof Error ? last.message : JSON.stringify(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

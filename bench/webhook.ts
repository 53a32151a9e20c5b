/**
 * `npm run bench:webhook`: admissions over TLS on loopback at fixed concurrency,
 * against two servers measured in the same run with the same client:
 *
 *   floor    a bare node:https server that returns one fixed AdmissionReview
 *            (the webhook's own answer for the benchmark pod, computed once)
 *   webhook  the real `lxcfs-kit webhook` process (files mode, default logging)
 *
 * Each server runs in its own process (one thread: "one core"). Prints
 * throughput, p50/p99 latency, the server's CPU time per admission and RSS side by side,
 * and the goals (CPU per admission within 1.5x the floor's among them).
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as https from 'https';
import * as os from 'os';
import * as path from 'path';
import * as yaml from 'yaml';
import { DEFAULT_LXCFS_FILES, DEFAULT_LXCFS_PATH } from '../lib/contract';
import { admit } from '../lib/webhook/admission';
import { WEBHOOK_NODE_OPTIONS } from '../lib/webhook/flags';
import { PodMutator } from '../lib/webhook/mutate';
import { createCa, issueServingCert } from '../lib/webhook/tls';

const REPO = path.resolve(__dirname, '..');
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 1500);
const MEASURE_MS = Number(process.env.BENCH_MEASURE_MS ?? 4000);
/** Floor and webhook take turns this many times, so load from elsewhere on the machine hits both alike. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

interface Result {
  readonly name: string;
  readonly requests: number;
  readonly errors: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly rssMiB: number;
  readonly peakRssMiB: number;
  /** Server CPU time per admission: its cost independent of the client's. */
  readonly cpuUsPerRequest: number;
  /** The kernel's part of it (TLS records go out through write(2) on loopback, which delivers them too). */
  readonly sysUsPerRequest: number;
  /** Share of one core the server used while measured. */
  readonly cpuShare: number;
}

function reviewBody(): string {
  const doc = yaml.parse(fs.readFileSync(path.join(REPO, 'test', 'fixtures', 'test-lxcfs-deployment.yaml'), 'utf8')) as {
    spec: { template: { metadata: Record<string, unknown>; spec: Record<string, unknown> } };
  };
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { ...doc.spec.template.metadata, generateName: 'test-lxcfs-' }, spec: doc.spec.template.spec };
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'bench',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
      object: pod,
    },
  });
}

/**
 * Transpiles lib/ to JavaScript under node_modules/.cache (so packages still
 * resolve), so the measured server runs as the image runs it: plain node, no
 * TypeScript compiler in memory.
 */
function compileLib(): string {
  // Loaded here only: the bench parent may use the compiler, the measured servers do not.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ts = require('typescript') as typeof import('typescript');
  const out = path.join(REPO, 'node_modules', '.cache', 'lxcfs-kit-bench');
  fs.rmSync(out, { recursive: true, force: true });
  const walk = (dir: string): string[] =>
    fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path.join(dir, e.name)] : []));
  for (const file of walk(path.join(REPO, 'lib'))) {
    const js = ts.transpileModule(fs.readFileSync(file, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, resolveJsonModule: true },
      fileName: file,
    }).outputText;
    const dest = path.join(out, path.relative(REPO, file)).replace(/\.ts$/, '.js');
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, js);
  }
  fs.copyFileSync(path.join(REPO, 'package.json'), path.join(out, 'package.json'));
  return path.join(out, 'lib', 'cli.js');
}

/**
 * The floor: the least any HTTPS admission server must do — read the body and
 * answer a fixed AdmissionReview — as plain JavaScript. The fixed answer is the
 * webhook's own answer for the benchmark pod (same bytes on the wire), so the
 * difference between the two is the per-request work of lxcfs-kit alone.
 */
const FLOOR_JS = `
const fs = require('fs');
const https = require('https');
const answer = fs.readFileSync(process.argv[3]);
const server = https.createServer({ cert: fs.readFileSync(process.argv[1]), key: fs.readFileSync(process.argv[2]), minVersion: 'TLSv1.2' }, (req, res) => {
  req.on('data', () => undefined);
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': answer.length });
    res.end(answer);
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ msg: 'listening', port: server.address().port }) + '\\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

/**
 * Starts a server with its stdout going to a file, as a container runtime's
 * log collector would take it, so the load generator never competes with log
 * reading; the "listening" line in that file gives the port.
 */
async function start(args: string[], logFile: string): Promise<{ proc: ChildProcess; port: number }> {
  const fd = fs.openSync(logFile, 'w');
  const proc = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', fd, 'inherit'] });
  fs.closeSync(fd);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode} before listening`);
    for (const line of fs.readFileSync(logFile, 'utf8').split('\n')) {
      try {
        const e = JSON.parse(line) as { msg?: string; port?: number };
        if (e.msg === 'listening' && typeof e.port === 'number') return { proc, port: e.port };
      } catch {
        // partial line
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill('SIGKILL');
  throw new Error('server did not start listening within 30 s');
}

function rssMiB(pid: number): { rss: number; peak: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** utime and stime of a process, in milliseconds. */
function cpuMs(pid: number): { user: number; sys: number } {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
  // After "pid (comm) ", utime and stime are fields 11 and 12 (0-based), in clock ticks (100 Hz on Linux).
  return { user: (Number(fields[11]) * 1000) / 100, sys: (Number(fields[12]) * 1000) / 100 };
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function load(name: string, port: number, ca: string, body: string, pid: number): Promise<Result> {
  const agent = new https.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const payload = Buffer.from(body);
  const one = (): Promise<boolean> =>
    new Promise((resolve) => {
      const req = https.request(
        { host: '127.0.0.1', port, servername: 'localhost', ca, agent, method: 'POST', path: '/mutate', headers: { 'content-type': 'application/json', 'content-length': payload.length } },
        (res) => {
          res.on('data', () => undefined);
          res.on('end', () => resolve(res.statusCode === 200));
        },
      );
      req.on('error', () => resolve(false));
      req.end(payload);
    });

  const latencies: number[] = [];
  let errors = 0;
  let measuring = false;
  let stop = false;
  const worker = async (): Promise<void> => {
    while (!stop) {
      const t0 = process.hrtime.bigint();
      const ok = await one();
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (measuring) {
        if (ok) latencies.push(ms);
        else errors++;
      }
    }
  };
  const workers = Array.from({ length: CONCURRENCY }, worker);
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  measuring = true;
  const cpu0 = cpuMs(pid);
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, MEASURE_MS));
  measuring = false;
  const elapsed = (Date.now() - t0) / 1000;
  const cpu1 = cpuMs(pid);
  const sys = cpu1.sys - cpu0.sys;
  const cpu = cpu1.user - cpu0.user + sys;
  const mem = rssMiB(pid);
  stop = true;
  await Promise.all(workers);
  agent.destroy();
  const sorted = Float64Array.from(latencies).sort();
  return { name, requests: latencies.length, errors, perSecond: latencies.length / elapsed, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), rssMiB: mem.rss, peakRssMiB: mem.peak, cpuUsPerRequest: (cpu * 1000) / Math.max(1, latencies.length), sysUsPerRequest: (sys * 1000) / Math.max(1, latencies.length), cpuShare: cpu / 1000 / elapsed };
}

async function stopProc(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  const done = new Promise((r) => proc.on('exit', r));
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await done;
  clearTimeout(t);
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcfs-kit-bench-'));
  const ca = createCa('bench CA', 3600_000);
  const serving = issueServingCert(ca, ['localhost'], 3600_000);
  const certFile = path.join(dir, 'tls.crt');
  const keyFile = path.join(dir, 'tls.key');
  fs.writeFileSync(certFile, serving.certPem);
  fs.writeFileSync(keyFile, serving.keyPem, { mode: 0o600 });
  const body = reviewBody();
  const rounds: [Result, Result][] = [];
  try {
    process.stdout.write(
      `lxcfs-kit webhook benchmark: TLS on loopback, concurrency ${CONCURRENCY}, ${ROUNDS} alternating rounds of ${WARMUP_MS} ms warm-up + ${MEASURE_MS} ms measured, ` +
        `${os.cpus().length} CPUs (load ${os.loadavg()[0].toFixed(2)}), node ${process.version} ${WEBHOOK_NODE_OPTIONS}\n`,
    );
    const cli = compileLib();
    // Both servers run with the node options the webhook image uses (plus any BENCH_NODE_ARGS).
    const nodeArgs = [...WEBHOOK_NODE_OPTIONS.split(' '), ...(process.env.BENCH_NODE_ARGS ?? '').split(' ')].filter(Boolean);
    const answerFile = path.join(dir, 'answer.json');
    fs.writeFileSync(answerFile, admit(body, PodMutator.fromFlags(DEFAULT_LXCFS_PATH, DEFAULT_LXCFS_FILES, '')).body);
    const floor = await start([...nodeArgs, '-e', FLOOR_JS, certFile, keyFile, answerFile], path.join(dir, 'floor.log'));
    const webhook = await start(
      [...nodeArgs, cli, 'webhook', ...(process.env.BENCH_WEBHOOK_ARGS ?? '').split(' ').filter(Boolean), `--tls-cert-file=${certFile}`, `--tls-key-file=${keyFile}`, '--address=127.0.0.1', '--port=0', '--metrics-port=0', '--repair-mode=off', '--shutdown-delay=0'],
      path.join(dir, 'webhook.log'),
    ).catch(async (err: unknown) => {
      await stopProc(floor.proc);
      throw err;
    });
    try {
      for (let i = 0; i < ROUNDS; i++) {
        const f = await load('floor (bare HTTPS, fixed answer)', floor.port, ca.certPem, body, floor.proc.pid!);
        const w = await load('lxcfs-kit webhook (mutating)', webhook.port, ca.certPem, body, webhook.proc.pid!);
        rounds.push([f, w]);
      }
    } finally {
      await Promise.all([stopProc(floor.proc), stopProc(webhook.proc)]);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const rows = [['round', 'server', 'admissions/s', 'p50 ms', 'p99 ms', 'server CPU µs/adm', 'of it sys', 'server CPU %', 'RSS MiB', 'peak RSS MiB', 'errors']];
  rounds.forEach((pair, i) => {
    for (const r of pair) rows.push([String(i + 1), r.name, r.perSecond.toFixed(0), r.p50Ms.toFixed(2), r.p99Ms.toFixed(2), r.cpuUsPerRequest.toFixed(0), r.sysUsPerRequest.toFixed(0), (r.cpuShare * 100).toFixed(0), r.rssMiB.toFixed(1), r.peakRssMiB.toFixed(1), String(r.errors)]);
  });
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) process.stdout.write(`${r.map((c, i) => (i <= 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')}\n`);

  // Medians over the rounds: one noisy round (a neighbour's burst) does not decide the verdict.
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const wRate = median(rounds.map(([, w]) => w.perSecond));
  const wP99 = median(rounds.map(([, w]) => w.p99Ms));
  const fP99 = median(rounds.map(([f]) => f.p99Ms));
  const ratio = median(rounds.map(([f, w]) => w.p99Ms / f.p99Ms));
  const peak = Math.max(...rounds.map(([, w]) => w.peakRssMiB));
  const wCpu = median(rounds.map(([, w]) => w.cpuUsPerRequest));
  const fCpu = median(rounds.map(([f]) => f.cpuUsPerRequest));
  const cpuRatio = median(rounds.map(([f, w]) => w.cpuUsPerRequest / f.cpuUsPerRequest));
  const goal = (ok: boolean, text: string): string => `  [${ok ? 'met' : 'MISSED'}] ${text}`;
  process.stdout.write(
    [
      '',
      `goals (medians over ${rounds.length} rounds):`,
      goal(wRate >= 2000, `>= 2,000 admissions/s: ${wRate.toFixed(0)}/s`),
      goal(wP99 <= 5, `p99 <= 5 ms: ${wP99.toFixed(2)} ms`),
      goal(ratio <= 1.5, `p99 within 1.5x the floor: ${ratio.toFixed(2)}x (floor p99 ${fP99.toFixed(2)} ms)`),
      goal(peak <= 100, `RSS <= 100 MiB: peak ${peak.toFixed(1)} MiB`),
      goal(cpuRatio <= 1.5, `server CPU per admission within 1.5x the floor's: ${cpuRatio.toFixed(2)}x (${wCpu.toFixed(0)} µs against ${fCpu.toFixed(0)} µs)`),
      `load average at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});

/**
 * npm run bench:recovery — what containers experience after kill -9 of lxcfs, beside the floor
 * measured in the same run, and what the agent costs at rest. Linux, root, lxcfs, runc,
 * busybox-static, cc.
 *
 * Recovery, for N real runc containers with the 8 injected lxcfs files each (sizes: BENCH_SIZES,
 * default 200,1000; BENCH_KILLS kills per size, default 3): bench/recovery-probe.c kills lxcfs
 * and times each container on its own — it watches the container's mount table (poll on
 * /proc/<pid>/mountinfo) and, on each change, checks that every file of the container sits on a new
 * device (one FUSE connection) and reads one of them through the container's own mount
 * (BENCH_PROBE=read-all reads every file: see the probe for why that measures lxcfs's content
 * generation instead); a container's time is kill → that read answered. The probe's lag (wake-up → time
 * recorded) and its CPU time are printed. After the kills every container is asked with runc exec
 * what it reads (its own cgroup's limits: 1 processor, MemTotal 1048576 kB).
 *
 * Floor, same run: a fresh lxcfs start (spawn → first answered read) plus the mount helper
 * re-attaching the same N × 8 mounts in one loop (one helper process, no scan, no probe).
 *
 * At rest: a periodic pass with N containers and 1,000 / 5,000 / 10,000 host processes (idle
 * processes are added by bench/idle-processes.c): CPU per pass, and what that is at the default
 * interval, in % of one core.
 */
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createInterface } from 'readline';
import { AGENT_FLAGS } from '../lib/agent/flags';
import { Candidate, replaceRequest } from '../lib/agent/heal-plan';
import { MAX_PARALLEL_HELPERS, MountHelper } from '../lib/agent/helper';
import { LXCFS_FSTYPE, topMounts } from '../lib/agent/mountinfo';
import { HelperRequest, namespaceInode } from '../lib/agent/protocol';
import { mountNamespaceOf, scanNamespaces } from '../lib/agent/scan';
import { AGENT_IMAGE_NODE_FLAGS, AgentProcess, AgentStatus, sleep } from '../test/e2e/support/agent-process';
import { E2EEnv } from '../test/e2e/support/env';
import { missingPrerequisites } from '../test/e2e/support/prereqs';
import { Container, EXPECTED_VIEW, mapLimit } from '../test/e2e/support/runc';

const SIZES = (process.env.BENCH_SIZES ?? '200,1000').split(',').map(Number);
const KILLS = Number(process.env.BENCH_KILLS ?? 3);
const PROCESS_COUNTS = (process.env.BENCH_PROCESSES ?? '1000,5000,10000').split(',').map(Number);
const GOALS_MS: Record<number, number> = { 200: 150, 1000: 500 };
const PROBE_MODE = process.env.BENCH_PROBE === 'read-all' ? ['read-all'] : [];
/**
 * The probe's threads and how long a wake-up gathers changes, per size: enough threads that a
 * batch of containers recovering at once is recorded within a tenth of the figure (about 25
 * containers a thread at N = 200), and no more, since its CPU comes out of the agent's (at N =
 * 1,000, 8 threads and 1 ms cost 200 ms of CPU per kill, 2 threads and 3 ms 120 ms).
 */
const probeShape = (n: number): { threads: number; gatherUs: number } => (n <= 250 ? { threads: 8, gatherUs: 1000 } : { threads: 2, gatherUs: 3000 });
const DEFAULT_INTERVAL_S = AGENT_FLAGS['reconcile-interval'].default;
const AT_REST_INTERVAL_S = 1;
const AT_REST_PASSES = 8;

const log = (line: string): void => void process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const loadavg = (): string => os.loadavg().map((l) => l.toFixed(2)).join(' ');

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}
const median = (xs: readonly number[]): number => quantile(xs, 0.5);
const pad = (v: string | number, n: number): string => String(v).padStart(n);

function compile(source: string, out: string): string {
  execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-pthread', '-o', out, path.join(__dirname, source)], { stdio: 'inherit' });
  return out;
}

interface ProbeResult {
  /** Per container: ms from the kill until every file answered. */
  readonly perContainerMs: number[];
  readonly lagMs: number[];
  readonly via: Record<string, number>;
  readonly broken: number;
  readonly cpuMs: number;
  readonly reads: number;
  readonly lxcfsDeadMs: number;
  /** When the probe sent the kill (ms since the epoch, as the agent's status reports times). */
  readonly killedAt: number;
}

/** One kill of lxcfs, timed per container by the probe. */
async function probeRecovery(probe: string, lxcfsPid: number, containers: readonly Container[], files: readonly string[]): Promise<ProbeResult> {
  const shape = probeShape(containers.length);
  const child = spawn(probe, [String(lxcfsPid), '60000', files.join(','), ...PROBE_MODE], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, PROBE_THREADS: String(shape.threads), PROBE_GATHER_US: String(shape.gatherUs) },
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const out: string[] = [];
  let ready: () => void = () => undefined;
  const isReady = new Promise<void>((r) => (ready = r));
  lines.on('line', (l) => (l === 'ready' ? ready() : out.push(l)));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  child.stdin?.write(`${containers.map((c) => c.initPid).join('\n')}\n\n`);
  await Promise.race([isReady, exited]);
  child.stdin?.end('go\n');
  const code = await exited;
  await new Promise((r) => setImmediate(r));
  if (code !== 0) throw new Error(`recovery probe exited with ${String(code)}: ${out.slice(-3).join(' | ')}`);
  const perContainerMs: number[] = [];
  const lagMs: number[] = [];
  const via: Record<string, number> = {};
  let summary: string[] = [];
  for (const l of out) {
    const f = l.split(' ');
    if (f[0] === 'c') {
      perContainerMs.push(Number(f[2]) / 1000);
      lagMs.push(Number(f[3]) / 1000);
      via[f[4]] = (via[f[4]] ?? 0) + 1;
    } else if (f[0] === 's') summary = f;
  }
  return {
    perContainerMs,
    lagMs,
    via,
    broken: Number(summary[1]),
    cpuMs: Number(summary[2]) / 1000,
    reads: Number(summary[3]),
    lxcfsDeadMs: Number(summary[5]) / 1000,
    killedAt: Number(summary[6]),
  };
}

/** One fresh lxcfs: spawn to first answered read of proc/meminfo. */
async function freshLxcfsStartMs(dir: string): Promise<number> {
  const mnt = fs.mkdtempSync(path.join(dir, 'fresh-'));
  const t0 = process.hrtime.bigint();
  const child = spawn('lxcfs', ['-f', '-l', '--enable-cfs', '-p', `${mnt}.pid`, mnt], { stdio: 'ignore' });
  for (;;) {
    try {
      fs.readFileSync(path.join(mnt, 'proc/meminfo'));
      break;
    } catch {
      await sleep(1);
    }
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const exited = new Promise((r) => child.on('exit', r));
  child.kill('SIGKILL');
  await exited;
  execFileSync('umount', ['-l', mnt], { stdio: 'ignore' });
  fs.rmSync(mnt, { recursive: true, force: true });
  fs.rmSync(`${mnt}.pid`, { force: true });
  return ms;
}

/** The agent's lxcfs instance mount (its clones are what containers get). */
function instanceMountDir(env: E2EEnv, device: string): string {
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[2] === device && f[4]?.startsWith(path.join(env.stateDir, 'instances')) && line.includes(` - ${LXCFS_FSTYPE} `)) return f[4];
  }
  throw new Error(`no lxcfs instance mount of device ${device} under ${env.stateDir}`);
}

/** The floor's syscall part: the helper re-attaching every container mount in one loop, nothing else. */
async function helperLoopMs(helper: MountHelper, containers: readonly Container[], mountDir: string, parallel: number): Promise<{ ms: number; mounts: number; ok: number }> {
  const wanted = new Set(containers.map((c) => mountNamespaceOf(c.initPid)));
  const requests: HelperRequest[] = [];
  for (const ns of scanNamespaces().withLxcfs) {
    if (!wanted.has(ns.namespace)) continue;
    const ino = namespaceInode(ns.namespace) as bigint;
    for (const m of topMounts(ns.mounts)) {
      if (m.fsType !== LXCFS_FSTYPE) continue;
      const c: Candidate = { ns, mount: m, key: `${ns.namespace} ${m.mountId}` };
      requests.push(replaceRequest(c, ino, mountDir));
    }
  }
  const chunks: HelperRequest[][] = Array.from({ length: parallel }, () => []);
  requests.forEach((r, i) => chunks[Math.floor((i * parallel) / requests.length)].push(r));
  const t0 = process.hrtime.bigint();
  const outcomes = (await Promise.all(chunks.map((c) => helper.run(c)))).flat();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  return { ms, mounts: requests.length, ok: outcomes.filter((o) => o.result === 'ok').length };
}

/** CPU of a process (utime+stime) and of its reaped children (cutime+cstime), in ms. */
function cpuSplitOf(pid: number): { own: number; children: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // /proc counts in USER_HZ ticks, 100 a second on Linux whatever the kernel's HZ.
  const ms = (ticks: number): number => ticks * 10;
  return { own: ms(Number(f[11]) + Number(f[12])), children: ms(Number(f[13]) + Number(f[14])) };
}

/** utime+stime of a process and its reaped children, in ms. */
function cpuMsOf(pid: number): number {
  const { own, children } = cpuSplitOf(pid);
  return own + children;
}

function rssMiB(pid: number): { rss: number; peak: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

const hostProcesses = (): number => fs.readdirSync('/proc').filter((n) => /^[0-9]+$/.test(n)).length;

/** Adds idle host processes until /proc lists `target`; the returned child holds them. */
async function topUpProcesses(forker: string, target: number): Promise<ChildProcess | undefined> {
  const missing = target - hostProcesses();
  if (missing <= 0) return undefined;
  const child = spawn(forker, [String(missing)], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`idle-processes exited with ${String(code)}`)));
  });
  return child;
}

async function stopProcesses(child: ChildProcess | undefined): Promise<void> {
  if (!child) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.stdin?.end();
  await exited;
}

interface Phases {
  readonly hostPathMs?: number;
  readonly indexMs?: number;
  readonly fromIndex?: number;
  readonly scanMs?: number;
  readonly probeMs?: number;
  readonly attachMs?: number;
  readonly helpers?: number;
}

async function main(): Promise<void> {
  const missing = missingPrerequisites();
  if (missing.length > 0) {
    process.stderr.write(`bench:recovery needs ${missing.join(', ')}\n`);
    process.exitCode = 1;
    return;
  }
  const env = new E2EEnv('bench');
  const forkers: ChildProcess[] = [];
  const cleanup = async (): Promise<void> => {
    for (const f of forkers) await stopProcesses(f);
    await env.cleanup();
  };
  process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
  const report: string[] = [];
  const say = (line: string): void => {
    report.push(line);
    log(line);
  };
  try {
    const probe = compile('recovery-probe.c', path.join(env.dir, 'recovery-probe'));
    const forker = compile('idle-processes.c', path.join(env.dir, 'idle-processes'));
    // As the agent image runs node (AGENT_IMAGE_NODE_FLAGS); BENCH_AGENT_NODE_FLAGS overrides, to compare.
    const nodeFlags = process.env.BENCH_AGENT_NODE_FLAGS?.split(' ').filter(Boolean) ?? AGENT_IMAGE_NODE_FLAGS;
    // Kills back to back on purpose: no crash-loop backoff in the measurement. heal-scope state-dir:
    // other suites may run on this host; this agent touches only its own containers.
    const agentArgs = (interval: number): string[] => [`--reconcile-interval=${interval}`, '--restart-burst=1000', '--heal-scope=state-dir'];
    let agent: AgentProcess = env.startAgent({ extraArgs: agentArgs(DEFAULT_INTERVAL_S), nodeFlags });
    await agent.waitReady();
    const files = env.fileMounts.map((m) => m.mountPath);
    const helper = new MountHelper(env.helper);
    const containers: Container[] = [];
    const recoveryRows: string[] = [];
    const floorRows: string[] = [];
    const restRows: string[] = [];
    say(`machine: ${os.cpus().length} cores, kernel ${os.release()}; agent: node ${nodeFlags.join(' ')}`);
    for (const n of SIZES) {
      const ids = Array.from({ length: n - containers.length }, (_, i) => `bench-${containers.length + i}`);
      log(`starting ${ids.length} containers (total ${n})...`);
      let started = 0;
      containers.push(
        ...(await mapLimit(ids, 4, async (id) => {
          const c = await env.runc.run(id, 'exec sleep 1000000');
          if (++started % 100 === 0) log(`  ${started}/${ids.length} started (load ${loadavg()})`);
          return c;
        })),
      );
      // The agent attaches nothing for running containers: they were created on its lxcfs. The
      // first kill comes right after the start, before a periodic pass indexed the new containers
      // (cold: found by the scan); the pass after a restart indexes them all, so the next kills
      // are warm (re-attached from the index before any scan), as for containers that ran a while.
      const kills: {
        all: number;
        p50: number;
        p99: number;
        lagMax: number;
        cpu: number;
        spent: { agent: number; helpers: number; lxcfs: number };
        status: AgentStatus;
        restartMs: number;
        r: ProbeResult;
        load: string;
        indexed: number;
      }[] = [];
      const cold: (typeof kills)[number][] = [];
      for (let k = 0; k <= KILLS; k++) {
        const before = await agent.status();
        const indexed = (before.lastReconcile as { indexed?: number } | null)?.indexed ?? 0;
        const cpu0 = cpuSplitOf(agent.pid);
        const r = await probeRecovery(probe, before.lxcfsPid as number, containers, files);
        const after = await agent.waitStatus((s) => s.reconciles > before.reconciles && s.lxcfsPid !== before.lxcfsPid && s.ready, 'reconcile after the kill');
        const cpu1 = cpuSplitOf(agent.pid);
        // The whole pass (index, scan and the rest), the helpers it ran, and the new lxcfs since its start.
        const spent = { agent: cpu1.own - cpu0.own, helpers: cpu1.children - cpu0.children, lxcfs: cpuSplitOf(after.lxcfsPid as number).own };
        const all = Math.max(...r.perContainerMs);
        const row = {
          all,
          p50: median(r.perContainerMs),
          p99: quantile(r.perContainerMs, 0.99),
          lagMax: Math.max(...r.lagMs),
          cpu: r.cpuMs,
          spent,
          status: after,
          restartMs: (after.lxcfsServingSince ?? r.killedAt) - r.killedAt,
          r,
          load: loadavg(),
          indexed,
        };
        (k === 0 ? cold : kills).push(row);
        const ph = (after.lastReconcile as { phases?: Phases } | null)?.phases ?? {};
        log(
          `N=${n} kill ${k + 1} (${indexed} mounts indexed before): all containers ${all.toFixed(0)} ms (per container p50 ${row.p50.toFixed(0)}, p99 ${row.p99.toFixed(0)}); ` +
            `broken at start ${r.broken}/${n}; CPU ms: agent ${spent.agent}, helpers ${spent.helpers}, lxcfs ${spent.lxcfs}; probe lag p50 ${median(r.lagMs).toFixed(1)} / p99 ${quantile(r.lagMs, 0.99).toFixed(1)} / max ${row.lagMax.toFixed(1)} ms, probe CPU ${r.cpuMs.toFixed(0)} ms, ${r.reads} reads, via ${JSON.stringify(r.via)}; ` +
            `lxcfs serving again after ~${row.restartMs} ms; reconcile ${((after.lastReconcile?.seconds ?? 0) * 1000).toFixed(0)} ms ${JSON.stringify(ph)}; memory MiB ${JSON.stringify(after.memoryMiB)}; load ${row.load}`,
        );
        await sleep(500);
      }
      const fresh: number[] = [];
      const loops: number[] = [];
      const loops2: number[] = [];
      const mountDir = instanceMountDir(env, (await agent.status()).lxcfsDevice as string);
      let loopMounts = 0;
      for (let k = 0; k < KILLS; k++) {
        fresh.push(await freshLxcfsStartMs(env.dir));
        const one = await helperLoopMs(helper, containers, mountDir, 1);
        const two = await helperLoopMs(helper, containers, mountDir, MAX_PARALLEL_HELPERS);
        if (one.ok !== one.mounts || two.ok !== two.mounts) throw new Error(`the helper loop re-attached ${one.ok}/${one.mounts} and ${two.ok}/${two.mounts} mounts`);
        loopMounts = one.mounts;
        loops.push(one.ms);
        loops2.push(two.ms);
      }
      log(`verifying what each of the ${n} containers reads (runc exec)...`);
      let checked = 0;
      const views = await mapLimit(containers, 4, async (c) => {
        const v = await c.view();
        if (++checked % 200 === 0) log(`  ${checked}/${n} checked`);
        return v;
      });
      const correct = views.filter((v) => JSON.stringify(v) === JSON.stringify(EXPECTED_VIEW)).length;
      const mem = rssMiB(agent.pid);
      const alls = kills.map((x) => x.all);
      const phases = kills.map((x) => (x.status.lastReconcile as { phases?: Phases } | null)?.phases ?? {});
      const goal = GOALS_MS[n];
      recoveryRows.push(
        `${pad(n, 5)}  ${pad(median(alls).toFixed(0), 10)}  ${pad(Math.max(...alls).toFixed(0), 6)}  ${pad(median(kills.map((x) => x.p50)).toFixed(0), 13)}  ` +
          `${pad(median(kills.map((x) => x.restartMs)).toFixed(0), 13)}  ${pad(median(phases.map((p) => p.indexMs ?? NaN)).toFixed(0), 8)}  ${pad(median(phases.map((p) => p.scanMs ?? NaN)).toFixed(0), 7)}  ${pad(median(phases.map((p) => p.attachMs ?? NaN)).toFixed(0), 9)}  ` +
          `${pad(`${Math.max(...kills.map((x) => quantile(x.r.lagMs, 0.99))).toFixed(0)}/${Math.max(...kills.map((x) => x.lagMax)).toFixed(0)}`, 16)}  ${pad(median(kills.map((x) => x.cpu)).toFixed(0), 12)}  ${pad(`${median(kills.map((x) => x.spent.agent))}/${median(kills.map((x) => x.spent.helpers))}/${median(kills.map((x) => x.spent.lxcfs))}`, 26)}  ${pad(`${correct}/${n}`, 9)}  ${pad(mem.rss.toFixed(1), 7)}  ${pad(mem.peak.toFixed(1), 8)}  ` +
          `${pad(cold.map((x) => `${x.all.toFixed(0)} (${x.indexed})`).join(), 15)}  ` +
          `${goal === undefined ? '' : `goal <= ${goal} ms: ${median(alls) <= goal ? 'met' : 'NOT met'}`}  load ${kills[kills.length - 1].load}`,
      );
      floorRows.push(
        `${pad(n, 5)}  ${pad(loopMounts, 6)}  ${pad(median(fresh).toFixed(0), 14)}  ${pad(median(loops).toFixed(0), 14)}  ${pad(median(loops2).toFixed(0), 14)}  ` +
          `${pad((median(fresh) + median(loops)).toFixed(0), 8)}  ${pad(((median(loops) * 1000) / loopMounts).toFixed(0), 12)}  load ${loadavg()}`,
      );
      if (correct !== n) say(`N=${n}: ${n - correct} containers do not read their own limits, e.g. ${JSON.stringify(views.find((v) => JSON.stringify(v) !== JSON.stringify(EXPECTED_VIEW)))}`);

      // At rest: a fresh agent that passes every second; CPU per pass from its process accounting.
      await agent.stop();
      agent = env.startAgent({ extraArgs: agentArgs(AT_REST_INTERVAL_S), nodeFlags });
      await agent.waitReady();
      for (const p of PROCESS_COUNTS) {
        const held = await topUpProcesses(forker, p);
        if (held) forkers.push(held);
        const s0 = await agent.waitStatus((s) => s.reconciles >= 1, 'a first pass');
        await agent.waitStatus((s) => s.reconciles >= s0.reconciles + 2, 'two passes with the processes');
        // No polling of /status in the window: its answers would count as the agent's CPU.
        const a = await agent.status();
        const cpu0 = cpuMsOf(agent.pid);
        await sleep(AT_REST_PASSES * AT_REST_INTERVAL_S * 1000 + 300);
        const cpu1 = cpuMsOf(agent.pid);
        const b = await agent.status();
        const perPass = (cpu1 - cpu0) / (b.reconciles - a.reconciles);
        const ph = (b.lastReconcile as { phases?: Phases; cpuMs?: number } | null) ?? {};
        restRows.push(
          `${pad(n, 5)}  ${pad(hostProcesses(), 9)}  ${pad(b.lastReconcile?.namespaces ?? 0, 10)}  ${pad(perPass.toFixed(1), 16)}  ${pad(((ph as { cpuMs?: number }).cpuMs ?? NaN).toFixed(1), 13)}  ` +
            `${pad(((b.lastReconcile?.seconds ?? 0) * 1000).toFixed(0), 11)}  ${pad(((perPass / (DEFAULT_INTERVAL_S * 1000)) * 100).toFixed(2), 14)}  load ${loadavg()}`,
        );
        log(`at rest: N=${n}, ${hostProcesses()} processes: ${perPass.toFixed(1)} ms CPU per pass`);
      }
      for (const f of forkers.splice(0)) await stopProcesses(f);
      await agent.stop();
      agent = env.startAgent({ extraArgs: agentArgs(DEFAULT_INTERVAL_S), nodeFlags });
      await agent.waitReady();
    }
    process.stdout.write(
      [
        '',
        `lxcfs-kit agent recovery after kill -9 of lxcfs (${KILLS} kills per N; ${files.length} lxcfs files per container; goals: p50 <= 150 ms at N=200, <= 500 ms at N=1000; RSS <= 64 MiB)`,
        `${os.cpus().length} cores, load average at the end: ${loadavg()}; agent: node ${nodeFlags.join(' ')}`,
        '    N  all ms p50  max ms  container p50  lxcfs back ms  index ms  scan ms  attach ms  probe lag p99/max  probe CPU ms  CPU ms agent/helpers/lxcfs  read own  RSS MiB  peak MiB  cold ms (indexed)',
        ...recoveryRows,
        '',
        'all ms = kill -9 of lxcfs until the last container was served again: all its files on the new lxcfs, one read through its own mount (p50 and max over the kills);',
        `all, max, container p50: over ${KILLS} warm kills (every container indexed by an earlier pass, as after a periodic pass);`,
        'cold = the first kill, right after the containers started (the mounts the agent had indexed, of N x 8): found by the scan;',
        'container p50 = the median container; lxcfs back = kill until the new lxcfs served (agent status);',
        'index/scan/attach = the agent pass: re-attach from the index, then the scan (with its re-attaches) and its tail;',
        'probe lag = time from the wake-up on a mount change to the probe recording the container (its granularity), p99 and max over',
        'the containers of the worst kill; probe CPU = the probe process per kill (it competes with the agent for the cores);',
        'CPU agent/helpers/lxcfs = per kill (median), the agent process over its whole pass (index, scan and the rest), the helpers it ran, and the new lxcfs since its start;',
        `probe: ${PROBE_MODE.length > 0 ? 'every file read' : 'per container: every file on the new lxcfs device, one of them read (each file in 1/8 of the containers)'} (BENCH_PROBE=read-all: every file read);`,
        `probe threads and gathering per wake-up: ${SIZES.map((n) => `N=${n}: ${probeShape(n).threads} threads, ${probeShape(n).gatherUs / 1000} ms`).join('; ')} (real-time priority);`,
        'read own = containers that read their own limits (runc exec: 1 processor, MemTotal 1048576 kB) after the kills.',
        '',
        'floor (same run):',
        `    N  mounts  fresh lxcfs ms  helper loop ms  ${MAX_PARALLEL_HELPERS} helpers ms  floor ms  µs per mount`,
        ...floorRows,
        'floor = a fresh lxcfs start (spawn until the first answered read) + one helper re-attaching every mount in a loop.',
        '',
        `at rest (periodic pass; default interval ${DEFAULT_INTERVAL_S} s, goal <= 1% of one core with 1000 containers and 10000 processes):`,
        '    N  processes  namespaces  CPU ms per pass  agent-timed ms  pass wall ms  % core @ default',
        ...restRows,
        `CPU per pass = the agent process's CPU (user+system, helpers included) over ${AT_REST_PASSES} passes at a ${AT_REST_INTERVAL_S} s interval, per pass; % core = that / ${DEFAULT_INTERVAL_S} s.`,
        '',
        ...report.filter((l) => !l.startsWith('machine:')),
      ].join('\n'),
    );
  } finally {
    await cleanup();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:recovery: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});

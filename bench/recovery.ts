/**
 * npm run bench:recovery — time from lxcfs death to every container reading
 * through its lxcfs mounts again, for N = 10, 50 and 200 real runc containers,
 * printed beside the time one fresh lxcfs start takes on this machine in the
 * same run, and the agent's memory. Linux, root, lxcfs, runc, busybox-static, cc.
 *
 * "Recovered" = each of the container's lxcfs files answers a read through the
 * container's own mount namespace (/proc/<pid>/root/...). The values a process
 * in the container sees are then checked with runc exec on a sample.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { AgentProcess, alive, sleep } from '../test/e2e/support/agent-process';
import { E2EEnv } from '../test/e2e/support/env';
import { missingPrerequisites } from '../test/e2e/support/prereqs';
import { Container, EXPECTED_VIEW, mapLimit } from '../test/e2e/support/runc';

const SIZES = [10, 50, 200];
const RUNS_PER_SIZE = 3;
const SAMPLE = 10;
const AGENT_NODE_FLAGS = '--max-semi-space-size=1';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
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
  child.kill('SIGTERM');
  const exited = new Promise((r) => child.on('exit', r));
  // lxcfs leaves its FUSE loop only at the next request.
  setTimeout(() => child.kill('SIGKILL'), 500);
  await exited;
  spawn('umount', ['-l', mnt], { stdio: 'ignore' }).on('exit', () => fs.rmSync(mnt, { recursive: true, force: true }));
  return ms;
}

/** Kills lxcfs, then waits until every lxcfs file of every container answers through the container's mounts. */
async function measureRecovery(agent: AgentProcess, containers: readonly Container[], files: readonly string[]): Promise<{ ms: number; reconcileMs: number }> {
  const before = await agent.status();
  const lxcfsPid = before.lxcfsPid as number;
  const t0 = process.hrtime.bigint();
  process.kill(lxcfsPid, 'SIGKILL');
  while (alive(lxcfsPid)) await sleep(1);
  // Proof that the mounts really broke: a container's file must fail now (unless the agent was even faster).
  const pending = new Set<string>();
  for (const c of containers) for (const f of files) pending.add(`/proc/${c.initPid}/root${f}`);
  while (pending.size > 0) {
    for (const p of pending) {
      try {
        fs.readFileSync(p);
        pending.delete(p);
      } catch {
        // still stale
      }
    }
    if (pending.size > 0) await sleep(1);
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const after = await agent.waitStatus((s) => s.reconciles > before.reconciles && s.lxcfsPid !== lxcfsPid, 'reconcile after the kill');
  return { ms, reconcileMs: (after.lastReconcile?.seconds ?? 0) * 1000 };
}

function rssMiB(pid: number): { rss: number; peak: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

async function main(): Promise<void> {
  const missing = missingPrerequisites();
  if (missing.length > 0) {
    process.stderr.write(`bench:recovery needs ${missing.join(', ')}\n`);
    process.exitCode = 1;
    return;
  }
  const env = new E2EEnv('bench');
  const cleanup = async (): Promise<void> => {
    await env.cleanup();
  };
  process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    // Every dead lxcfs mount on the node, as in production.
    // The agent image runs node with a 1 MiB young generation (NODE_OPTIONS); override to compare.
    const nodeFlags = (process.env.BENCH_AGENT_NODE_FLAGS ?? AGENT_NODE_FLAGS).split(' ').filter(Boolean);
    // The kills are back to back on purpose: no crash-loop backoff in the measurement.
    const agent = env.startAgent({ extraArgs: ['--reconcile-interval=30', '--restart-burst=100'], nodeFlags });
    await agent.waitReady();
    const files = env.fileMounts.map((m) => m.mountPath);
    const containers: Container[] = [];
    const rows: string[] = [];
    const fresh: number[] = [];
    for (const n of SIZES) {
      const ids = Array.from({ length: n - containers.length }, (_, i) => `bench-${containers.length + i}`);
      process.stderr.write(`starting ${ids.length} containers (total ${n})...\n`);
      containers.push(...(await mapLimit(ids, 4, (id) => env.runc.run(id, 'exec sleep 1000000'))));
      const runs: number[] = [];
      const reconciles: number[] = [];
      for (let r = 0; r < RUNS_PER_SIZE; r++) {
        const m = await measureRecovery(agent, containers, files);
        runs.push(m.ms);
        reconciles.push(m.reconcileMs);
        fresh.push(await freshLxcfsStartMs(env.dir));
      }
      const sample = containers.filter((_, i) => i % Math.max(1, Math.floor(containers.length / SAMPLE)) === 0).slice(0, SAMPLE);
      const views = await mapLimit(sample, 4, (c) => c.view());
      const correct = views.filter((v) => JSON.stringify(v) === JSON.stringify(EXPECTED_VIEW)).length;
      const mem = rssMiB(agent.pid);
      rows.push(
        `${String(n).padStart(5)}  ${median(runs).toFixed(0).padStart(13)}  ${Math.max(...runs).toFixed(0).padStart(8)}  ${median(reconciles).toFixed(0).padStart(17)}  ` +
          `${median(fresh).toFixed(0).padStart(19)}  ${`${correct}/${sample.length}`.padStart(14)}  ${mem.rss.toFixed(1).padStart(9)}  ${mem.peak.toFixed(1).padStart(10)}`,
      );
    }
    process.stdout.write(
      [
        '',
        `lxcfs-kit agent recovery after kill -9 of lxcfs (${RUNS_PER_SIZE} kills per N; ${files.length} lxcfs files per container; goal <= 1000 ms at N=200, RSS <= 64 MiB)`,
        `agent: node ${nodeFlags.join(' ') || '(no flags)'} (set BENCH_AGENT_NODE_FLAGS to compare)`,
        '    N  recovery ms p50  max ms  agent reconcile ms  fresh lxcfs start ms  sample correct  RSS MiB  peak MiB',
        ...rows,
        '',
        'recovery = lxcfs death until every lxcfs file of every container answers through its own mounts;',
        'fresh lxcfs start = spawning one lxcfs until it answers its first read (the floor any recovery pays), same run.',
        '',
      ].join('\n'),
    );
  } finally {
    await cleanup();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:recovery: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});

/**
 * npm run demo (Linux, root): the agent on a temporary lxcfs path and one real
 * runc container with the reference pod's limits (0.5 CPU, 1024Mi), the
 * host's view printed beside the container's — then lxcfs is killed and the
 * agent heals the running container. Everything is removed at the end.
 */
import * as fs from 'fs';
import { E2EEnv } from './support/env';
import { missingPrerequisites } from './support/prereqs';

function hostView(): { processors: string; memTotal: string; cpuOnline: string } {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  return {
    processors: String(cpuinfo.split('\n').filter((l) => l.startsWith('processor')).length),
    memTotal: (/MemTotal:.*/.exec(fs.readFileSync('/proc/meminfo', 'utf8'))?.[0] ?? '').replace(/\s+/g, ' '),
    cpuOnline: fs.readFileSync('/sys/devices/system/cpu/online', 'utf8').trim(),
  };
}

function table(rows: [string, string, string][]): string {
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  return rows.map((r) => `  ${r[0].padEnd(w0)}   ${r[1].padEnd(w1)}   ${r[2]}`).join('\n');
}

async function main(): Promise<void> {
  const missing = missingPrerequisites();
  if (missing.length > 0) {
    process.stderr.write(`npm run demo needs: ${missing.join(', ')} (Linux as root, /dev/fuse, Debian packages lxcfs runc busybox-static gcc)\n`);
    process.exitCode = 1;
    return;
  }
  const say = (s: string): boolean => process.stdout.write(`${s}\n`);
  const env = new E2EEnv('demo');
  process.on('SIGINT', () => void env.cleanup().then(() => process.exit(130)));
  try {
    say(`lxcfs-kit demo — lxcfs path ${env.lxcfsPath}`);
    const agent = env.startAgent();
    const st = await agent.waitReady();
    say(`agent ready (pid ${st.pid}, lxcfs pid ${String(st.lxcfsPid)}); starting a runc container limited to 0.5 CPU and 1024Mi with the lxcfs files mounted as the webhook injects them`);
    const c = await env.runc.run('lxcfs-kit-demo', 'exec sleep 1000000');
    const host = hostView();
    const inside = await c.view();
    say('');
    say(table([
      ['', 'host', 'container'],
      ['grep -c processor /proc/cpuinfo', host.processors, inside.processors],
      ['grep MemTotal /proc/meminfo', host.memTotal, inside.memTotal],
      ['cat /sys/devices/system/cpu/online', host.cpuOnline, inside.cpuOnline],
    ]));
    say('');
    say('Now lxcfs is killed with SIGKILL, as an OOM kill or crash would. Without the agent, every read in the');
    say('container would fail with "Transport endpoint is not connected" until the pod is recreated.');
    const t0 = Date.now();
    process.kill(st.lxcfsPid as number, 'SIGKILL');
    await agent.waitStatus((s) => s.ready && s.lxcfsPid !== st.lxcfsPid && s.reconciles > st.reconciles, 'healed');
    const healedMs = Date.now() - t0;
    const again = await c.view();
    const state = await c.state();
    const restarted = state.pid !== c.initPid || state.status !== 'running';
    say(`agent restarted lxcfs and re-attached the container's mounts in ${healedMs} ms (container ${restarted ? 'RESTARTED' : `not restarted: init pid ${c.initPid} still running`}):`);
    say(table([
      ['', 'container'],
      ['grep -c processor /proc/cpuinfo', again.processors],
      ['grep MemTotal /proc/meminfo', again.memTotal],
    ].map((r) => [r[0], r[1], ''] as [string, string, string])));
    say('');
    say('Not fixable by lxcfs: tools that ask the kernel directly (busybox free → sysinfo(2), nproc → sched_getaffinity).');
  } finally {
    await env.cleanup();
    say('cleaned up: container, agent, lxcfs and mounts removed');
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});

/**
 * Issue 9: containers control their mount point names, their mount stacking and
 * their processes' lifetimes; none of it may change what the privileged agent does.
 * Real lxcfs, real runc containers, the real agent and helper. Each hostile
 * container binds its own lxcfs file (as any pod author can with a volumeMount of
 * the injected volume) at paths made of every byte mountinfo escapes, protocol
 * look-alikes, every ASCII byte, bytes that are not UTF-8, and a long path.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import { parseMountinfo, stackAt } from '../../lib/agent/mountinfo';
import { readMounts } from '../../lib/agent/scan';
import { AgentProcess } from './support/agent-process';
import { E2E_AGENT_ARGS, E2EEnv } from './support/env';
import { describeE2E } from './support/prereqs';
import { Container, EXPECTED_VIEW } from './support/runc';

/** Hostile mount points (latin1: one char per byte), each an lxcfs file bound by the container. */
const ASCII_ALL = Array.from({ length: 127 }, (_, i) => String.fromCharCode(i + 1)).filter((c) => c !== '/').join('');
const HOSTILE: readonly string[] = [
  '/tmp/h/sp ace',
  '/tmp/h/t\tab',
  '/tmp/h/new\nline',
  '/tmp/h/trailing newline\n',
  '/tmp/h/back\\slash',
  '/tmp/h/\\040not-an-escape',
  // A mountinfo line and helper requests of the old and new protocol, as names.
  '/tmp/h/x\n1 2 0:1 / /etc rw - ext4 /dev/sda rw',
  '/tmp/h/ok\n1\t/tmp\t/etc\treplace',
  '/tmp/h/replace\u00011\u00014026531841\u0001/etc',
  `/tmp/h/${ASCII_ALL}`,
  `/tmp/h/${Array.from({ length: 13 }, (_, i) => `${String(i).padStart(2, '0')}${'d'.repeat(248)}`).join('/')}/f`,
];
/** Not UTF-8: the agent cannot name it exactly and must refuse it (it stays as it is). */
const NOT_UTF8 = `/tmp/h/${Array.from({ length: 128 }, (_, i) => String.fromCharCode(0x80 + i)).join('')}`;

/** Octal escapes for busybox printf, so any byte reaches the container's shell intact. */
function octal(latin1: string): string {
  return [...Buffer.from(latin1, 'latin1')].map((b) => (/[A-Za-z0-9]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `\\${b.toString(8).padStart(3, '0')}`)).join('');
}

/** Runs a busybox script in a container's mount namespace (as root, like a pod with a volumeMount there). */
function inNamespace(c: Container, script: string, args: readonly string[] = []): void {
  const r = spawnSync('nsenter', ['-t', String(c.initPid), '-m', '--', '/bin/sh', '-c', `set -e\n${script}`, 'sh', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`script in ${c.id} failed (${String(r.status)}): ${r.stderr}`);
}

function bindLxcfsFileAt(c: Container, names: readonly string[]): void {
  inNamespace(
    c,
    `mount -n -t tmpfs t /tmp
for e in "$@"; do
  p="$(printf "$e"; echo x)"; p="\${p%x}"
  mkdir -p "\${p%/*}"; touch "$p"
  mount -n --bind /proc/meminfo "$p"
done`,
    names.map(octal),
  );
}

/** A mount table reduced to what must not change when a mount is re-attached (IDs and device do). */
function normalizedTable(pid: number | 'self', keep: (mountPoint: string) => boolean = () => true): string[] {
  return parseMountinfo(fs.readFileSync(`/proc/${pid}/mountinfo`, 'latin1'))
    .filter((m) => keep(m.mountPoint))
    .map((m) => JSON.stringify([m.mountPoint.replace(/\/instances\/[^/]+\//, '/instances/*/'), m.fsType, m.root, m.options, m.source]))
    .sort();
}

/** What a process in the container's namespace reads at a path (through its root, as bytes). */
function readIn(c: Container, latin1Path: string): string {
  try {
    return fs.readFileSync(Buffer.from(`/proc/${c.initPid}/root${latin1Path}`, 'latin1'), 'utf8');
  } catch (err) {
    return `ERROR ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
  }
}

const SENSITIVE_HOST_PATHS = new Set(['/', '/etc', '/usr', '/var', '/var/lib', '/tmp', '/run', '/proc', '/sys', '/dev', '/root', '/bin', '/sbin', '/lib', '/boot']);

describeE2E('hostile mounts in containers (real lxcfs, real runc, real agent and helper)', () => {
  let env: E2EEnv;
  let agent: AgentProcess;
  let honest: Container;
  let hostile: Container;
  let stacked: Container;
  let churning: Container;

  beforeAll(async () => {
    env = new E2EEnv('hostile');
    agent = env.startAgent({ extraArgs: [...E2E_AGENT_ARGS, '--reconcile-interval=2'] });
    await agent.waitReady();
    honest = await env.runc.run('honest', 'exec sleep 1000000');
    hostile = await env.runc.run('hostile', 'exec sleep 1000000');
    stacked = await env.runc.run('stacked', 'exec sleep 1000000');
    // Forks short-lived processes all the time: scans pick pids that are gone by the time the helper enters.
    churning = await env.runc.run('churning', '(while :; do usleep 3000 & wait; done) & exec sleep 1000000');
    bindLxcfsFileAt(hostile, [...HOSTILE, NOT_UTF8]);
    // The container's own file stacked over its lxcfs file.
    inNamespace(stacked, 'mount -n -t tmpfs t /tmp; echo "OWN MEMINFO" > /tmp/own; mount -n --bind /tmp/own /proc/meminfo');
  }, 180000);

  afterAll(async () => {
    await env?.cleanup();
  }, 120000);

  it('before any restart: every hostile bind reads lxcfs, the stacked file reads the container\'s own', () => {
    for (const name of [...HOSTILE, NOT_UTF8]) expect(readIn(hostile, name)).toMatch(/^MemTotal:/);
    expect(readIn(stacked, '/proc/meminfo')).toBe('OWN MEMINFO\n');
  });

  it('after kill -9 of lxcfs: honest mounts heal everywhere, hostile names are healed as data, nothing else changes', async () => {
    const containers = [honest, hostile, stacked, churning];
    const inEnv = (p: string): boolean => p.startsWith(env.dir);
    const tablesBefore = containers.map((c) => normalizedTable(c.initPid));
    const hostBefore = normalizedTable('self', inEnv);
    const sensitiveBefore = normalizedTable('self', (p) => SENSITIVE_HOST_PATHS.has(p));
    const lxcfsOutsideTmpBefore = normalizedTable('self', (p) => !p.startsWith('/tmp/')).filter((l) => l.includes('"fuse.lxcfs"'));

    // A pass after the set-up: its index holds every honest and hostile-but-expressible mount.
    const settled = await agent.status();
    const before = await agent.waitStatus((s) => s.reconciles > settled.reconciles, 'a pass that indexes the containers as set up');
    process.kill(before.lxcfsPid as number, 'SIGKILL');
    const after = await agent.waitStatus(
      (s) => s.ready && s.lxcfsPid !== null && s.lxcfsPid !== before.lxcfsPid && s.reconciles > before.reconciles && (s.lastReconcile?.failed ?? 1) === 0,
      'a new lxcfs and a clean reconcile after the kill',
      60000,
    );
    // Most were re-attached from that index, before any scan (the rest below proves nothing else moved).
    expect(after.lastReconcile?.phases.fromIndex).toBeGreaterThan(0);

    // Every honest container, and every container's injected files, read lxcfs's answers again.
    for (const c of [honest, hostile, churning]) expect(await c.view()).toEqual(EXPECTED_VIEW);
    // Every hostile name the agent can express was re-attached: it reads lxcfs, not ENOTCONN.
    for (const name of HOSTILE) expect([JSON.stringify(name), readIn(hostile, name).slice(0, 9)]).toEqual([JSON.stringify(name), 'MemTotal:']);
    // The one it cannot name exactly is left alone, and counted.
    expect(readIn(hostile, NOT_UTF8)).toMatch(/ENOTCONN|ECONNABORTED/);
    const metrics = (await agent.http('/metrics')).body;
    expect(metrics).toMatch(/lxcfs_kit_agent_mounts_refused_total [1-9]/);
    // The stacked file is still what the container reads; its other files were healed.
    expect(readIn(stacked, '/proc/meminfo')).toBe('OWN MEMINFO\n');
    expect(readIn(stacked, '/proc/cpuinfo')).toMatch(/^processor/);

    // Mount tables: the same mounts, types, roots, flags (ro kept) and sources; only IDs and devices changed.
    expect(containers.map((c) => normalizedTable(c.initPid))).toEqual(tablesBefore);
    expect(normalizedTable('self', inEnv)).toEqual(hostBefore);
    expect(normalizedTable('self', (p) => SENSITIVE_HOST_PATHS.has(p))).toEqual(sensitiveBefore);
    expect(normalizedTable('self', (p) => !p.startsWith('/tmp/')).filter((l) => l.includes('"fuse.lxcfs"'))).toEqual(lxcfsOutsideTmpBefore);
  });

  it('the real helper, as root, refuses malformed and hostile requests without acting', () => {
    const sensitive = normalizedTable('self', (p) => SENSITIVE_HOST_PATHS.has(p) || p.startsWith(env.dir));
    const ns = /\[(\d+)\]/.exec(fs.readlinkSync('/proc/self/ns/mnt'))?.[1] ?? '';
    const records = [
      // The old line protocol, with a newline-separated second request aimed at /etc.
      Buffer.from(`${process.pid}\t${env.lxcfsPath}\t/etc\tmount\n1\t/\t/etc\treplace\n`),
      Buffer.from(`mount\x00${process.pid}\x00${ns}\x001\x00\x00${env.dir}\x00/etc\x00rw\x00`),
      Buffer.from(`mount\x00${process.pid}\x000\x001\x00\x00${env.dir}\x00/etc\x00\x00`),
      Buffer.from(`umount\x00${process.pid}\x00${ns}\x00x\x000:1\x00\x00/etc\x00\x00`),
      Buffer.from(`replace\x00${process.pid}\x00${ns}\x001\x000:1\x00${env.dir}/../..\x00/etc\x00ro\x00`),
      // Acting on a mount without naming its device, or naming one where none is checked.
      Buffer.from(`umount\x00${process.pid}\x00${ns}\x001\x00\x00\x00/etc\x00\x00`),
      Buffer.from(`mount\x00${process.pid}\x00${ns}\x001\x000:1\x00${env.dir}\x00/etc\x00\x00`),
      // The request format of before the device field: seven fields.
      Buffer.from(`umount\x00${process.pid}\x00${ns}\x001\x00\x00/etc\x00\x00`),
    ];
    for (const input of records) {
      const r = spawnSync(env.helper, ['attach'], { input });
      expect(r.status).toBe(0);
      const fields = r.stdout.toString('latin1').split('\0');
      expect(fields[1]).toBe('refused');
    }
    // A well-formed request whose mount ID is not what the path leads to: refused by the check, nothing detached.
    const wrongId = spawnSync(env.helper, ['attach'], { input: Buffer.from(`umount\x00${process.pid}\x00${ns}\x00999999\x000:1\x00\x00/etc\x00\x00`) });
    expect(wrongId.stdout.toString('latin1').split('\0').slice(1, 3)).toEqual(['err', 'mount-changed']);
    // The right mount ID (the kernel reuses them) on another device: not that mount, nothing detached.
    const [hostPath] = stackAt(readMounts('self') ?? [], env.lxcfsPath);
    expect(hostPath.fsType).toBe('fuse.lxcfs');
    const otherDevice = hostPath.device === '0:1' ? '0:2' : '0:1';
    const wrongDevice = spawnSync(env.helper, ['attach'], { input: Buffer.from(`umount\x00${process.pid}\x00${ns}\x00${hostPath.mountId}\x00${otherDevice}\x00\x00${env.lxcfsPath}\x00\x00`) });
    expect(wrongDevice.stdout.toString('latin1').split('\0').slice(1, 4)).toEqual(['err', 'mount-changed', '116']);
    expect(stackAt(readMounts('self') ?? [], env.lxcfsPath)[0]).toEqual(hostPath);
    expect(normalizedTable('self', (p) => SENSITIVE_HOST_PATHS.has(p) || p.startsWith(env.dir))).toEqual(sensitive);
  });
});

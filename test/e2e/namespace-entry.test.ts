/**
 * How the mount helper gets into a container's mount namespace when the
 * process the scan picked for it is gone: a reader loop forks short-lived
 * processes, and one of them may represent the namespace in a scan and exit
 * before the helper's setns (seen in CI: 8 mounts of one container left on a
 * dying lxcfs during a handover). Real lxcfs, a real mount namespace, the real
 * helper; the namespace's "container init" is `unshare -m` running sleep.
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { MountHelper } from '../../lib/agent/helper';
import { stackAt } from '../../lib/agent/mountinfo';
import { HelperRequest, namespaceInode } from '../../lib/agent/protocol';
import { mountNamespaceOf, readMounts } from '../../lib/agent/scan';
import { processAlive } from '../../lib/agent/state';
import { sleep } from './support/agent-process';
import { buildHelper } from './support/build';
import { describeE2E } from './support/prereqs';

describeE2E('entering a mount namespace whose chosen process exited (real lxcfs, real mount namespace)', () => {
  let dir: string;
  let helper: MountHelper;
  let lxcfs: ChildProcess;
  let lxcfsMnt: string;
  let holder: ChildProcess;
  let namespace: string;
  /** A process that was in the holder's namespace and has exited. */
  let exitedPid: number;
  let target: string;

  beforeAll(async () => {
    dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'lxcfs-kit-e2e-nsentry-')));
    helper = new MountHelper(buildHelper(dir));
    lxcfsMnt = path.join(dir, 'lxcfs');
    fs.mkdirSync(lxcfsMnt);
    lxcfs = spawn('lxcfs', ['-f', '-p', path.join(dir, 'lxcfs.pid'), lxcfsMnt], { stdio: 'ignore' });
    await until(() => readable(path.join(lxcfsMnt, 'proc/meminfo')), 'lxcfs serves');

    // The container's file: empty on the host, "stale" inside the namespace (its own mount there).
    target = path.join(dir, 'meminfo');
    fs.writeFileSync(target, '');
    fs.writeFileSync(path.join(dir, 'stale'), 'stale\n');
    holder = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `mount --bind ${dir}/stale ${target} && echo up && exec sleep 600`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      holder.stdout?.once('data', () => resolve());
      holder.once('exit', (code) => reject(new Error(`unshare exited with ${String(code)}`)));
    });
    namespace = mountNamespaceOf(holder.pid ?? -1) ?? '';
    expect(namespace).not.toBe(mountNamespaceOf('self'));
    expect(inNamespace()).toBe('stale\n');

    // A short-lived process of that namespace, as a reader loop forks them.
    const brief = spawnSync('nsenter', ['-t', String(holder.pid), '-m', 'true']);
    expect(brief.status).toBe(0);
    exitedPid = brief.pid;
    expect(processAlive(exitedPid)).toBe(false);
  }, 240_000);

  afterAll(async () => {
    if (holder?.pid !== undefined && holder.exitCode === null) holder.kill('SIGKILL');
    if (lxcfs?.pid !== undefined && lxcfs.exitCode === null) {
      lxcfs.kill('SIGKILL');
      await new Promise((r) => lxcfs.once('exit', r));
    }
    // Only a failed test leaves something here (a file mounted in the wrong namespace).
    for (const m of [target, lxcfsMnt]) if (m) spawnSync('umount', ['-l', m]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** What a process inside the namespace reads at the container's file. */
  function inNamespace(): string {
    return fs.readFileSync(`/proc/${String(holder.pid)}/root${target}`, 'utf8');
  }

  function request(pid: number, fallbackPids: number[]): HelperRequest {
    // The container's own mount at the target, as its namespace's mountinfo shows it.
    const [stale] = stackAt(readMounts(holder.pid ?? -1) ?? [], target);
    return {
      mode: 'replace',
      pids: [pid, ...fallbackPids],
      namespaceInode: namespaceInode(namespace) ?? 0n,
      mountId: stale.mountId,
      device: stale.device,
      source: path.join(lxcfsMnt, 'proc/meminfo'),
      target,
      attributes: ['ro'],
    };
  }

  it('every process given has exited: reported as gone, nothing mounted anywhere', async () => {
    const [r] = await helper.run([request(exitedPid, [])]);
    expect(r).toMatchObject({ result: 'gone' });
    expect(inNamespace()).toBe('stale\n');
    expect(fs.readFileSync(target, 'utf8')).toBe('');
  });

  it('a pid that now names a process in another mount namespace is skipped, never mounted into', async () => {
    // This test process stands for a pid reused by an unrelated process: it is in the host's namespace.
    const [r] = await helper.run([request(process.pid, [])]);
    expect(r).toMatchObject({ result: 'gone' });
    expect(fs.readFileSync(target, 'utf8')).toBe('');
    expect(inNamespace()).toBe('stale\n');
  });

  it('the mount ID at the path on another device (the kernel reuses IDs): not acted on', async () => {
    const r = request(holder.pid ?? -1, []);
    const [answer] = await helper.run([{ ...r, device: r.device === '0:1' ? '0:2' : '0:1' }]);
    expect(answer).toMatchObject({ result: 'err', how: 'mount-changed', errno: 116 });
    expect(inNamespace()).toBe('stale\n');
  });

  it('the first process exited: the helper enters through the next one and re-attaches the file', async () => {
    const [r] = await helper.run([request(exitedPid, [process.pid, holder.pid ?? -1])]);
    expect(r).toMatchObject({ result: 'ok', how: 'beneath' });
    expect(inNamespace()).toMatch(/^MemTotal:/);
    // The answer names the mount it attached: the one the namespace's table shows at the target.
    const [attached] = stackAt(readMounts(holder.pid ?? -1) ?? [], target);
    expect(attached.fsType).toBe('fuse.lxcfs');
    expect(r.message).toBe(String(attached.mountId));
    // Only inside that namespace.
    expect(fs.readFileSync(target, 'utf8')).toBe('');
  });
});

function readable(file: string): boolean {
  try {
    fs.readFileSync(file);
    return true;
  } catch {
    return false;
  }
}

async function until(check: () => boolean, what: string, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(20);
  }
}

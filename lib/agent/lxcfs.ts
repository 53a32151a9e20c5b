/**
 * One lxcfs process, mounted on a private directory of its own (its
 * "instance"). The host path and every container see clones of that mount,
 * never the mount lxcfs made itself, so that when lxcfs exits and unmounts its
 * directory it cannot take a successor's mount with it.
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { createInterface } from 'readline';
import { LXCFS_FSTYPE, MountEntry, stackAt } from './mountinfo';
import { lxcfsMountsOf, readMounts } from './scan';
import type { LineLog } from '../log';

export interface LxcfsOptions {
  readonly binary: string;
  readonly args: readonly string[];
  readonly helperPath: string;
  /** Join this cgroup namespace before exec (the host's, when the agent runs in a private one). */
  readonly cgroupNamespace?: string;
  readonly instancesDir: string;
  readonly log: LineLog;
}

export class LxcfsInstance {
  private exitCode: number | null = null;
  private exitSignal: NodeJS.Signals | null = null;
  readonly exited: Promise<void>;
  readonly startedAt = Date.now();
  servingSince = 0;
  device = '';
  /** The FUSE source name of this lxcfs, as every mountinfo shows it. */
  fsSource = '';
  /** Where lxcfs mounts itself; read once per re-attached mount in a reconcile, so computed once. */
  readonly mountDir: string;

  private constructor(
    readonly id: string,
    readonly dir: string,
    private readonly child: ChildProcess,
  ) {
    this.mountDir = path.join(dir, 'mnt');
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        resolve();
      });
    });
  }


  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.exitCode === null && this.exitSignal === null;
  }

  get exitDescription(): string {
    return this.exitSignal ? `killed by ${this.exitSignal}` : `exited with status ${String(this.exitCode)}`;
  }

  /** The lxcfs path of a file inside this instance, e.g. `/proc/meminfo` → `<dir>/mnt/proc/meminfo`. */
  source(rootInLxcfs: string): string {
    return rootInLxcfs === '/' ? this.mountDir : path.join(this.mountDir, rootInLxcfs);
  }

  static start(opts: LxcfsOptions): LxcfsInstance {
    const id = `${process.pid}-${Date.now().toString(36)}`;
    const dir = path.join(opts.instancesDir, id);
    fs.mkdirSync(path.join(dir, 'mnt'), { recursive: true, mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'agent.pid'), String(process.pid));
    const lxcfsArgv = [opts.binary, '-f', ...opts.args, '-p', path.join(dir, 'lxcfs.pid'), path.join(dir, 'mnt')];
    const helperArgs = ['exec', ...(opts.cgroupNamespace ? ['--cgroupns', opts.cgroupNamespace] : []), '--', ...lxcfsArgv];
    const child = spawn(opts.helperPath, helperArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
    const instance = new LxcfsInstance(id, dir, child);
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (raw: string) => {
        const line = raw.trim();
        if (line !== '') opts.log(line, { source: 'lxcfs', lxcfsPid: instance.pid });
      });
    }
    child.on('error', (err) => opts.log(`cannot start lxcfs through ${opts.helperPath}: ${err.message}`, undefined, 'error'));
    return instance;
  }

  /**
   * Resolves once lxcfs answers on its mount; rejects when it exits or takes too long. `state`
   * asks the mount through the helper (with a deadline), never from the agent's own thread.
   */
  async waitServing(state: (m: MountEntry) => Promise<string>, timeoutMs = 15000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`lxcfs ${this.exitDescription} before it served files`);
      const [own] = stackAt(readMounts('self') ?? [], this.mountDir);
      if (own !== undefined && own.fsType === LXCFS_FSTYPE && (await state(own)) === 'alive') {
        this.device = own.device;
        this.fsSource = own.source;
        this.servingSince = Date.now();
        return;
      }
      // Short: after a restart every container waits on this (lxcfs itself starts in tens of ms).
      await new Promise((r) => setTimeout(r, 2));
    }
    throw new Error(`lxcfs did not serve ${this.mountDir} within ${timeoutMs / 1000}s`);
  }

  /**
   * Stops lxcfs and removes the instance directory and its mount. SIGKILL, not
   * SIGTERM: lxcfs's FUSE loop notices SIGTERM only at its next request (seconds
   * on an idle node), and by now nothing depends on it — its mounts were handed
   * over or are meant to go stale; the agent detaches the instance mount itself.
   */
  async stop(helperUmount: (target: string) => Promise<void>): Promise<void> {
    if (this.running) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    await removeInstanceDir(this.dir, helperUmount);
  }
}

/** Detaches whatever is still mounted in an instance directory (a killed lxcfs leaves its mount) and removes it. */
export async function removeInstanceDir(dir: string, helperUmount: (target: string) => Promise<void>): Promise<void> {
  const mnt = path.join(dir, 'mnt');
  for (let i = 0; i < 8 && lxcfsMountsOf('self').some((m) => m.mountPoint === mnt); i++) await helperUmount(mnt);
  // Never a recursive delete: if a mount survived, that would walk into it.
  for (const f of ['agent.pid', 'lxcfs.pid']) fs.rmSync(path.join(dir, f), { force: true });
  try {
    fs.rmdirSync(mnt);
    fs.rmdirSync(dir);
  } catch {
    // still mounted or not empty: the next start's cleanup tries again
  }
}

/** Whether this lxcfs binary knows --enable-pidfd (lxcfs 5.0+). */
export function lxcfsSupportsPidfd(binary: string): boolean {
  const r = spawnSync(binary, ['--help'], { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.includes('--enable-pidfd');
}

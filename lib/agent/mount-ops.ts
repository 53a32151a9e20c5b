/**
 * The agent's own mounts, through the helper: the host path (the lxcfs path in the agent's and
 * the host's namespace), the agent's private lxcfs instance mounts, and whether an lxcfs mount
 * answers. Every call names the exact mount ID it acts on, read from mountinfo just before, and
 * nothing here touches a FUSE path from the agent's own thread.
 */
import { HelperOutcome, MountHelper } from './helper';
import { carriedAttributes, LXCFS_FSTYPE, MountEntry, mountHolding, stackAt } from './mountinfo';
import { MountAttribute, namespaceInode } from './protocol';
import { pruneRuntimeDirectories } from './publicpath';
import { mountNamespaceOf, readMounts } from './scan';
import type { LineLog } from '../log';

export interface MountOpsDeps {
  readonly helper: MountHelper;
  readonly log: LineLog;
  readonly lxcfsPath: string;
  readonly ownNamespace: string | undefined;
  /** Live lxcfs instances being taken over (device → FUSE source); a live lxcfs found at the host path joins it. */
  readonly takeover: Map<string, string>;
  /** The agent's own lxcfs instances that exited (device → FUSE source): their mounts are dead, no probe needed. */
  readonly retired: ReadonlyMap<string, string>;
  /** Whether the kernel has open_tree/move_mount (else the host path gets a classic bind mount). */
  readonly healingSupported: () => boolean;
}

export type MountState = 'dead' | 'alive' | 'hung' | 'unknown';

export class MountOps {
  constructor(private readonly deps: MountOpsDeps) {}

  /** Whether the lxcfs mount `m` in the namespace of `pid` answers (through the helper, with a deadline). */
  async mountState(pid: number, m: MountEntry): Promise<MountState> {
    const ino = namespaceInode(mountNamespaceOf(pid));
    if (ino === undefined) return 'unknown';
    const [o] = await this.deps.helper.run([{ mode: 'check', pids: [pid], namespaceInode: ino, mountId: m.mountId, device: m.device, source: '', target: m.mountPoint, attributes: [] }]);
    if (o?.result === 'ok') return o.how === 'dead' ? 'dead' : 'alive';
    return o?.result === 'hung' ? 'hung' : 'unknown';
  }

  /** Puts this instance's root at the lxcfs path in the namespace of `pid`. */
  async attachHostPath(inst: { readonly device: string; readonly mountDir: string }, pid: number): Promise<HelperOutcome[]> {
    const target = this.deps.lxcfsPath;
    const ino = namespaceInode(mountNamespaceOf(pid));
    const mounts = readMounts(pid);
    if (ino === undefined || mounts === undefined) return [];
    const stack = stackAt(mounts, target);
    const lxcfsStack: MountEntry[] = [];
    for (const m of stack) {
      if (m.fsType !== LXCFS_FSTYPE) break;
      lxcfsStack.push(m);
    }
    const top = lxcfsStack[0];
    if (top?.device === inst.device) return [];
    const base = { pids: [pid], namespaceInode: ino };
    // A fresh host path mount: nothing on it is a device or set-uid program.
    const fresh = { attributes: ['nosuid', 'nodev'] as MountAttribute[] };
    const state = top === undefined ? 'none' : this.deps.retired.get(top.device) === top.source ? 'dead' : await this.mountState(pid, top);
    if (top !== undefined && state !== 'dead') {
      // A live lxcfs we did not start: our predecessor, or another installation's (migration). Take it over.
      if (this.deps.takeover.get(top.device) !== top.source) {
        this.deps.takeover.set(top.device, top.source);
        this.deps.log(`taking over ${target} from the lxcfs on device ${top.device}${state === 'hung' ? ' (it does not answer)' : ''}`);
      }
      const same = { attributes: carriedAttributes(top.options) };
      if (this.deps.healingSupported()) return this.deps.helper.run([{ ...base, ...same, mode: 'replace', mountId: top.mountId, device: top.device, source: inst.mountDir, target }]);
      return this.deps.helper.run([{ ...base, ...fresh, mode: 'bind', mountId: top.mountId, device: '', source: inst.mountDir, target }]);
    }
    // Nothing there, or only dead mounts (a crashed lxcfs, a node that lost power): clear them all, top first.
    if (lxcfsStack.length > 0) {
      const detached = await this.deps.helper.run(lxcfsStack.map((m) => ({ ...base, attributes: [], mode: 'umount' as const, mountId: m.mountId, device: m.device, source: '', target })));
      this.deps.log(`detached ${detached.filter((r) => r.result === 'ok').length} dead lxcfs mount(s) at ${target} (namespace of pid ${pid})`);
      if (detached.some((r) => r.result !== 'ok')) return detached.filter((r) => r.result !== 'ok');
    }
    const holder = mountHolding(mounts.filter((m) => !lxcfsStack.includes(m)), target);
    if (holder === undefined) return [];
    if (pid === process.pid) {
      for (const d of pruneRuntimeDirectories(target)) this.deps.log(`removed ${d}: a container runtime created it where an lxcfs file belongs`);
    }
    if (this.deps.healingSupported()) return this.deps.helper.run([{ ...base, ...fresh, mode: 'mount', mountId: holder.mountId, device: '', source: inst.mountDir, target }]);
    if (pid !== process.pid) return [];
    return this.deps.helper.run([{ ...base, ...fresh, mode: 'bind', mountId: holder.mountId, device: '', source: inst.mountDir, target }]);
  }

  async detachHostPath(device: string): Promise<void> {
    const mine = stackAt(readMounts('self') ?? [], this.deps.lxcfsPath).filter((m) => m.fsType === LXCFS_FSTYPE && m.device === device);
    for (const m of mine) await this.umountExact(m);
  }

  /** Detaches the top lxcfs mount at `target` in our own namespace (an instance directory). */
  async umountOwn(target: string): Promise<void> {
    const [top] = stackAt(readMounts('self') ?? [], target);
    if (top === undefined || top.fsType !== LXCFS_FSTYPE) return;
    await this.umountExact(top);
  }

  private async umountExact(m: MountEntry): Promise<void> {
    const ino = namespaceInode(this.deps.ownNamespace);
    if (ino === undefined) return;
    const [r] = await this.deps.helper.run([{ mode: 'umount', pids: [process.pid], namespaceInode: ino, mountId: m.mountId, device: m.device, source: '', target: m.mountPoint, attributes: [] }]);
    if (r && r.result !== 'ok') this.deps.log(`cannot detach ${JSON.stringify(m.mountPoint)}: ${r.how}: ${r.message}`, undefined, 'warn');
  }}

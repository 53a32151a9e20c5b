/**
 * Finding lxcfs mounts in every mount namespace on the host: one pass over
 * /proc, one mountinfo read per namespace (processes that share a namespace
 * see the same mounts).
 */
import * as fs from 'fs';
import { LXCFS_FSTYPE, MountEntry, parseMountinfo } from './mountinfo';

const LXCFS_MARKER = ` - ${LXCFS_FSTYPE} `;

export interface NamespaceMounts {
  /** Some processes inside the namespace, unordered: any that still exists shows its mounts. */
  readonly members: readonly number[];
  /**
   * Processes inside the namespace, oldest first (a container's init before the short-lived
   * processes it forks); the helper enters the namespace through the first that still exists.
   * Worked out on first use (one /proc/<pid>/stat read per member): most namespaces have nothing
   * to heal and never need it.
   */
  readonly pids: readonly number[];
  /** `mnt:[inode]`, the namespace's identity. */
  readonly namespace: string;
  readonly mounts: readonly MountEntry[];
}

export interface ScanResult {
  readonly namespacesScanned: number;
  /** Only namespaces that hold at least one lxcfs mount. */
  readonly withLxcfs: readonly NamespaceMounts[];
}

/** Enough ways into a namespace that all of them vanishing during one pass means the namespace is gone. */
export const MAX_CANDIDATE_PIDS = 8;

export function mountNamespaceOf(pid: number | 'self'): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return undefined;
  }
}

export function lxcfsMountsOf(pid: number | 'self'): MountEntry[] {
  return readLxcfsMounts(pid) ?? [];
}

/** The lxcfs mounts a process sees; undefined when the process is gone. */
export function readLxcfsMounts(pid: number | 'self'): MountEntry[] | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8');
  } catch {
    return undefined;
  }
  // Most lines are not lxcfs: drop them before parsing (this runs for every namespace on the node).
  if (!text.includes(LXCFS_MARKER)) return [];
  const lines = text.split('\n').filter((l) => l.includes(LXCFS_MARKER));
  return parseMountinfo(lines.join('\n')).filter((m) => m.fsType === LXCFS_FSTYPE);
}

export function scanNamespaces(): ScanResult {
  const members = new Map<string, number[]>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    const pid = Number(name);
    const namespace = mountNamespaceOf(pid);
    // Kernel threads and processes that exited meanwhile have no readable namespace.
    if (namespace === undefined) continue;
    const list = members.get(namespace);
    if (list === undefined) members.set(namespace, [pid]);
    // Keep a few more than needed: the oldest are picked below (pids wrap around, so the lowest is not always the oldest).
    else if (list.length < 4 * MAX_CANDIDATE_PIDS) list.push(pid);
  }
  const withLxcfs: NamespaceMounts[] = [];
  for (const [namespace, pids] of members) {
    // Any process of the namespace shows its mounts: read them through the first one still alive.
    let mounts: MountEntry[] | undefined;
    for (const pid of pids) if ((mounts = readLxcfsMounts(pid)) !== undefined) break;
    if (mounts !== undefined && mounts.length > 0) withLxcfs.push(namespaceMounts(namespace, pids, mounts));
  }
  return { namespacesScanned: members.size, withLxcfs };
}

function namespaceMounts(namespace: string, members: readonly number[], mounts: readonly MountEntry[]): NamespaceMounts {
  let entry: readonly number[] | undefined;
  return {
    namespace,
    members,
    mounts,
    get pids() {
      return (entry ??= oldestFirst(members).slice(0, MAX_CANDIDATE_PIDS));
    },
  };
}

/**
 * The oldest process of a namespace is almost always the container's init, which lives as long
 * as the container; the processes it forks come and go between a scan and the helper's setns.
 */
function oldestFirst(pids: readonly number[]): number[] {
  if (pids.length < 2) return [...pids];
  const started = new Map(pids.map((p) => [p, startTimeOf(p)]));
  return [...pids].sort((a, b) => (started.get(a) ?? Infinity) - (started.get(b) ?? Infinity) || a - b);
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/<pid>/stat). */
function startTimeOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]);
    return Number.isFinite(ticks) ? ticks : undefined;
  } catch {
    return undefined;
  }
}

/** The container id (64 hex digits, as containerd, CRI-O and runc name cgroups) of a process, when it has one. */
export function containerIdOf(pid: number): string | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    const hex = /[0-9a-f]{64}/.exec(text);
    if (hex) return hex[0];
    const first = text.split('\n').find((l) => l.includes('/') && !l.endsWith(':/'));
    return first ? first.slice(first.lastIndexOf('/') + 1) || undefined : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether a path sits on a FUSE mount whose daemon is gone. statfs, not stat:
 * FUSE answers stat from its attribute cache for a while after the daemon died,
 * while statfs always asks the daemon.
 */
export function mountState(path: string): 'dead' | 'alive' | 'missing' {
  try {
    fs.statfsSync(path);
    return 'alive';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTCONN' || code === 'ECONNABORTED') return 'dead';
    return code === 'ENOENT' || code === 'ESRCH' ? 'missing' : 'alive';
  }
}

export function isDeadMount(path: string): boolean {
  return mountState(path) === 'dead';
}

/**
 * Whether the mount at `mountPoint` in a namespace is dead, looked at through the
 * namespace's processes (`/proc/<pid>/root`, any order): one that exited meanwhile shows
 * nothing, so the next one is asked.
 */
export function isDeadIn(pids: readonly number[], mountPoint: string): boolean {
  for (const pid of pids) {
    const state = mountState(`/proc/${pid}/root${mountPoint}`);
    if (state !== 'missing') return state === 'dead';
  }
  return false;
}

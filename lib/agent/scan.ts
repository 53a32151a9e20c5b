/**
 * Finding lxcfs mounts in every mount namespace on the host: one pass over
 * /proc, one mountinfo read per namespace (processes that share a namespace
 * see the same mounts).
 */
import * as fs from 'fs';
import { LXCFS_FSTYPE, MountEntry, parseLxcfsMountinfo, parseMountinfo } from './mountinfo';

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
  /** The namespace's lxcfs mounts and every mount at one of their mount points (stacked over or under them). */
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
  return (readMounts(pid) ?? []).filter((m) => m.fsType === LXCFS_FSTYPE);
}

/** Every mount a process sees; undefined when the process is gone. */
export function readMounts(pid: number | 'self'): MountEntry[] | undefined {
  const text = readMountinfoText(pid);
  return text === undefined ? undefined : parseMountinfo(text);
}

function readMountinfoText(pid: number | 'self'): string | undefined {
  try {
    // latin1: one char per byte, so mount point names that are not UTF-8 keep their bytes.
    return fs.readFileSync(`/proc/${pid}/mountinfo`, 'latin1');
  } catch {
    return undefined;
  }
}

export function scanNamespaces(): ScanResult {
  const members = namespaceMembers();
  const withLxcfs: NamespaceMounts[] = [];
  for (const [namespace, pids] of members) {
    const ns = readNamespace(namespace, pids);
    if (ns !== undefined) withLxcfs.push(ns);
  }
  return { namespacesScanned: members.size, withLxcfs };
}

/** One walk over /proc: every mount namespace on the host and some of its processes. */
export function namespaceMembers(): Map<string, number[]> {
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
  return members;
}

/** A namespace with lxcfs mounts, as a pass meets it. */
export interface NamespaceSource {
  readonly namespace: string;
  /** The bytes of its mount table: only valid until the next source is taken. */
  readonly table: Buffer;
  /** Its lxcfs mounts, parsed from the table; undefined when it holds none after all. */
  parse(): NamespaceMounts | undefined;
}

/**
 * One walk over /proc, then the namespaces that hold lxcfs mounts one at a time, each table read
 * only when its turn comes (a pass can act on the first namespaces while it reads the next).
 */
export function scanLazily(): { readonly namespacesScanned: number; readonly namespaces: Iterable<NamespaceSource> } {
  const members = namespaceMembers();
  function* namespaces(): Generator<NamespaceSource> {
    for (const [namespace, pids] of members) {
      const table = readNamespaceTable(namespace, pids);
      if (table !== undefined) yield { namespace, table, parse: () => parseNamespace(namespace, pids, table) };
    }
  }
  return { namespacesScanned: members.size, namespaces: namespaces() };
}

/** The mounts of a namespace when it holds lxcfs mounts (read through the first of `pids` still in it); else undefined. */
export function readNamespace(namespace: string, pids: readonly number[]): NamespaceMounts | undefined {
  const table = readNamespaceTable(namespace, pids);
  return table === undefined ? undefined : parseNamespace(namespace, pids, table);
}

/**
 * The mountinfo of a namespace that holds lxcfs mounts, read through the first of `pids` still
 * in it; undefined when it holds none or none of the processes is left in it. The bytes are a
 * view of a buffer that the next call reuses: a pass reads every namespace of the node, and
 * most of them need no string at all.
 */
export function readNamespaceTable(namespace: string, pids: readonly number[]): Buffer | undefined {
  for (const pid of pids) {
    const table = readMountinfoInto(pid);
    // Its pid may have been reused between the walk and the read: the table must be the namespace's.
    if (table === undefined || mountNamespaceOf(pid) !== namespace) continue;
    // Most namespaces have no lxcfs mount: skip parsing those (this runs for every namespace on the node).
    return table.includes(LXCFS_MARKER_BYTES) ? table : undefined;
  }
  return undefined;
}

const LXCFS_MARKER_BYTES = Buffer.from(LXCFS_MARKER, 'latin1');
let tableBuffer = Buffer.alloc(64 * 1024);

/** /proc/<pid>/mountinfo into the shared buffer (grown as needed); undefined when the process is gone. */
function readMountinfoInto(pid: number): Buffer | undefined {
  // A namespace with a huge table (a container can make thousands of mounts) does not keep its size for good.
  if (tableBuffer.length > 1024 * 1024) tableBuffer = Buffer.alloc(64 * 1024);
  let fd: number;
  try {
    fd = fs.openSync(`/proc/${pid}/mountinfo`, 'r');
  } catch {
    return undefined;
  }
  try {
    let length = 0;
    for (;;) {
      if (length === tableBuffer.length) {
        const bigger = Buffer.alloc(tableBuffer.length * 2);
        tableBuffer.copy(bigger, 0, 0, length);
        tableBuffer = bigger;
      }
      const n = fs.readSync(fd, tableBuffer, length, tableBuffer.length - length, null);
      if (n === 0) return tableBuffer.subarray(0, length);
      length += n;
    }
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/** A namespace's lxcfs mounts and the mounts stacked at their mount points (nothing else is planned on). */
export function parseNamespace(namespace: string, pids: readonly number[], table: Buffer): NamespaceMounts | undefined {
  const mounts = parseLxcfsMountinfo(table);
  return mounts.some((m) => m.fsType === LXCFS_FSTYPE) ? namespaceMounts(namespace, pids, mounts) : undefined;
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

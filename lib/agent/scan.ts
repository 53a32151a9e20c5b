/**
 * Finding lxcfs mounts in every mount namespace on the host: one pass over
 * /proc, one mountinfo read per namespace (processes that share a namespace
 * see the same mounts).
 */
import * as fs from 'fs';
import { LXCFS_FSTYPE, MountEntry, parseMountinfo } from './mountinfo';

const LXCFS_MARKER = ` - ${LXCFS_FSTYPE} `;

export interface NamespaceMounts {
  /** A process inside the namespace; the helper enters the namespace through it. */
  readonly pid: number;
  /** `mnt:[inode]`, the namespace's identity. */
  readonly namespace: string;
  readonly mounts: readonly MountEntry[];
}

export interface ScanResult {
  readonly namespacesScanned: number;
  /** Only namespaces that hold at least one lxcfs mount. */
  readonly withLxcfs: readonly NamespaceMounts[];
}

export function mountNamespaceOf(pid: number | 'self'): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return undefined;
  }
}

export function lxcfsMountsOf(pid: number | 'self'): MountEntry[] {
  try {
    // Most lines are not lxcfs: drop them before parsing (this runs for every namespace on the node).
    const text = fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8');
    if (!text.includes(LXCFS_MARKER)) return [];
    const lines = text.split('\n').filter((l) => l.includes(LXCFS_MARKER));
    return parseMountinfo(lines.join('\n')).filter((m) => m.fsType === LXCFS_FSTYPE);
  } catch {
    return [];
  }
}

export function scanNamespaces(): ScanResult {
  const seen = new Set<string>();
  const withLxcfs: NamespaceMounts[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    const pid = Number(name);
    const namespace = mountNamespaceOf(pid);
    // Kernel threads and processes that exited meanwhile have no readable namespace.
    if (namespace === undefined || seen.has(namespace)) continue;
    seen.add(namespace);
    const mounts = lxcfsMountsOf(pid);
    if (mounts.length > 0) withLxcfs.push({ pid, namespace, mounts });
  }
  return { namespacesScanned: seen.size, withLxcfs };
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
 * True when a path sits on a FUSE mount whose daemon is gone. statfs, not stat:
 * FUSE answers stat from its attribute cache for a while after the daemon died,
 * while statfs always asks the daemon.
 */
export function isDeadMount(path: string): boolean {
  try {
    fs.statfsSync(path);
    return false;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOTCONN' || code === 'ECONNABORTED';
  }
}

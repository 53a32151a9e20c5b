/**
 * Parsing of /proc/<pid>/mountinfo, and the questions the agent asks of one
 * namespace's mount table. Pure. mountinfo is written by the kernel, but the
 * mount point names in it are chosen by whoever made the mount (a container,
 * a pod author), so they may hold any byte but NUL.
 */

export const LXCFS_FSTYPE = 'fuse.lxcfs';

export interface MountEntry {
  readonly mountId: number;
  readonly parentId: number;
  /** `major:minor` of the filesystem; every lxcfs process (FUSE connection) has its own. */
  readonly device: string;
  /** Path inside the filesystem that is mounted here, e.g. `/proc/meminfo` for a file bind mount. */
  readonly root: string;
  /** Mount point relative to the process's root directory. */
  readonly mountPoint: string;
  /** Per-mount options (`ro`, `nosuid`, ...). */
  readonly options: readonly string[];
  readonly fsType: string;
  /** The filesystem's source (lxcfs's FUSE `fsname`), shared by every bind mount of it. */
  readonly source: string;
  /**
   * Whether `root` and `mountPoint` are exactly the kernel's bytes (valid UTF-8). A name that is
   * not cannot be named to the helper without changing it, so the agent never acts on it.
   */
  readonly exact: boolean;
  /**
   * Whether the mount is in a shared peer group (`shared:N`): mounting beneath it or detaching it
   * propagates to its peers in other namespaces, so re-attaching two peers at once would
   * stack copies of both.
   */
  readonly shared?: boolean;
}

/** mountinfo escapes space, tab, newline and backslash as `\ooo`; any other byte is itself. */
export function unescapeMountinfo(field: string): string {
  if (!field.includes('\\')) return field;
  return field.replace(/\\([0-3][0-7]{2})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parses mountinfo text read as latin1 (one char per byte), so that names that are not UTF-8 survive. */
export function parseMountinfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const entry = parseMountinfoLine(line);
    if (entry !== undefined) entries.push(entry);
  }
  return entries;
}

/**
 * One line of mountinfo (latin1); undefined for an empty or malformed line. Fields are found by
 * their spaces, and only those the agent uses become strings: a pass parses thousands of lines.
 */
function parseMountinfoLine(line: string): MountEntry | undefined {
  // ID, parent, device, root, mount point, options; then optional fields up to a lone '-'; then
  // the filesystem type, its source and its options.
  const ends: number[] = [];
  let at = 0;
  for (let i = 0; i < 6; i++) {
    const space = line.indexOf(' ', at);
    if (space < 0) return undefined;
    ends.push(space);
    at = space + 1;
  }
  let shared = false;
  for (;;) {
    const space = line.indexOf(' ', at);
    if (space < 0) return undefined;
    if (space === at + 1 && line.charCodeAt(at) === 0x2d) break;
    if (line.startsWith('shared:', at)) shared = true;
    at = space + 1;
  }
  const typeStart = at + 2;
  const typeEnd = line.indexOf(' ', typeStart);
  if (typeEnd < 0) return undefined;
  const sourceEnd = line.indexOf(' ', typeEnd + 1);
  const mountId = Number(line.slice(0, ends[0]));
  const parentId = Number(line.slice(ends[0] + 1, ends[1]));
  if (!Number.isSafeInteger(mountId) || !Number.isSafeInteger(parentId) || mountId <= 0) return undefined;
  const root = unescapeMountinfo(line.slice(ends[2] + 1, ends[3]));
  const mountPoint = unescapeMountinfo(line.slice(ends[3] + 1, ends[4]));
  const rootText = utf8TextOf(root);
  const mountPointText = utf8TextOf(mountPoint);
  return {
    mountId,
    parentId,
    device: line.slice(ends[1] + 1, ends[2]),
    root: rootText ?? root,
    mountPoint: mountPointText ?? mountPoint,
    options: line.slice(ends[4] + 1, ends[5]).split(','),
    fsType: line.slice(typeStart, typeEnd),
    source: decodeName(unescapeMountinfo(line.slice(typeEnd + 1, sourceEnd < 0 ? line.length : sourceEnd))),
    exact: rootText !== undefined && mountPointText !== undefined,
    shared,
  };
}

/**
 * Only the entries the heal plan looks at: lxcfs mounts, and mounts at the same mount point as
 * one of them (a container's own file stacked over an lxcfs file hides it). A container's table
 * has dozens of other mounts; parsing only these keeps a pass over a thousand namespaces cheap
 * in CPU and in garbage. Mount points are compared as the kernel printed them (escaped), so a
 * name cannot make two different mount points look alike. `table` is the mountinfo's bytes: each
 * line kept becomes a string of its own, so an entry (held while its re-attach waits for a helper)
 * holds its line, not the whole table (V8 keeps a substring as a view of its parent).
 */
export function parseLxcfsMountinfo(table: Buffer): MountEntry[] {
  // Lines are found in place, not split out: a pass reads a thousand tables of dozens of lines
  // each, and only a few lines of each are wanted. latin1: one char per byte, so mount point
  // names that are not UTF-8 keep their bytes.
  const text = table.toString('latin1');
  const points = new Set<string>();
  for (let at = text.indexOf(LXCFS_LINE_MARKER); at >= 0; at = text.indexOf(LXCFS_LINE_MARKER, at + 1)) {
    const start = text.lastIndexOf('\n', at) + 1;
    const from = mountPointStart(text, start, lineEnd(text, start));
    points.add(from < 0 ? '' : text.slice(from, text.indexOf(' ', from)));
  }
  if (points.size === 0) return [];
  const wanted = [...points];
  const entries: MountEntry[] = [];
  for (let start = 0; start <= text.length; ) {
    const end = lineEnd(text, start);
    const from = mountPointStart(text, start, end);
    const length = from < 0 ? 0 : text.indexOf(' ', from) - from;
    for (const point of wanted) {
      if (point.length !== length || (from >= 0 && !text.startsWith(point, from))) continue;
      const entry = parseMountinfoLine(table.toString('latin1', start, end));
      if (entry !== undefined) entries.push(entry);
      break;
    }
    start = end + 1;
  }
  return entries;
}

const LXCFS_LINE_MARKER = ` - ${LXCFS_FSTYPE} `;

function lineEnd(text: string, start: number): number {
  const end = text.indexOf('\n', start);
  return end < 0 ? text.length : end;
}

/**
 * Where the fifth field (mount point, escaped) of the line `text[start, end)` starts (it ends at
 * the next space); -1 when the line has fewer fields, which counts as an empty mount point.
 */
function mountPointStart(text: string, start: number, end: number): number {
  let from = start;
  for (let i = 0; i < 4; i++) {
    const space = text.indexOf(' ', from);
    if (space < 0 || space >= end) return -1;
    from = space + 1;
  }
  const to = text.indexOf(' ', from);
  return to < 0 || to >= end ? -1 : from;
}

/**
 * Mount point names are bytes (the text was read as latin1, one char per byte); the agent works
 * with strings. A name that is valid UTF-8 becomes its text, exactly; for any other this is
 * undefined (the name keeps one char per byte and is marked inexact).
 */
function utf8TextOf(s: string): string | undefined {
  if (!/[\x80-\xff]/.test(s)) return s;
  const bytes = Buffer.from(s, 'latin1');
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? text : undefined;
}

/** A name as text when its bytes are valid UTF-8, else as its bytes (one char each). */
function decodeName(s: string): string {
  return utf8TextOf(s) ?? s;
}

/** Mount attributes worth carrying over to a replacement mount. */
export function carriedAttributes(options: readonly string[]): ('ro' | 'nosuid' | 'nodev' | 'noexec')[] {
  return (['ro', 'nosuid', 'nodev', 'noexec'] as const).filter((o) => options.includes(o));
}

/**
 * Of mounts stacked on one mount point, only the top one is visible. A mount is covered when
 * another mount (of any type: a container's own file over an lxcfs file counts) sits on it at
 * the same mount point.
 */
export function topMounts(mounts: readonly MountEntry[]): MountEntry[] {
  const covered = new Set<number>();
  const byId = new Map(mounts.map((m) => [m.mountId, m]));
  for (const m of mounts) {
    const parent = byId.get(m.parentId);
    if (parent !== undefined && parent.mountPoint === m.mountPoint && parent.mountId !== m.mountId) covered.add(parent.mountId);
  }
  return mounts.filter((m) => !covered.has(m.mountId));
}

/** The visible mount a path lies on: the top mount at the longest mount point that contains it. */
export function mountHolding(mounts: readonly MountEntry[], p: string): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const m of topMounts(mounts)) {
    if (!contains(m.mountPoint, p)) continue;
    if (best === undefined || m.mountPoint.length > best.mountPoint.length) best = m;
  }
  return best;
}

/** The mounts stacked at `mountPoint`, top first. */
export function stackAt(mounts: readonly MountEntry[], mountPoint: string): MountEntry[] {
  const here = mounts.filter((m) => m.mountPoint === mountPoint);
  const out: MountEntry[] = [];
  let top: MountEntry | undefined = topMounts(here)[0];
  const seen = new Set<number>();
  while (top !== undefined && !seen.has(top.mountId)) {
    out.push(top);
    seen.add(top.mountId);
    const parentId: number = top.parentId;
    top = here.find((m) => m.mountId === parentId);
  }
  return out;
}

export function contains(dir: string, p: string): boolean {
  return dir === '/' || p === dir || p.startsWith(`${dir}/`);
}

/** Parsing of /proc/<pid>/mountinfo, reduced to what the agent needs to find lxcfs mounts. */

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
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const fields = line.split(' ');
    const sep = fields.indexOf('-', 6);
    if (sep < 0 || fields.length < sep + 3) continue;
    entries.push({
      mountId: Number(fields[0]),
      parentId: Number(fields[1]),
      device: fields[2],
      root: unescape(fields[3]),
      mountPoint: unescape(fields[4]),
      options: fields[5].split(','),
      fsType: fields[sep + 1],
      source: unescape(fields[sep + 2]),
    });
  }
  return entries;
}

/** Mount attributes worth carrying over to a replacement mount. */
export function carriedAttributes(options: readonly string[]): string[] {
  return options.filter((o) => o === 'ro' || o === 'nosuid' || o === 'nodev' || o === 'noexec');
}

/** The kernels and lxcfs builds test/vm/fetch-assets.sh leaves in its cache. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const FETCH_SCRIPT = path.resolve(__dirname, '../fetch-assets.sh');

export function cacheDir(): string {
  return process.env.LXCFS_KIT_VM_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'lxcfs-kit-vm');
}

export interface KernelAsset {
  /** `6.1`, `6.12` */
  readonly series: string;
  readonly vmlinuz: string;
  /** FUSE as a module (6.1's cloud config), or undefined when built in. */
  readonly fuseModule?: string;
  readonly packageName: string;
  readonly version: string;
}

export interface LxcfsAsset {
  /** Upstream version, e.g. `6.0.4`. */
  readonly version: string;
  /** Merged-/usr tree: lxcfs, liblxcfs, libfuse3 and the libc of its Debian suite. */
  readonly root: string;
  /** Debian package and suite, e.g. `lxcfs 6.0.4-1+deb13u1` from `trixie`. */
  readonly packageName: string;
  readonly suite: string;
}

function ready(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'ready'));
}

export function kernels(): KernelAsset[] {
  const dir = cacheDir();
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((d) => d.startsWith('kernel-') && ready(path.join(dir, d)))
    .map((d) => {
      const info = JSON.parse(fs.readFileSync(path.join(dir, d, 'info.json'), 'utf8')) as { series: string; package: string; version: string };
      const fuse = path.join(dir, d, 'fuse.ko');
      return { series: info.series, vmlinuz: path.join(dir, d, 'vmlinuz'), fuseModule: fs.existsSync(fuse) ? fuse : undefined, packageName: info.package, version: info.version };
    })
    .sort((a, b) => a.series.localeCompare(b.series, undefined, { numeric: true }));
}

export function lxcfsBuilds(): LxcfsAsset[] {
  const dir = cacheDir();
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((d) => d.startsWith('lxcfs-') && ready(path.join(dir, d)))
    .map((d) => {
      const info = JSON.parse(fs.readFileSync(path.join(dir, d, 'info.json'), 'utf8')) as { version: string; package: string; suite: string };
      return { version: info.version, root: path.join(dir, d, 'root'), packageName: info.package, suite: info.suite };
    })
    .sort((a, b) => a.version.localeCompare(b.version, undefined, { numeric: true }));
}

export function kernel(series: string): KernelAsset | undefined {
  return kernels().find((k) => k.series === series);
}

/** The newest fetched build of an lxcfs release line (`6.0` → 6.0.4). */
export function lxcfsLine(line: string): LxcfsAsset | undefined {
  return lxcfsBuilds()
    .filter((l) => l.version === line || l.version.startsWith(`${line}.`))
    .pop();
}

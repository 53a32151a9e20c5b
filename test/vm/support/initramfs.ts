/**
 * The guest's whole filesystem as one initramfs: the host's node, runc,
 * busybox-static and unshare with the libraries they load, one lxcfs build
 * (with the libc of its Debian suite laid over the host's: newer glibc runs the
 * host's binaries, the reverse does not hold), the compiled project, the native
 * helper, a busybox rootfs for containers and the guest scripts.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { DEFAULT_LXCFS_FILES, DEFAULT_LXCFS_PATH } from '../../../lib/contract';
import { buildHelper, transpileLib } from '../../e2e/support/build';
import { BUSYBOX } from '../../e2e/support/prereqs';
import { injectedMounts, makeBusyboxRootfs, REFERENCE_LIMITS } from '../../e2e/support/runc';
import { GuestConfig } from '../guest/protocol';
import { KernelAsset, LxcfsAsset } from './assets';

const GUEST_DIR = path.resolve(__dirname, '../guest');
const LIB_DIR = 'usr/lib/x86_64-linux-gnu';
const APPLETS = [
  'sh', 'mount', 'umount', 'mkdir', 'cp', 'ln', 'rm', 'cat', 'echo', 'sleep', 'usleep', 'ip', 'insmod', 'poweroff',
  'switch_root', 'grep', 'head', 'ls', 'kill', 'ps', 'dmesg', 'wc', 'true', 'mknod', 'chmod',
];

function which(cmd: string): string {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} is not installed`);
  return fs.realpathSync(r.stdout.trim());
}

/** Shared libraries a binary loads, as ldd resolves them on this host. */
function sharedLibraries(binary: string): { name: string; file: string }[] {
  const r = spawnSync('ldd', [binary], { encoding: 'utf8' });
  if (r.status !== 0) return []; // static
  const libs: { name: string; file: string }[] = [];
  for (const line of r.stdout.split('\n')) {
    const arrow = /^\s*(\S+) => (\/\S+)/.exec(line);
    const direct = /^\s*(\/\S+) \(/.exec(line);
    if (arrow) libs.push({ name: path.basename(arrow[1]), file: fs.realpathSync(arrow[2]) });
    else if (direct) libs.push({ name: direct[1], file: fs.realpathSync(direct[1]) });
  }
  return libs;
}

function copyExecutable(stage: string, source: string, name: string): void {
  fs.copyFileSync(source, path.join(stage, 'usr/bin', name));
  fs.chmodSync(path.join(stage, 'usr/bin', name), 0o755);
  for (const lib of sharedLibraries(source)) {
    // The interpreter keeps its absolute path (/lib64/... lands in usr/lib64 through the symlink).
    const dest = lib.name.startsWith('/') ? path.join(stage, 'usr', lib.name.replace(/^\/(usr\/)?/, '')) : path.join(stage, LIB_DIR, lib.name);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    if (!fs.existsSync(dest)) fs.copyFileSync(lib.file, dest);
  }
}

/** The reference pod's container as runc runs it: the webhook's real mutation, kubelet's cgroup limits. */
function containerSpec(rootfs: string, workDir: string): Record<string, unknown> {
  const dir = fs.mkdtempSync(path.join(workDir, 'spec-'));
  execFileSync('runc', ['spec', '--bundle', dir]);
  const spec = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as {
    process: { terminal: boolean };
    root: unknown;
    mounts: unknown[];
    linux: { resources: Record<string, unknown> };
  };
  fs.rmSync(dir, { recursive: true, force: true });
  spec.process.terminal = false;
  spec.root = { path: rootfs, readonly: true };
  spec.mounts.push(...injectedMounts(DEFAULT_LXCFS_PATH));
  spec.linux.resources = {
    ...spec.linux.resources,
    cpu: { quota: REFERENCE_LIMITS.cpuQuota, period: REFERENCE_LIMITS.cpuPeriod },
    memory: { limit: REFERENCE_LIMITS.memoryBytes },
  };
  return spec;
}

function transpileGuest(outDir: string): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ts = require('typescript') as typeof import('typescript');
  for (const name of ['driver', 'protocol']) {
    const file = path.join(GUEST_DIR, `${name}.ts`);
    const { outputText } = ts.transpileModule(fs.readFileSync(file, 'utf8'), {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    });
    fs.writeFileSync(path.join(outDir, `${name}.js`), outputText);
  }
}

export interface Initramfs {
  readonly file: string;
  readonly bytes: number;
}

/**
 * Builds the initramfs for one lxcfs build into `workDir` (which the caller
 * removes). The kernel matters only for its FUSE module.
 */
export function buildInitramfs(workDir: string, lxcfs: LxcfsAsset, kernel: KernelAsset): Initramfs {
  const stage = path.join(workDir, 'stage');
  for (const d of ['usr/bin', 'usr/sbin', LIB_DIR, 'usr/lib64', 'dev', 'proc', 'sys', 'opt/vm', 'opt/lxcfs-kit', 'etc']) fs.mkdirSync(path.join(stage, d), { recursive: true });
  for (const top of ['bin', 'sbin', 'lib', 'lib64']) fs.symlinkSync(`usr/${top}`, path.join(stage, top));
  // The kernel opens /dev/console for init before anything is mounted.
  execFileSync('mknod', ['-m', '600', path.join(stage, 'dev/console'), 'c', '5', '1']);

  copyExecutable(stage, BUSYBOX, 'busybox');
  for (const applet of APPLETS) fs.symlinkSync('busybox', path.join(stage, 'usr/bin', applet));
  copyExecutable(stage, process.execPath, 'node');
  copyExecutable(stage, which('runc'), 'runc');
  copyExecutable(stage, which('unshare'), 'unshare');
  // The lxcfs build last: its libc and libfuse replace the host's.
  execFileSync('cp', ['-a', `${lxcfs.root}/.`, `${stage}/`]);
  if (kernel.fuseModule) {
    fs.mkdirSync(path.join(stage, 'usr/lib/modules'), { recursive: true });
    fs.copyFileSync(kernel.fuseModule, path.join(stage, 'usr/lib/modules/fuse.ko'));
  }
  fs.writeFileSync(path.join(stage, 'etc/passwd'), 'root:x:0:0:root:/:/bin/sh\n');

  const kit = path.join(stage, 'opt/lxcfs-kit');
  const cli = transpileLib(kit);
  const helper = buildHelper(kit);
  makeBusyboxRootfs(path.join(stage, 'opt/vm/rootfs'));
  transpileGuest(path.join(stage, 'opt/vm'));
  const toGuest = (p: string): string => `/${path.relative(stage, p)}`;
  const config: GuestConfig = {
    containerSpec: containerSpec('/opt/vm/rootfs', workDir),
    lxcfsPath: DEFAULT_LXCFS_PATH,
    files: DEFAULT_LXCFS_FILES,
    cli: toGuest(cli),
    helper: toGuest(helper),
    rootfs: '/opt/vm/rootfs',
  };
  fs.writeFileSync(path.join(stage, 'opt/vm/config.json'), JSON.stringify(config));
  for (const script of ['init', 'stage2']) {
    fs.copyFileSync(path.join(GUEST_DIR, script), path.join(stage, script));
    fs.chmodSync(path.join(stage, script), 0o755);
  }

  const file = path.join(workDir, 'initramfs.cpio');
  // Uncompressed: under TCG the kernel unpacks an uncompressed archive far faster than it inflates one.
  execFileSync('sh', ['-c', 'find . | LC_ALL=C sort | cpio --quiet -o -H newc > "$1"', 'cpio', file], { cwd: stage });
  fs.rmSync(stage, { recursive: true, force: true });
  return { file, bytes: fs.statSync(file).size };
}

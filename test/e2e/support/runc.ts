/**
 * Real containers for the end-to-end suites: runc with a busybox-static
 * rootfs, real cgroup limits, and the lxcfs files bind-mounted exactly as the
 * injection contract (lib/injection.ts) describes a mutated pod.
 */
import { ChildProcess, execFile, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { promisify } from 'util';
import { createInterface } from 'readline';
import { parse as parseYaml } from 'yaml';
import { applyPatch, Operation } from 'fast-json-patch';
import { DEFAULT_LXCFS_FILES, INJECT_ENABLED, INJECT_LABEL } from '../../../lib/contract';
import { PodLike, PodMutator } from '../../../lib/webhook/mutate';
import { lxcfsFileMounts } from '../../../lib/injection';
import { BUSYBOX } from './prereqs';

const execFileP = promisify(execFile);

/**
 * The cgroup limits kubelet would give the reference workload's container
 * (test/fixtures/test-lxcfs-deployment.yaml: cpu 0.5, memory 1024Mi): CFS quota =
 * cpu × period with kubelet's 100 ms period, memory limit in bytes.
 */
export const REFERENCE_LIMITS = referenceLimits();

function referenceLimits(): { cpuQuota: number; cpuPeriod: number; memoryBytes: number } {
  const file = path.resolve(__dirname, '../../fixtures/test-lxcfs-deployment.yaml');
  const doc = parseYaml(fs.readFileSync(file, 'utf8')) as {
    spec: { template: { spec: { containers: { resources: { limits: { cpu: string | number; memory: string } } }[] } } };
  };
  const limits = doc.spec.template.spec.containers[0].resources.limits;
  const cpu = String(limits.cpu).endsWith('m') ? Number(String(limits.cpu).slice(0, -1)) / 1000 : Number(limits.cpu);
  const unit = /^(\d+)(Ki|Mi|Gi)?$/.exec(limits.memory);
  if (!unit || !Number.isFinite(cpu)) throw new Error(`cannot read the limits of ${file}`);
  const factor = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[unit[2] as 'Ki' | 'Mi' | 'Gi'] ?? 1;
  const cpuPeriod = 100000;
  return { cpuQuota: Math.round(cpu * cpuPeriod), cpuPeriod, memoryBytes: Number(unit[1]) * factor };
}
export const CGROUP_V1_ROOT = '/sys/fs/cgroup';

const APPLETS = ['sh', 'cat', 'grep', 'sleep', 'usleep', 'head', 'echo', 'true', 'ls', 'wc', 'date', 'mount', 'mkdir', 'touch', 'printf'];

/** A read-only rootfs shared by every container of a suite. */
export function makeBusyboxRootfs(dir: string): string {
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  for (const d of ['proc', 'sys', 'dev', 'tmp', 'etc']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.copyFileSync(BUSYBOX, path.join(dir, 'bin/busybox'));
  fs.chmodSync(path.join(dir, 'bin/busybox'), 0o755);
  for (const a of APPLETS) fs.symlinkSync('busybox', path.join(dir, 'bin', a));
  return dir;
}

export interface RuncOptions {
  /** runc --root: container state of this suite only. */
  readonly stateRoot: string;
  readonly bundlesDir: string;
  readonly rootfs: string;
  /** Parent cgroup of this suite's containers (relative to each v1 hierarchy). */
  readonly cgroupParent: string;
  readonly lxcfsPath: string;
}

export interface ContainerView {
  readonly processors: string;
  readonly memTotal: string;
  readonly cpuOnline: string;
}

export interface RuncMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

/**
 * The reference workload's container as the webhook mutates it (its real
 * mutation code), turned into runc mounts the way kubelet turns hostPath
 * volumes into bind mounts: source = the volume's host path, read-only when
 * the volume mount says so.
 */
export function injectedMounts(lxcfsPath: string): RuncMount[] {
  const file = path.resolve(__dirname, '../../fixtures/test-lxcfs-deployment.yaml');
  const deployment = parseYaml(fs.readFileSync(file, 'utf8')) as { spec: { template: PodLike } };
  const pod = JSON.parse(JSON.stringify(deployment.spec.template)) as PodLike;
  pod.metadata = { ...pod.metadata, namespace: 'default', labels: { ...pod.metadata?.labels, [INJECT_LABEL]: INJECT_ENABLED } };
  const mutator = new PodMutator({ mounts: lxcfsFileMounts(lxcfsPath, DEFAULT_LXCFS_FILES), ownNamespace: 'lxcfs-kit' });
  const plan = mutator.plan(pod, 'default');
  if (plan.patch.length === 0) throw new Error(`the webhook's mutation left the reference pod unchanged (${String(plan.skipped)})`);
  const mutated = applyPatch(pod, plan.patch as Operation[], false, false).newDocument as {
    spec: { volumes: { name: string; hostPath?: { path: string; type?: string } }[]; containers: { volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[] }[] };
  };
  const volumes = new Map(mutated.spec.volumes.map((v) => [v.name, v]));
  return (mutated.spec.containers[0].volumeMounts ?? []).map((vm) => {
    const hostPath = volumes.get(vm.name)?.hostPath;
    if (!hostPath || hostPath.type !== 'File') throw new Error(`volume ${vm.name} is not a hostPath of type File`);
    return { destination: vm.mountPath, type: 'bind', source: hostPath.path, options: ['rbind', vm.readOnly ? 'ro' : 'rw'] };
  });
}

export class Runc {
  readonly containers = new Map<string, Container>();
  private spec: Record<string, unknown> | undefined;

  constructor(readonly opts: RuncOptions) {
    fs.mkdirSync(opts.stateRoot, { recursive: true });
    fs.mkdirSync(opts.bundlesDir, { recursive: true });
  }

  private baseSpec(): Record<string, unknown> {
    if (!this.spec) {
      const dir = fs.mkdtempSync(path.join(this.opts.bundlesDir, 'spec-'));
      execFileSync('runc', ['spec', '--bundle', dir]);
      this.spec = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
      fs.rmSync(dir, { recursive: true, force: true });
    }
    return JSON.parse(JSON.stringify(this.spec)) as Record<string, unknown>;
  }

  /**
   * Creates and starts a container whose init runs `script` (busybox sh).
   * With `output`, the init's stdout/stderr arrive there line by line. `mounts`: the lxcfs
   * mounts (default: the reference pod's hostPath injection).
   */
  async run(id: string, script: string, output?: (line: string) => void, mounts: RuncMount[] = injectedMounts(this.opts.lxcfsPath)): Promise<Container> {
    const bundle = path.join(this.opts.bundlesDir, id);
    fs.mkdirSync(bundle, { recursive: true });
    const spec = this.baseSpec() as {
      process: { terminal: boolean; args: string[] };
      root: { path: string; readonly: boolean };
      hostname: string;
      mounts: { destination: string; type: string; source: string; options: string[] }[];
      linux: { resources: Record<string, unknown>; cgroupsPath?: string };
    };
    spec.process.terminal = false;
    spec.process.args = ['/bin/sh', '-c', script];
    spec.root = { path: this.opts.rootfs, readonly: true };
    spec.hostname = id;
    spec.mounts.push(...mounts);
    spec.linux.resources = {
      ...spec.linux.resources,
      cpu: { quota: REFERENCE_LIMITS.cpuQuota, period: REFERENCE_LIMITS.cpuPeriod },
      memory: { limit: REFERENCE_LIMITS.memoryBytes },
    };
    spec.linux.cgroupsPath = `/${this.opts.cgroupParent}/${id}`;
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
    const pidFile = path.join(bundle, 'init.pid');
    const child = spawn('runc', ['--root', this.opts.stateRoot, 'run', '-d', '--pid-file', pidFile, '--bundle', bundle, id], {
      stdio: ['ignore', output ? 'pipe' : 'ignore', output ? 'pipe' : 'pipe'],
    });
    let stderr = '';
    if (output) {
      for (const stream of [child.stdout, child.stderr]) {
        if (stream) createInterface({ input: stream }).on('line', output);
      }
    } else {
      child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    }
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    if (code !== 0) throw new Error(`runc run ${id} failed (exit ${String(code)}): ${stderr.trim()}`);
    const container = new Container(this, id, Number(fs.readFileSync(pidFile, 'utf8')), child);
    this.containers.set(id, container);
    return container;
  }

  async runc(args: string[], timeoutMs = 20000): Promise<string> {
    const { stdout } = await execFileP('runc', ['--root', this.opts.stateRoot, ...args], { timeout: timeoutMs, encoding: 'utf8' });
    return stdout;
  }

  /** Removes every container, its bundle and the suite's cgroups; never throws. */
  async cleanup(): Promise<void> {
    for (const id of [...this.containers.keys()]) {
      await this.runc(['delete', '--force', id]).catch(() => undefined);
      this.containers.delete(id);
    }
    // Containers started by a test that failed half-way may be unknown to the map.
    const left = await this.runc(['list', '-q']).catch(() => '');
    for (const id of left.split('\n').filter(Boolean)) await this.runc(['delete', '--force', id]).catch(() => undefined);
    for (const hierarchy of safeReaddir(CGROUP_V1_ROOT)) {
      const parent = path.join(CGROUP_V1_ROOT, hierarchy, this.opts.cgroupParent);
      for (const child of safeReaddir(parent)) {
        try {
          if (fs.statSync(path.join(parent, child)).isDirectory()) fs.rmdirSync(path.join(parent, child));
        } catch {
          // busy: a process is still in it
        }
      }
      try {
        fs.rmdirSync(parent);
      } catch {
        // absent or busy
      }
    }
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

export class Container {
  constructor(
    private readonly runcCtl: Runc,
    readonly id: string,
    /** Host PID of the container's init; it must not change (no restart). */
    readonly initPid: number,
    readonly runcProcess: ChildProcess,
  ) {}

  /** Runs a shell command inside the container (its cgroup, so lxcfs answers with its limits). */
  async exec(command: string): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const stdout = await this.runcCtl.runc(['exec', this.id, '/bin/sh', '-c', command]);
      return { code: 0, stdout, stderr: '' };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
    }
  }

  /** What an application in the container sees; values of failed reads start with "ERROR". */
  async view(): Promise<ContainerView> {
    const r = await this.exec(
      'grep -c ^processor /proc/cpuinfo 2>&1 || echo ERROR; grep MemTotal /proc/meminfo 2>&1 || echo ERROR; cat /sys/devices/system/cpu/online 2>&1 || echo ERROR',
    );
    const lines = r.stdout.split('\n');
    const norm = (s: string | undefined): string => (s ?? `ERROR ${r.stderr}`).replace(/\s+/g, ' ').trim();
    return { processors: norm(lines[0]), memTotal: norm(lines[1]), cpuOnline: norm(lines[2]) };
  }

  async state(): Promise<{ status: string; pid: number }> {
    const out = await this.runcCtl.runc(['state', this.id]);
    const s = JSON.parse(out) as { status: string; pid: number };
    return { status: s.status, pid: s.pid };
  }
}

/** The reference pod's expected view (design.md). */
export const EXPECTED_VIEW: ContainerView = { processors: '1', memTotal: 'MemTotal: 1048576 kB', cpuOnline: '0' };

/** Runs `fn` over items with at most `limit` at a time (two cores: runc exec is not free). */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  });
  await Promise.all(workers);
  return out;
}

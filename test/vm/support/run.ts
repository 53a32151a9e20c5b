/** One VM run: build the initramfs for an lxcfs build, boot a kernel, collect what the guest reported. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CgroupMode, GuestEvent, GuestEvents, Scenario, ViewEvent } from '../guest/protocol';
import { kernel, KernelAsset, lxcfsLine, LxcfsAsset } from './assets';
import { buildInitramfs } from './initramfs';
import { boot } from './qemu';
import { FileVerdict, judge } from './view';

export interface VmRunOptions {
  readonly kernel: string;
  /** Release line, e.g. `6.0` (the newest fetched build of it). */
  readonly lxcfs: string;
  readonly cgroup: CgroupMode;
  readonly scenarios: readonly Scenario[];
  /** Echo each guest event to stderr as it arrives (the matrix script's progress). */
  readonly verbose?: boolean;
}

export class VmRun {
  constructor(
    readonly kernel: KernelAsset,
    readonly lxcfs: LxcfsAsset,
    readonly cgroup: CgroupMode,
    readonly events: GuestEvent[],
    readonly consoleLog: string,
    readonly bootSeconds: number,
    readonly totalSeconds: number,
  ) {}

  all<K extends keyof GuestEvents>(kind: K): GuestEvents[K][] {
    return this.events.filter((e) => e.kind === kind).map((e) => e.data as GuestEvents[K]);
  }

  one<K extends keyof GuestEvents>(kind: K): GuestEvents[K] | undefined {
    return this.all(kind)[0];
  }

  /** The guest's failures (a scenario that threw), as text; empty when every scenario ran to its end. */
  get errors(): string[] {
    return this.all('error').map((e) => `${e.scenario}: ${e.message}\n--- agent log ---\n${e.agentLog}`);
  }

  view(label: string): ViewEvent | undefined {
    return this.all('view').find((v) => v.label === label);
  }

  verdicts(label: string): FileVerdict[] {
    const v = this.view(label);
    if (!v) throw new Error(`the guest reported no view "${label}"${this.errors.length ? `:\n${this.errors.join('\n')}` : ''}`);
    return judge(v.files, this.one('machine')?.files ?? {}, v.containerAgeSeconds);
  }
}

const initramfsCache = new Map<string, string>();
let workRoot: string | undefined;

function workDir(): string {
  workRoot ??= fs.mkdtempSync(path.join(os.tmpdir(), 'lxcfs-kit-vm-'));
  return workRoot;
}

/** Removes every initramfs and console log this process made (console logs are kept with LXCFS_KIT_VM_KEEP=1). */
export function cleanupVmRuns(): void {
  if (workRoot && process.env.LXCFS_KIT_VM_KEEP !== '1') fs.rmSync(workRoot, { recursive: true, force: true });
  workRoot = undefined;
  initramfsCache.clear();
}

export async function runVm(opts: VmRunOptions): Promise<VmRun> {
  const k = kernel(opts.kernel);
  const l = lxcfsLine(opts.lxcfs);
  if (!k || !l) throw new Error(`kernel ${opts.kernel} or lxcfs ${opts.lxcfs} not fetched (test/vm/fetch-assets.sh)`);
  const key = `${l.version}-${k.series}`;
  let image = initramfsCache.get(key);
  if (!image) {
    const dir = fs.mkdtempSync(path.join(workDir(), `initramfs-${key}-`));
    image = buildInitramfs(dir, l, k).file;
    initramfsCache.set(key, image);
  }
  const consoleLog = path.join(workDir(), `console-${key}-${opts.cgroup}-${Date.now()}.log`);
  const r = await boot({
    kernel: k,
    initramfs: image,
    cgroup: opts.cgroup,
    scenarios: opts.scenarios,
    consoleLog,
    onEvent: opts.verbose ? (e) => process.stderr.write(`  [vm ${k.series} lxcfs ${l.version} ${opts.cgroup}] ${e.kind}${e.kind === 'machine' ? '' : ` ${JSON.stringify(e.data).slice(0, 300)}`}\n`) : undefined,
  });
  return new VmRun(k, l, opts.cgroup, r.events, consoleLog, r.bootSeconds, r.totalSeconds);
}

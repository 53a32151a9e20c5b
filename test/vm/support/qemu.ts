/**
 * One boot of the guest under QEMU with software emulation (TCG,
 * single-threaded: these machines are VMs themselves, KVM is not available and
 * multi-threaded TCG crashed guest kernels). The serial console is the only
 * channel back; the run ends when the guest prints `done` and powers off.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import { createInterface } from 'readline';
import { CgroupMode, GuestEvent, parseEventLine, Scenario } from '../guest/protocol';
import { KernelAsset } from './assets';

export interface BootOptions {
  readonly kernel: KernelAsset;
  readonly initramfs: string;
  readonly cgroup: CgroupMode;
  readonly scenarios: readonly Scenario[];
  /** The whole console goes here, for a post-mortem. */
  readonly consoleLog: string;
  /** Until the guest's driver reports `booted`, counted from QEMU's start. */
  readonly bootTimeoutMs?: number;
  /** For the scenarios, counted from the `booted` report. */
  readonly runTimeoutMs?: number;
  readonly onEvent?: (event: GuestEvent) => void;
}

export interface BootResult {
  readonly events: GuestEvent[];
  /** Wall-clock seconds from QEMU's start to the `booted` report, and to the end. */
  readonly bootSeconds: number;
  readonly totalSeconds: number;
}

export class BootError extends Error {}

function tail(file: string, lines = 60): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export function boot(opts: BootOptions): Promise<BootResult> {
  const bootTimeoutMs = opts.bootTimeoutMs ?? 300000;
  const runTimeoutMs = opts.runTimeoutMs ?? 900000;
  const append = [
    'console=ttyS0',
    'quiet',
    'loglevel=3',
    'panic=-1',
    // A starved TCG guest can fail the IO-APIC timer check and panic at boot (seen under load).
    'no_timer_check',
    'rdinit=/init',
    `lxcfs_kit.cgroup=${opts.cgroup}`,
    `lxcfs_kit.scenarios=${opts.scenarios.join(',')}`,
  ].join(' ');
  const args = [
    '-accel', 'tcg,thread=single',
    '-cpu', 'max',
    // Two CPUs: the reference pod's 0.5 CPU must read as 1 of 2, or a count taken from the machine would pass.
    '-smp', '2',
    // More than the pod's 1024Mi limit, or MemTotal would show the machine's memory and still look right.
    '-m', '3072',
    '-nographic', '-no-reboot', '-nic', 'none',
    '-kernel', opts.kernel.vmlinuz,
    '-initrd', opts.initramfs,
    '-append', append,
  ];
  const started = Date.now();
  const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = fs.createWriteStream(opts.consoleLog);
  const events: GuestEvent[] = [];
  let bootedAt = 0;
  let done = false;
  return new Promise<BootResult>((resolve, reject) => {
    let failure: Error | undefined;
    const fail = (message: string): void => {
      if (failure || done) return;
      failure = new BootError(message);
      qemu.kill('SIGKILL');
    };
    let timer = setTimeout(() => fail(`the guest did not report "booted" within ${bootTimeoutMs / 1000} s of QEMU's start`), bootTimeoutMs);
    qemu.stderr.on('data', (d: Buffer) => log.write(d));
    createInterface({ input: qemu.stdout }).on('line', (raw) => {
      const line = raw.replace(/\r$/, '');
      log.write(`${line}\n`);
      const event = parseEventLine(line);
      if (!event) return;
      events.push(event);
      opts.onEvent?.(event);
      if (event.kind === 'booted') {
        bootedAt = Date.now();
        clearTimeout(timer);
        timer = setTimeout(() => fail(`the guest's scenarios did not finish within ${runTimeoutMs / 1000} s of its "booted" report`), runTimeoutMs);
      }
      if (event.kind === 'done') done = true;
    });
    qemu.on('error', (err) => fail(`cannot start QEMU: ${err.message}`));
    qemu.on('exit', (code, signal) => {
      clearTimeout(timer);
      log.end(() => {
        if (!failure && !done) failure = new BootError(`QEMU exited (${signal ?? `status ${String(code)}`}) before the guest reported "done"`);
        if (failure) {
          reject(new BootError(`${failure.message}\n--- last console lines (${opts.consoleLog}) ---\n${tail(opts.consoleLog)}`));
          return;
        }
        const end = Date.now();
        resolve({ events, bootSeconds: (bootedAt - started) / 1000, totalSeconds: (end - started) / 1000 });
      });
    });
  });
}

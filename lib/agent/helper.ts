/**
 * The TypeScript side of the native mount helper (native/lxcfs-kit-remount.c):
 * it batches attach requests into one helper process and parses its answers.
 */
import { spawn, spawnSync } from 'child_process';

export type AttachMode = 'replace' | 'mount' | 'umount' | 'bind';

export interface AttachRequest {
  /** A process in the target mount namespace (paths resolve against its root). */
  readonly pid: number;
  /** Further processes in that namespace, tried in order when `pid` has exited. */
  readonly fallbackPids?: readonly number[];
  /** `mnt:[inode]` of the target namespace: a pid reused by a process elsewhere is skipped. */
  readonly namespace?: string;
  /** Path of the fresh lxcfs file or directory in the agent's own mount namespace. */
  readonly source: string;
  readonly target: string;
  readonly mode: AttachMode;
  /** Mount flags for the new mount (`ro`, `nosuid`, ...). */
  readonly attributes?: readonly string[];
}

export interface AttachResult {
  readonly pid: number;
  readonly target: string;
  readonly ok: boolean;
  /** How it was done (`beneath`, `detach-then-move`, `mounted`, ...) or the failed step. */
  readonly detail: string;
  readonly errno?: number;
  /** Every process given for the namespace had exited (the namespace may be gone with them). */
  readonly gone?: boolean;
}

export class MountHelper {
  constructor(readonly path: string) {}

  /** Whether the kernel has open_tree/move_mount (Linux 5.2+); the reason when not. */
  probe(): { supported: boolean; reason: string } {
    const r = spawnSync(this.path, ['probe'], { encoding: 'utf8' });
    if (r.error) return { supported: false, reason: `cannot run the mount helper ${this.path}: ${r.error.message}` };
    if (r.status === 0) return { supported: true, reason: '' };
    return { supported: false, reason: (r.stdout || r.stderr || `exit ${String(r.status)}`).trim() };
  }

  /** Runs every request in one helper process; requests are grouped by pid so each namespace is entered once. */
  async attach(requests: readonly AttachRequest[]): Promise<AttachResult[]> {
    if (requests.length === 0) return [];
    const sorted = [...requests].sort((a, b) => a.pid - b.pid);
    const input = sorted
      .map((r) => [targetField(r), r.source, r.target, r.mode, r.attributes && r.attributes.length > 0 ? r.attributes.join(',') : '-'].join('\t'))
      .join('\n');
    const { stdout, stderr, code } = await run(this.path, ['attach'], `${input}\n`);
    const results: AttachResult[] = [];
    for (const line of stdout.split('\n')) {
      const f = line.split('\t');
      // The helper echoes the pids field as given; its first pid is the request's `pid`.
      if (f[0] === 'ok' && f.length >= 4) results.push({ pid: parseInt(f[1], 10), target: f[2], ok: true, detail: f[3] });
      else if (f[0] === 'err' && f.length >= 6 && f[3] === 'gone') {
        results.push({ pid: parseInt(f[1], 10), target: f[2], ok: false, detail: 'every process given for its mount namespace has exited', errno: Number(f[4]), gone: true });
      } else if (f[0] === 'err' && f.length >= 6) results.push({ pid: parseInt(f[1], 10), target: f[2], ok: false, detail: `${f[3]}: ${f[5]}`, errno: Number(f[4]) });
    }
    if (code !== 0 && results.length < sorted.length) {
      throw new Error(`mount helper exited with ${String(code)} after ${results.length} of ${sorted.length} requests: ${stderr.trim()}`);
    }
    return results;
  }
}

/** `pid[,pid...][@inode]`: the ways into the target namespace, in the order the helper tries them. */
function targetField(r: AttachRequest): string {
  const pids = [r.pid, ...(r.fallbackPids ?? []).filter((p) => p !== r.pid)].join(',');
  const inode = r.namespace === undefined ? undefined : /^mnt:\[(\d+)\]$/.exec(r.namespace)?.[1];
  return inode === undefined ? pids : `${pids}@${inode}`;
}

function run(cmd: string, args: string[], input: string): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout, stderr, code }));
    child.stdin.end(input);
  });
}

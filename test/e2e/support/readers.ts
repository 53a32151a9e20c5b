/**
 * A reader loop inside a container: it reads /proc/meminfo and /proc/cpuinfo
 * about 40 times a second with shell builtins only, and reports transitions
 * (first failure, recovery) plus a progress count. The test timestamps the
 * lines as they arrive, which gives failed reads and failure windows.
 */
import { DEFAULT_LXCFS_FILES } from '../../../lib/contract';
import * as fs from 'fs';

export const READER_SCRIPT = `
ok=1; n=0
while :; do
  r=ok; m=; c=0
  { read -r m </proc/meminfo; } 2>/dev/null || r=meminfo-unreadable
  if [ $r = ok ]; then
    { while read -r k rest; do if [ "$k" = processor ]; then c=$((c+1)); fi; done </proc/cpuinfo; } 2>/dev/null || r=cpuinfo-unreadable
  fi
  set -- $m
  if [ $r = ok ] && { [ "$2" != 1048576 ] || [ $c != 1 ]; }; then r="wrong-values:MemTotal=$2:processors=$c"; fi
  n=$((n+1))
  if [ $r != ok ]; then echo "F $n $r"; ok=0; elif [ $ok = 0 ]; then echo "O $n"; ok=1; fi
  if [ $((n % 10)) = 0 ]; then echo "C $n"; fi
  usleep 25000
done
`;

export class ReaderLog {
  failedReads = 0;
  reads = 0;
  readonly failures: string[] = [];
  private failingSince: number | undefined;
  longestFailureMs = 0;
  lastProgressAt = 0;

  constructor(readonly id: string) {}

  /** Feed one output line of the reader. */
  line(text: string, at = Date.now()): void {
    const [kind, count, detail] = text.split(' ');
    if (kind === 'F') {
      this.failedReads++;
      if (this.failures.length < 20) this.failures.push(`${this.id}: read ${count} ${detail}`);
      if (this.failingSince === undefined) this.failingSince = at;
    } else if (kind === 'O') {
      this.closeWindow(at);
    } else if (kind === 'C') {
      this.reads = Number(count);
      this.lastProgressAt = at;
    } else if (text.trim() !== '') {
      this.failures.push(`${this.id}: unexpected output "${text}"`);
    }
  }

  /** A failure window still open at the end counts until now. */
  finish(at = Date.now()): void {
    this.closeWindow(at);
  }

  private closeWindow(at: number): void {
    if (this.failingSince !== undefined) {
      this.longestFailureMs = Math.max(this.longestFailureMs, at - this.failingSince);
      this.failingSince = undefined;
    }
  }
}

/** lxcfs mounts in a container's mount namespace, read from the host. */
export function containerLxcfsMounts(initPid: number): { device: string; mountPoint: string }[] {
  return fs
    .readFileSync(`/proc/${initPid}/mountinfo`, 'utf8')
    .split('\n')
    .filter((l) => l.includes(' - fuse.lxcfs '))
    .map((l) => {
      const f = l.split(' ');
      return { device: f[2], mountPoint: f[4] };
    });
}

export const LXCFS_FILE_COUNT = DEFAULT_LXCFS_FILES.length;

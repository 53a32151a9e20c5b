/**
 * Judges what the reference pod (limits: cpu 0.5, memory 1024Mi) reads in the
 * eight lxcfs files, against what the machine itself shows. Each verdict says
 * what the file shows in a few words, so the matrix table and test failures
 * read the same.
 */
import { FileTexts } from '../guest/protocol';

export interface FileVerdict {
  readonly file: string;
  /** What the pod reads, condensed: `1 processor`, `MemTotal 1048576 kB`, ... */
  readonly shows: string;
  /** The same measure on the machine, for contrast. */
  readonly machine: string;
  readonly truthful: boolean;
}

/**
 * Slack on "uptime no larger than the container's age". The age is counted from before the
 * container was requested to after the read returned, so it can only overstate the real age,
 * whatever the machine's speed; the slack covers rounding, not time.
 */
export const UPTIME_SLACK_SECONDS = 1;
/** The container's processes: its sleeping init, the exec's shell and the reader (cat). */
const CONTAINER_TASKS_AT_MOST = 5;

const count = (text: string, re: RegExp): number => (text.match(re) ?? []).length;
/** `<seconds up> <seconds idle>` */
const UPTIME = /^(\d+\.\d+) \d+\.\d+\n?$/;
/** `<1 min> <5 min> <15 min> <running>/<tasks> <last pid>`: group 1 is the task count. */
const LOADAVG = /^\d+\.\d+ \d+\.\d+ \d+\.\d+ \d+\/(\d+) \d+\n?$/;

function measure(file: string, text: string): string {
  if (text.startsWith('ERROR')) return text.split('\n')[0].slice(0, 80);
  switch (file) {
    case '/proc/cpuinfo': {
      const n = count(text, /^processor\s*:/gm);
      return `${n} processor${n === 1 ? '' : 's'}`;
    }
    case '/proc/meminfo':
      return `MemTotal ${/^MemTotal:\s*(\d+ kB)/m.exec(text)?.[1] ?? '?'}`;
    case '/proc/stat': {
      const n = count(text, /^cpu\d+ /gm);
      return `${n} cpuN line${n === 1 ? '' : 's'}`;
    }
    case '/sys/devices/system/cpu/online':
      return `"${text.trim()}"`;
    case '/proc/swaps': {
      const n = text.trim().split('\n').length - 1;
      return n === 0 ? 'header only' : `${n} swap area${n === 1 ? '' : 's'}`;
    }
    case '/proc/uptime':
      return `${Number(text.split(/\s+/)[0]).toFixed(1)} s`;
    case '/proc/loadavg': {
      const f = text.trim().split(/\s+/);
      return `${f[0]} (tasks ${f[3]?.split('/')[1] ?? '?'})`;
    }
    case '/proc/diskstats': {
      const n = text.trim() === '' ? 0 : text.trim().split('\n').length;
      return `${n} device line${n === 1 ? '' : 's'}`;
    }
    default:
      return text.trim().slice(0, 40);
  }
}

function truthful(file: string, text: string, containerAgeSeconds: number): boolean {
  if (text.startsWith('ERROR')) return false;
  switch (file) {
    case '/proc/cpuinfo':
      return count(text, /^processor\s*:/gm) === 1;
    case '/proc/meminfo':
      return /^MemTotal:\s*1048576 kB$/m.test(text);
    case '/proc/stat':
      return count(text, /^cpu\d+ /gm) === 1;
    case '/sys/devices/system/cpu/online':
      return text.trim() === '0';
    case '/proc/swaps':
      // The VM has no swap: a truthful view lists none (this file only proves it is served and readable).
      return text.trim().split('\n').length === 1 && text.startsWith('Filename');
    case '/proc/uptime': {
      const up = UPTIME.exec(text);
      return up !== null && Number(up[1]) <= containerAgeSeconds + UPTIME_SLACK_SECONDS;
    }
    case '/proc/loadavg': {
      const load = LOADAVG.exec(text);
      return load !== null && Number(load[1]) <= CONTAINER_TASKS_AT_MOST;
    }
    case '/proc/diskstats':
      // The VM has no block device the container did I/O on: nothing to list, but the file must be served.
      return true;
    default:
      return false;
  }
}

export function judge(files: FileTexts, machine: FileTexts, containerAgeSeconds: number): FileVerdict[] {
  return Object.keys(files).map((file) => ({
    file,
    shows: measure(file, files[file]),
    machine: measure(file, machine[file] ?? 'ERROR: not read'),
    truthful: truthful(file, files[file], containerAgeSeconds),
  }));
}

/** The files a view gets wrong, as `file: shows (machine: ...)` lines; empty when the view is truthful. */
export function untruthful(verdicts: readonly FileVerdict[]): string[] {
  return verdicts.filter((v) => !v.truthful).map((v) => `${v.file}: ${v.shows} (machine: ${v.machine})`);
}

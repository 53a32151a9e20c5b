/**
 * The VM suite's judge (test/vm/support/view.ts) and console protocol: a view
 * with the machine's values must be judged untruthful file by file, or the VM
 * suite could not fail; a console line that is not an event must be ignored.
 */
import { DEFAULT_LXCFS_FILES } from '../../lib/contract';
import { MARKER, parseEventLine } from '../vm/guest/protocol';
import { knownUntruthful } from '../vm/support/known';
import { judge, untruthful } from '../vm/support/view';

const cpu = (n: number): string => `processor\t: ${n}\nvendor_id\t: AuthenticAMD\n\n`;

/** A 2-CPU, 3 GiB machine that booted 40 s ago, as the VMs are. */
const MACHINE: Record<string, string> = {
  '/proc/cpuinfo': cpu(0) + cpu(1),
  '/proc/meminfo': 'MemTotal:        3049852 kB\nMemFree:         2765332 kB\n',
  '/proc/stat': 'cpu  496 0 937 1618 3 0 83 0 0 0\ncpu0 201 0 554 717 0 0 41 0 0 0\ncpu1 295 0 383 901 3 0 42 0 0 0\nintr 7309\n',
  '/proc/uptime': '40.68 70.10\n',
  '/proc/loadavg': '0.37 0.12 0.04 1/69 206\n',
  '/proc/diskstats': '',
  '/proc/swaps': 'Filename\t\t\t\tType\t\tSize\tUsed\tPriority\n',
  '/sys/devices/system/cpu/online': '0-1\n',
};

/** What lxcfs 7.0 shows the reference pod (0.5 CPU, 1024Mi) 3 s after its start. */
const POD: Record<string, string> = {
  ...MACHINE,
  '/proc/cpuinfo': cpu(0),
  '/proc/meminfo': 'MemTotal:        1048576 kB\nMemFree:         1046000 kB\n',
  '/proc/stat': 'cpu  1 0 1 10 0 0 0 0 0 0\ncpu0 1 0 1 10 0 0 0 0 0 0\nintr 7309\n',
  '/proc/uptime': '2.80 2.70\n',
  '/proc/loadavg': '0.00 0.00 0.00 0/1 206\n',
  '/sys/devices/system/cpu/online': '0\n\n',
};

describe('VM suite judge of the eight lxcfs files', () => {
  test('the reference pod under a truthful lxcfs: every file truthful', () => {
    expect(untruthful(judge(POD, MACHINE, 3))).toEqual([]);
  });

  test("the machine's own files read as the pod's: every discriminating file untruthful", () => {
    const wrong = judge(MACHINE, MACHINE, 3)
      .filter((v) => !v.truthful)
      .map((v) => v.file);
    // swaps and diskstats cannot tell in a VM without swap or disks (README).
    expect(wrong).toEqual(['/proc/cpuinfo', '/proc/meminfo', '/proc/stat', '/proc/uptime', '/proc/loadavg', '/sys/devices/system/cpu/online']);
  });

  test('lxcfs 6.0.4 on cgroup v2: only /proc/stat lists the machine’s CPUs, which is the known defect', () => {
    const view = { ...POD, '/proc/stat': MACHINE['/proc/stat'] };
    expect(judge(view, MACHINE, 3).filter((v) => !v.truthful).map((v) => v.file)).toEqual(knownUntruthful('6.0.4', 'v2'));
    expect(knownUntruthful('6.0.6', 'v2')).toEqual([]);
    expect(knownUntruthful('7.0.0', 'v2')).toEqual([]);
    expect(knownUntruthful('6.0.5', 'v2')).toEqual(['/proc/stat']);
    expect(knownUntruthful('7.0.0', 'v1')).toEqual([...DEFAULT_LXCFS_FILES]);
  });

  test('failed reads, garbage and truncated answers are untruthful, never a crash', () => {
    const garbage: Record<string, string> = {};
    for (const f of DEFAULT_LXCFS_FILES) garbage[f] = f.endsWith('swaps') || f.endsWith('diskstats') ? 'ERROR: Transport endpoint is not connected' : '\0\n;rm -rf /\n';
    const verdicts = judge(garbage, MACHINE, 3);
    expect(verdicts.every((v) => !v.truthful)).toBe(true);
    expect(judge({ '/proc/uptime': 'NaN' }, MACHINE, 3)[0].truthful).toBe(false);
    expect(judge({ '/proc/loadavg': '0.00 0.00' }, MACHINE, 3)[0].truthful).toBe(false);
  });
});

describe('VM console protocol', () => {
  test('events are found after kernel noise on the same line; other lines and broken JSON are ignored', () => {
    expect(parseEventLine(`[   12.3] random: crng init done ${MARKER} done {"seconds":1.5}`)).toEqual({ kind: 'done', data: { seconds: 1.5 } });
    expect(parseEventLine('Booting from ROM...')).toBeUndefined();
    expect(parseEventLine(`${MARKER} view {"label":`)).toBeUndefined();
    expect(parseEventLine(`${MARKER} done`)).toBeUndefined();
  });
});

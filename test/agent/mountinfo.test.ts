/** mountinfo parsing (pure, no root): escapes, stacking, names that are not UTF-8. */
import * as fc from 'fast-check';
import { contains, mountHolding, parseLxcfsMountinfo, parseMountinfo, stackAt, topMounts, unescapeMountinfo } from '../../lib/agent/mountinfo';

/** What the kernel does to a name in mountinfo (seq_escape with " \t\n\\"). */
function kernelEscape(name: string): string {
  return name.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

function line(id: number, parent: number, mountPoint: string, fsType = 'fuse.lxcfs', root = '/proc/meminfo', opts = 'ro,nosuid', source = 'lxcfs'): string {
  return `${id} ${parent} 0:52 ${kernelEscape(root)} ${kernelEscape(mountPoint)} ${opts} master:1 - ${fsType} ${kernelEscape(source)} rw,user_id=0`;
}

describe('parseMountinfo', () => {
  test('decodes every escaped byte: space, tab, newline, backslash', () => {
    const [m] = parseMountinfo(line(40, 30, '/a b\tc\nd\\e'));
    expect(m.mountPoint).toBe('/a b\tc\nd\\e');
    expect(m).toMatchObject({ mountId: 40, parentId: 30, fsType: 'fuse.lxcfs', root: '/proc/meminfo', options: ['ro', 'nosuid'], exact: true });
  });

  test('a name that looks like a mountinfo line or a helper request stays one name', () => {
    const hostile = `/x\n1 2 0:1 / / rw - ext4 /dev/sda rw\nreplace\u0001`;
    const entries = parseMountinfo(`${line(41, 30, hostile)}\n${line(42, 30, '/proc/cpuinfo')}`);
    expect(entries.map((e) => e.mountPoint)).toEqual([hostile, '/proc/cpuinfo']);
  });

  test('backslashes not followed by three octal digits stay as they are', () => {
    expect(unescapeMountinfo('/a\\b\\400\\0777')).toBe('/a\\b\\400?7');
  });

  test('UTF-8 names decode to text; other bytes mark the entry inexact (never acted on)', () => {
    const utf8 = Buffer.from('/proc/m€minfo', 'utf8').toString('latin1');
    const [a] = parseMountinfo(line(43, 30, utf8));
    expect(a).toMatchObject({ mountPoint: '/proc/m€minfo', exact: true });
    const [b] = parseMountinfo(line(44, 30, '/proc/\xff\xfe'));
    expect(b.exact).toBe(false);
  });

  test('malformed lines are skipped', () => {
    expect(parseMountinfo('garbage\n1 2 3\nx y 0:1 / /a rw - ext4 s rw\n')).toEqual([]);
  });

  test('property: any name without NUL survives escape and parse (as the kernel prints it)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 255 }), { minLength: 1, maxLength: 300 }), (bytes) => {
        const latin1 = `/${Buffer.from(bytes).toString('latin1')}`;
        const [m] = parseMountinfo(line(50, 1, latin1));
        const back = m.exact ? Buffer.from(m.mountPoint, 'utf8') : Buffer.from(m.mountPoint, 'latin1');
        expect(back.equals(Buffer.from(latin1, 'latin1'))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('stacking', () => {
  const table = parseMountinfo(
    [
      line(1, 0, '/', 'ext4', '/', 'rw', '/dev/sda'),
      line(10, 1, '/proc', 'proc', '/', 'rw', 'proc'),
      line(20, 10, '/proc/meminfo'),
      // The container's own file stacked over its lxcfs file.
      line(21, 20, '/proc/meminfo', 'ext4', '/my-meminfo', 'ro', '/dev/sda'),
      line(30, 10, '/proc/cpuinfo'),
    ].join('\n'),
  );

  test('a mount with another mount on it at the same point is not on top, whatever the types', () => {
    expect(topMounts(table).map((m) => m.mountId)).toEqual([1, 10, 21, 30]);
  });

  test('stackAt lists a mount point top first', () => {
    expect(stackAt(table, '/proc/meminfo').map((m) => m.mountId)).toEqual([21, 20]);
  });

  test('mountHolding finds the visible mount a path lies on', () => {
    expect(mountHolding(table, '/proc/cpuinfo')?.mountId).toBe(30);
    expect(mountHolding(table, '/proc/stat')?.mountId).toBe(10);
    expect(mountHolding(table, '/etc')?.mountId).toBe(1);
    expect(contains('/proc', '/procx')).toBe(false);
  });
});

describe('parseMountinfo finds fields by their spaces, as the split-based parser did', () => {
  // The parser as first written (every field split out, a decoded name and its flag as an object): the reference.
  const unescape = (f: string): string => f.replace(/\\([0-3][0-7]{2})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
  const decode = (x: string): { text: string; exact: boolean } => {
    if (!/[\x80-\xff]/.test(x)) return { text: x, exact: true };
    const bytes = Buffer.from(x, 'latin1');
    const text = bytes.toString('utf8');
    return Buffer.from(text, 'utf8').equals(bytes) ? { text, exact: true } : { text: x, exact: false };
  };
  const reference = (text: string): unknown[] => {
    const out: unknown[] = [];
    for (const l of text.split('\n')) {
      if (l === '') continue;
      const f = l.split(' ');
      const sep = f.indexOf('-', 6);
      if (sep < 0 || f.length < sep + 3) continue;
      const mountId = Number(f[0]);
      const parentId = Number(f[1]);
      if (!Number.isSafeInteger(mountId) || !Number.isSafeInteger(parentId) || mountId <= 0) continue;
      const root = decode(unescape(f[3]));
      const mountPoint = decode(unescape(f[4]));
      out.push({
        mountId,
        parentId,
        device: f[2],
        root: root.text,
        mountPoint: mountPoint.text,
        options: f[5].split(','),
        fsType: f[sep + 1],
        source: decode(unescape(f[sep + 2])).text,
        exact: root.exact && mountPoint.exact,
        shared: f.slice(6, sep).some((x) => x.startsWith('shared:')),
      });
    }
    return out;
  };
  // Fields drawn from what mountinfo holds and what breaks it: empty fields, lone and doubled
  // dashes, look-alikes of the separator and of shared:N, escapes, bytes that are not UTF-8.
  const token = fc.oneof(
    fc.constantFrom('-', '--', '- ', '', 'shared:1', 'shared:', 'master:2', 'shared', '0x10', '1e3', '-1', '18446744073709551616', '\\040', '\\134', '\\400', 'fuse.lxcfs', 'ro,nosuid', '0:61', '/'),
    fc.integer({ min: 0, max: 300 }).map(String),
    fc.array(fc.integer({ min: 1, max: 255 }), { minLength: 1, maxLength: 8 }).map((b) => Buffer.from(b).toString('latin1').replace(/\n/g, '')),
  );
  const lineOf = fc.array(token, { minLength: 0, maxLength: 14 }).map((t) => t.join(' '));
  test('property: any line, well-formed or not, parses to what the reference gives', () => {
    fc.assert(
      fc.property(fc.array(lineOf, { maxLength: 6 }), (lines) => {
        const text = lines.join('\n');
        expect(parseMountinfo(text)).toEqual(reference(text));
      }),
      { numRuns: 8000 },
    );
  });
  test('property: well-formed lines of any names parse to what the reference gives', () => {
    const name = fc.array(fc.integer({ min: 1, max: 255 }), { minLength: 1, maxLength: 20 }).map((b) => `/${Buffer.from(b).toString('latin1')}`);
    fc.assert(
      fc.property(fc.array(fc.tuple(name, fc.boolean(), fc.integer({ min: 1, max: 99 })), { minLength: 1, maxLength: 10 }), (mounts) => {
        const text = mounts.map(([mp, lxcfs, parent], i) => line(100 + i, parent, mp, lxcfs ? 'fuse.lxcfs' : 'ext4')).join('\n');
        expect(parseMountinfo(text)).toEqual(reference(text));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('parseLxcfsMountinfo (what a heal pass parses)', () => {
  const text = [
    line(1, 0, '/', 'ext4', '/', 'rw', '/dev/sda'),
    line(10, 1, '/proc', 'proc', '/', 'rw', 'proc'),
    line(20, 10, '/proc/meminfo'),
    line(21, 20, '/proc/meminfo', 'ext4', '/my-meminfo', 'ro', '/dev/sda'),
    line(30, 10, '/proc/cpuinfo'),
    line(40, 1, '/data', 'ext4', '/', 'rw', '/dev/sdb'),
    // A name that spells an lxcfs line is escaped by the kernel: it is an ext4 mount, nothing more.
    line(50, 1, '/x - fuse.lxcfs lxcfs rw', 'ext4', '/', 'rw', '/dev/sdc'),
  ].join('\n');

  test('keeps lxcfs mounts and what is stacked at their mount points, nothing else', () => {
    expect(parseLxcfsMountinfo(Buffer.from(text, 'latin1')).map((m) => m.mountId)).toEqual([20, 21, 30]);
  });

  test('the heal plan sees the same top lxcfs mounts as from the whole table', () => {
    const lxcfsTops = (entries: ReturnType<typeof parseMountinfo>): number[] => topMounts(entries).filter((m) => m.fsType === 'fuse.lxcfs').map((m) => m.mountId);
    expect(lxcfsTops(parseLxcfsMountinfo(Buffer.from(text, 'latin1')))).toEqual(lxcfsTops(parseMountinfo(text)));
    expect(lxcfsTops(parseLxcfsMountinfo(Buffer.from(text, 'latin1')))).toEqual([30]);
  });

  test('property: for any text, even malformed, the entries are those of the line-splitting reference', () => {
    // The selection as first written (every line split out, filtered, joined, parsed again): the reference.
    const field5 = (l: string): string => {
      let start = 0;
      for (let i = 0; i < 4; i++) {
        start = l.indexOf(' ', start) + 1;
        if (start === 0) return '';
      }
      const end = l.indexOf(' ', start);
      return end < 0 ? '' : l.slice(start, end);
    };
    const reference = (t: string): ReturnType<typeof parseMountinfo> => {
      const lines = t.split('\n');
      const points = new Set<string>();
      for (const l of lines) if (l.includes(' - fuse.lxcfs ')) points.add(field5(l));
      return points.size === 0 ? [] : parseMountinfo(lines.filter((l) => points.has(field5(l))).join('\n'));
    };
    const name = fc.oneof(
      fc.array(fc.integer({ min: 1, max: 255 }), { minLength: 1, maxLength: 12 }).map((b) => `/${Buffer.from(b).toString('latin1')}`),
      fc.constantFrom('/proc/meminfo', '/proc/cpuinfo', '', '/', '/a b', '/x - fuse.lxcfs y'),
    );
    const wellFormed = fc.tuple(name, fc.boolean(), fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1, max: 120 })).map(([mp, lxcfs, parent, id]) =>
      line(id, parent === 0 ? 1 : 99 + parent, mp, lxcfs ? 'fuse.lxcfs' : 'ext4'),
    );
    const garbled = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 40 }).map((x) => x.replace(/\n/g, ' ')),
      wellFormed.chain((l) => fc.nat(l.length).map((cut) => l.slice(0, cut))),
      fc.constantFrom('1 0 0:1 / /p rw - fuse.lxcfs lxcfs rw', ' - fuse.lxcfs ', '1 2 3 4 - fuse.lxcfs x y', '1 1 0:1 / /p  - fuse.lxcfs lxcfs rw', ''),
    );
    fc.assert(
      fc.property(fc.array(fc.oneof(wellFormed, wellFormed, garbled), { maxLength: 14 }), fc.boolean(), (lines, trailing) => {
        const text = lines.join('\n') + (trailing ? '\n' : '');
        // As the agent reads it: bytes (a char above U+00FF stands for its low byte).
        const bytes = Buffer.from(text, 'latin1');
        expect(parseLxcfsMountinfo(bytes)).toEqual(reference(bytes.toString('latin1')));
      }),
      { numRuns: 4000 },
    );
  });

  test('property: for any names, the lxcfs mounts on top are those of the whole table', () => {
    const name = fc.array(fc.integer({ min: 1, max: 255 }), { minLength: 1, maxLength: 20 }).map((b) => `/${Buffer.from(b).toString('latin1')}`);
    fc.assert(
      fc.property(fc.array(fc.tuple(name, fc.boolean(), fc.integer({ min: 0, max: 5 })), { minLength: 1, maxLength: 12 }), (mounts) => {
        const lines = mounts.map(([mp, lxcfs, parent], i) => line(100 + i, parent === 0 ? 1 : 99 + parent, mp, lxcfs ? 'fuse.lxcfs' : 'ext4'));
        const whole = lines.join('\n');
        const tops = (entries: ReturnType<typeof parseMountinfo>): number[] => topMounts(entries).filter((m) => m.fsType === 'fuse.lxcfs').map((m) => m.mountId);
        expect(tops(parseLxcfsMountinfo(Buffer.from(whole, 'latin1')))).toEqual(tops(parseMountinfo(whole)));
      }),
      { numRuns: 2000 },
    );
  });
});

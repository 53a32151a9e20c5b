/** The agent ↔ helper wire format (pure, no root). */
import * as fc from 'fast-check';
import { decodeAnswers, decodeRequests, encodeRequests, HelperRequest, isCanonicalPath, namespaceInode, recordAround, requestProblem, skipRecords } from '../../lib/agent/protocol';

const base: HelperRequest = {
  mode: 'replace',
  pids: [1234, 99],
  namespaceInode: 4026532000n,
  mountId: 812,
  device: '0:61',
  source: '/run/lxcfs-kit/instances/1-a/mnt/proc/meminfo',
  target: '/proc/meminfo',
  attributes: ['ro', 'nosuid'],
};

function fields(buf: Buffer): string[] {
  const s = buf.toString('utf8');
  expect(s.endsWith('\0')).toBe(true);
  return s.slice(0, -1).split('\0');
}

describe('encodeRequests', () => {
  test('eight NUL-terminated fields per request', () => {
    expect(fields(encodeRequests([base]))).toEqual(['replace', '1234,99', '4026532000', '812', '0:61', base.source, '/proc/meminfo', 'ro,nosuid']);
  });

  test('property: any canonical target, whatever its bytes (newline, tab, protocol look-alikes), is exactly one field', () => {
    const component = fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }).filter((c) => !c.includes('/') && !c.includes('\0') && c !== '.' && c !== '..');
    fc.assert(
      fc.property(fc.array(component, { minLength: 1, maxLength: 8 }), (parts) => {
        const target = `/${parts.join('/')}`;
        fc.pre(Buffer.byteLength(target) <= 4095);
        const got = fields(encodeRequests([{ ...base, target }, { ...base, mode: 'umount', source: '', attributes: [], target: '/x' }]));
        expect(got).toHaveLength(16);
        expect(got[6]).toBe(target);
        expect(got[8]).toBe('umount');
      }),
      { numRuns: 3000 },
    );
  });

  test.each<[string, Partial<HelperRequest>]>([
    ['no pid', { pids: [] }],
    ['nine pids', { pids: [1, 2, 3, 4, 5, 6, 7, 8, 9] }],
    ['pid 0', { pids: [0] }],
    ['no namespace inode', { namespaceInode: 0n }],
    ['no mount ID', { mountId: 0 }],
    ['a relative target', { target: 'proc/meminfo' }],
    ['a target with ..', { target: '/proc/../etc/passwd' }],
    ['a target with a NUL', { target: '/proc/mem\0info' }],
    ['a target over 4095 bytes', { target: `/${'a'.repeat(4095)}` }],
    ['a duplicate attribute', { attributes: ['ro', 'ro'] }],
    ['a source for umount', { mode: 'umount', attributes: [] }],
    ['attributes for check', { mode: 'check', source: '' }],
    ['no device for replace', { device: '' }],
    ['no device for umount', { mode: 'umount', source: '', attributes: [], device: '' }],
    ['a device with a leading zero', { device: '0:061' }],
    ['a device over 32 bits', { device: '4294967296:1' }],
    ['a device that is not major:minor', { device: '0:61:1' }],
    ['a device for mount (its target lies on any filesystem)', { mode: 'mount' }],
  ])('refuses %s (and never encodes it)', (_what, change) => {
    const r = { ...base, ...change };
    expect(requestProblem(r)).toBeDefined();
    expect(() => encodeRequests([r])).toThrow(/cannot encode/);
  });
});

describe('requestProblem checks devices and attributes by hand, as the rules it replaced did', () => {
  // The rules as they were written before (regular expression, Set): the reference.
  const deviceRule = (d: string): boolean => {
    const m = /^(0|[1-9][0-9]{0,9}):(0|[1-9][0-9]{0,9})$/.exec(d);
    return m !== null && Number(m[1]) <= 0xffffffff && Number(m[2]) <= 0xffffffff;
  };
  const attributesRule = (a: readonly string[]): boolean => new Set(a).size === a.length && a.every((x) => ['ro', 'nosuid', 'nodev', 'noexec'].includes(x));
  const digits = fc.stringMatching(/^[0-9]{0,12}$/);
  const device = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 24 }),
    fc.tuple(digits, fc.constantFrom(':', '::', ' :', ': ', ''), digits).map(([a, s, b]) => `${a}${s}${b}`),
    fc.tuple(fc.nat(0xffffffff), fc.nat(0xffffffff)).map(([a, b]) => `${a}:${b}`),
    fc.constantFrom('4294967295:0', '4294967296:0', '0:4294967296', '00:1', '1:01', '-1:1', '1:+1', '١:1', '1:1\n'),
  );
  test('property: any device string is accepted exactly when the reference accepts it', () => {
    fc.assert(
      fc.property(device, (d) => {
        expect(requestProblem({ ...base, device: d }) === undefined).toBe(deviceRule(d));
      }),
      { numRuns: 5000 },
    );
  });
  test('property: any attribute list is accepted exactly when the reference accepts it', () => {
    const attribute = fc.oneof(fc.constantFrom('ro', 'nosuid', 'nodev', 'noexec', 'rw', 'RO', '', 'ro '), fc.string({ maxLength: 6 }));
    fc.assert(
      fc.property(fc.array(attribute, { maxLength: 6 }), (attributes) => {
        expect(requestProblem({ ...base, attributes: attributes as HelperRequest['attributes'] }) === undefined).toBe(attributesRule(attributes));
      }),
      { numRuns: 5000 },
    );
  });
});

describe('records kept around their source, skipped and read back', () => {
  const component = fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }).filter((c) => !c.includes('/') && !c.includes('\0') && c !== '.' && c !== '..');
  const path = fc.array(component, { minLength: 1, maxLength: 5 }).map((parts) => `/${parts.join('/')}`);
  const request = fc.record({
    mode: fc.constantFrom('replace' as const, 'umount' as const),
    pids: fc.array(fc.integer({ min: 1, max: 0x7fffffff }), { minLength: 1, maxLength: 8 }),
    namespaceInode: fc.bigInt({ min: 1n, max: 0xffffffffffffffffn }),
    mountId: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    device: fc.tuple(fc.nat(0xffffffff), fc.nat(0xffffffff)).map(([a, b]) => `${a}:${b}`),
    source: path,
    target: path,
    attributes: fc.subarray(['ro', 'nosuid', 'nodev', 'noexec'] as const),
  }).map((r): HelperRequest => (r.mode === 'umount' ? { ...r, source: '', attributes: [] } : r));

  test('property: before + source + after is the record encodeRequests writes; decodeRequests reads any batch back; skipRecords drops exactly n', () => {
    fc.assert(
      fc.property(fc.array(request, { maxLength: 6 }), fc.nat(7), (requests, n) => {
        const bytes = encodeRequests(requests);
        expect(bytes.toString('utf8')).toBe(requests.map((r) => { const { before, after } = recordAround(r); return `${before}${r.source}${after}`; }).join(''));
        expect(decodeRequests(bytes)).toEqual(requests);
        expect(decodeRequests(skipRecords(bytes, n))).toEqual(requests.slice(n));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('decodeAnswers', () => {
  const rec = (...f: string[]): Buffer => Buffer.from(f.map((x) => `${x}\0`).join(''), 'utf8');

  test('property: any bytes decode as the field-by-field reference decodes them (same answers, or both refuse)', () => {
    // The decoder as it was first written (a string per field, regular expressions): the reference.
    const reference = (data: Buffer): { answers: unknown[]; consumed: number } => {
      const answers: unknown[] = [];
      let pos = 0;
      for (;;) {
        const f: string[] = [];
        let p = pos;
        while (f.length < 5) {
          const end = data.indexOf(0, p);
          if (end < 0) break;
          f.push(data.toString('utf8', p, end));
          p = end + 1;
        }
        if (f.length < 5) break;
        if (!/^(0|[1-9][0-9]{0,8})$/.test(f[0]) || !['ok', 'err', 'gone', 'refused'].includes(f[1]) || !/^-?[0-9]{1,6}$/.test(f[3])) throw new Error('malformed');
        answers.push({ index: Number(f[0]), result: f[1], how: f[2], errno: Number(f[3]), message: f[4] });
        pos = p;
      }
      return { answers, consumed: pos };
    };
    const field = fc.oneof(
      fc.constantFrom('0', '1', '01', '123456789', '1234567890', 'ok', 'err', 'gone', 'refused', 'OK', 'ok ', '-1', '-', '--1', '000000', '1234567', '-0', 'beneath', ''),
      fc.string({ unit: 'binary', maxLength: 8 }).map((x) => x.replace(/\0/g, '')),
      fc.stringMatching(/^-?[0-9]{0,10}$/),
    );
    const record = fc.array(field, { minLength: 5, maxLength: 5 }).map((f) => `${f.join('\0')}\0`);
    const bytes = fc.tuple(fc.array(record, { maxLength: 4 }), fc.string({ unit: 'binary', maxLength: 12 }), fc.uint8Array({ maxLength: 16 })).map(([records, tail, raw]) =>
      Buffer.concat([Buffer.from(records.join('') + tail, 'utf8'), Buffer.from(raw)]),
    );
    fc.assert(
      fc.property(bytes, (data) => {
        let want: { answers: unknown[]; consumed: number } | 'refused';
        try {
          want = reference(data);
        } catch {
          want = 'refused';
        }
        if (want === 'refused') expect(() => decodeAnswers(data)).toThrow(/malformed record/);
        else expect(decodeAnswers(data)).toEqual(want);
      }),
      { numRuns: 5000 },
    );
  });

  test('complete records only; the rest waits for more bytes', () => {
    const data = Buffer.concat([rec('0', 'ok', 'beneath', '0', ''), rec('1', 'err', 'mount-changed', '116', 'Stale file handle').subarray(0, 12)]);
    const { answers, consumed } = decodeAnswers(data);
    expect(answers).toEqual([{ index: 0, result: 'ok', how: 'beneath', errno: 0, message: '' }]);
    expect(consumed).toBe(rec('0', 'ok', 'beneath', '0', '').length);
  });

  test('a malformed record is an error, not a guess', () => {
    expect(() => decodeAnswers(rec('x', 'ok', 'a', '0', ''))).toThrow(/malformed/);
    expect(() => decodeAnswers(rec('0', 'maybe', 'a', '0', ''))).toThrow(/malformed/);
  });
});

test('namespaceInode accepts only mnt:[digits]', () => {
  expect(namespaceInode('mnt:[4026531841]')).toBe(4026531841n);
  for (const bad of [undefined, 'mnt:[]', 'net:[1]', 'mnt:[01]', 'mnt:[1] ', 'mnt:[99999999999999999999999]']) expect(namespaceInode(bad)).toBeUndefined();
});

test('isCanonicalPath', () => {
  expect(['/', '/proc/meminfo', '/a b/\n/c', '/...', '/.a', '/a..'].every(isCanonicalPath)).toBe(true);
  expect(['', 'a', '/a/', '//a', '/a/./b', '/a/../b', '/a\0', '/.', '/..', '/a/.', '/a/..', `/${'é'.repeat(2048)}`].some(isCanonicalPath)).toBe(false);
});

test('property: isCanonicalPath agrees with the rule written out (components not empty, . or ..; no NUL; at most 4095 bytes)', () => {
  const reference = (p: string): boolean =>
    p.startsWith('/') && !p.includes('\0') && Buffer.byteLength(p, 'utf8') <= 4095 && (p === '/' || p.slice(1).split('/').every((c) => c !== '' && c !== '.' && c !== '..'));
  const char = fc.constantFrom('/', '.', 'a', '\0', 'é', ' ', '\n');
  fc.assert(fc.property(fc.array(char, { maxLength: 12 }).map((cs) => cs.join('')), (p) => expect(isCanonicalPath(p)).toBe(reference(p))), { numRuns: 20000 });
  for (const n of [4094, 4095, 4096]) for (const unit of ['a', 'é']) {
    const p = `/${unit.repeat(Math.floor(n / Buffer.byteLength(unit)))}`;
    expect(isCanonicalPath(p)).toBe(reference(p));
  }
});

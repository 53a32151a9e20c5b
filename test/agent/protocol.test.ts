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

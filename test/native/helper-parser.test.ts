/**
 * The native helper's request parser, without root: fuzzed with generated inputs under
 * AddressSanitizer and UndefinedBehaviorSanitizer, and checked against the agent's encoder.
 * The driver (helper-fuzz.c) compiles the helper's own source with only the parser left in.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as fc from 'fast-check';
import { encodeRequests, HelperRequest, MOUNT_ATTRIBUTES } from '../../lib/agent/protocol';

const REPO = path.resolve(__dirname, '../..');
const FUZZ_INPUTS = 200000;

describe('helper request parser (ASan + UBSan build of the real parser)', () => {
  let dir: string;
  let driver: string;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcfs-kit-fuzz-'));
    driver = path.join(dir, 'helper-fuzz');
    execFileSync(
      'cc',
      ['-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-g', '-O1', '-Wall', '-Wextra', '-Werror', '-I', path.join(REPO, 'lib/agent/native'), '-o', driver, path.join(__dirname, 'helper-fuzz.c')],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
  }, 120000);

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test(`${FUZZ_INPUTS} generated inputs: no sanitizer finding, every record either refused with a reason or fully valid`, () => {
    // A fixed seed (reproducible) and one that changes per run (wider coverage over time).
    for (const seed of ['1', String(Date.now())]) {
      const r = spawnSync(driver, ['fuzz', String(FUZZ_INPUTS / 2), seed], { encoding: 'utf8', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=0' } });
      const summary = `seed ${seed}: ${r.stdout.trim()} ${r.stderr.trim()}`;
      process.stdout.write(`helper parser fuzz, ${summary}\n`);
      expect(r.stderr).not.toMatch(/Sanitizer|runtime error/);
      expect(r.status).toBe(0);
      const counts = Object.fromEntries(r.stdout.trim().split(' ').map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)]));
      expect(counts.inputs).toBe(FUZZ_INPUTS / 2);
      expect(counts.accepted).toBeGreaterThan(0);
      expect(counts.refused).toBeGreaterThan(counts.accepted);
    }
  }, 300000);

  function dump(input: Buffer): string[] {
    const r = spawnSync(driver, ['dump'], { input, encoding: 'utf8', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' } });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    return r.stdout.split('\n').filter((l) => l !== '');
  }

  const hex = (s: string): string => Buffer.from(s, 'utf8').toString('hex');

  test('every request the agent encodes is parsed back to the same fields (any path bytes)', () => {
    const component = fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }).filter((c) => !c.includes('/') && !c.includes('\0') && c !== '.' && c !== '..');
    const canonical = fc.array(component, { minLength: 1, maxLength: 6 }).map((p) => `/${p.join('/')}`);
    const request: fc.Arbitrary<HelperRequest> = fc.record({
      mode: fc.constantFrom('replace' as const, 'mount' as const, 'umount' as const, 'check' as const, 'bind' as const),
      pids: fc.array(fc.integer({ min: 1, max: 0x7fffffff }), { minLength: 1, maxLength: 8 }),
      namespaceInode: fc.bigInt({ min: 1n, max: 0xffffffffffffffffn }),
      mountId: fc.integer({ min: 1, max: 0x7fffffff }),
      device: fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff })).map(([a, b]) => `${a}:${b}`),
      source: canonical,
      target: canonical,
      attributes: fc.subarray([...MOUNT_ATTRIBUTES]),
    })
      .map((r) => (r.mode === 'umount' || r.mode === 'check' ? { ...r, source: '', attributes: [] } : r))
      .map((r) => (r.mode === 'mount' || r.mode === 'bind' ? { ...r, device: '' } : r));
    fc.assert(
      fc.property(fc.array(request, { minLength: 1, maxLength: 60 }), (requests) => {
        const lines = dump(encodeRequests(requests));
        expect(lines).toEqual(
          requests.map((r) => {
            const attrs = r.attributes.reduce((bits, a) => bits | (1 << MOUNT_ATTRIBUTES.indexOf(a)), 0);
            return ['ok', r.mode, r.pids.join(','), r.namespaceInode.toString(), String(r.mountId), r.device === '' ? '-' : r.device, r.source === '' ? '-' : hex(r.source), hex(r.target), String(attrs)].join('\t');
          }),
        );
      }),
      { numRuns: 40 },
    );
  });

  test.each<[string, Buffer]>([
    ['the old tab/newline line protocol', Buffer.from('1\t/src\t/dst\treplace\n')],
    ['a request cut short (its attrs field missing)', Buffer.from('replace\x001\x004026531841\x0033\x000:60\x00/src\x00/x\nreplace\t1\t/etc\x00')],
    ['the seven-field format of before the device', Buffer.from('umount\x001\x001\x0033\x00\x00/x\x00\x00')],
    ['no namespace inode', Buffer.from('umount\x001\x000\x0033\x000:60\x00\x00/x\x00\x00')],
    ['a pid with a sign', Buffer.from('umount\x00+1\x001\x0033\x000:60\x00\x00/x\x00\x00')],
    ['an unknown mode', Buffer.from('exec\x001\x001\x0033\x000:60\x00\x00/x\x00\x00')],
    ['a relative target', Buffer.from('umount\x001\x001\x0033\x000:60\x00\x00x\x00\x00')],
    ['a dot-dot target', Buffer.from('umount\x001\x001\x0033\x000:60\x00\x00/a/../etc\x00\x00')],
    ['a source given to umount', Buffer.from('umount\x001\x001\x0033\x000:60\x00/s\x00/x\x00\x00')],
    ['an unknown attribute', Buffer.from('replace\x001\x001\x0033\x000:60\x00/s\x00/x\x00rw\x00')],
    ['umount without a device', Buffer.from('umount\x001\x001\x0033\x00\x00\x00/x\x00\x00')],
    ['a device with a leading zero', Buffer.from('umount\x001\x001\x0033\x0000:60\x00\x00/x\x00\x00')],
    ['a device without a minor', Buffer.from('check\x001\x001\x0033\x000:\x00\x00/x\x00\x00')],
    ['a device over 32 bits', Buffer.from('check\x001\x001\x0033\x004294967296:0\x00\x00/x\x00\x00')],
    ['a device given to mount', Buffer.from('mount\x001\x001\x0033\x000:60\x00/s\x00/x\x00\x00')],
  ])('refuses %s', (_what, input) => {
    const lines = dump(input);
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).toMatch(/^refused\t\S/);
  });
});

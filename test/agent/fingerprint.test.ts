/** The mount table fingerprint that lets a pass skip unchanged tables (pure, no root). */
import { tableFingerprint } from '../../lib/agent/fingerprint';

describe('tableFingerprint', () => {
  const table = Buffer.from(
    Array.from({ length: 40 }, (_, i) => `${1000 + i} 900 0:${60 + (i % 3)} /proc/meminfo /proc/meminfo ro,nosuid,nodev,relatime master:1 - fuse.lxcfs lxcfs rw,user_id=0,group_id=0\n`).join(''),
    'latin1',
  );

  test('the same bytes give the same fingerprint, in a fresh buffer too', () => {
    expect(tableFingerprint(Buffer.from(table))).toBe(tableFingerprint(table));
  });

  test('every single-byte change of a real-sized table, and every truncation, changes it', () => {
    const seen = new Set([tableFingerprint(table)]);
    const copy = Buffer.from(table);
    for (let i = 0; i < copy.length; i++) {
      for (const delta of [1, 0x20, 0x80]) {
        copy[i] = (table[i] + delta) & 0xff;
        const f = tableFingerprint(copy);
        expect(seen.has(f)).toBe(false);
        seen.add(f);
      }
      copy[i] = table[i];
    }
    for (let n = 0; n < table.length; n++) expect(tableFingerprint(table.subarray(0, n))).not.toBe(tableFingerprint(table));
  });

  test('the typical edit of a re-attach (mount ID and device) changes it', () => {
    const edited = Buffer.from(table.toString('latin1').replace('1007 900 0:61', '1007 900 0:62'), 'latin1');
    expect(tableFingerprint(edited)).not.toBe(tableFingerprint(table));
    const swapped = Buffer.from(table.toString('latin1').replace('1003 900', '1030 900'), 'latin1');
    expect(tableFingerprint(swapped)).not.toBe(tableFingerprint(table));
  });
});

/**
 * A fingerprint of a mount table's bytes, to tell a table that did not change since the last pass
 * without parsing it. Not cryptographic, on purpose: loading node's crypto costs every agent about
 * 2 MiB of RSS. A container can craft its own table, so a collision is possible for it, and all it
 * buys is the agent not re-reading that container's own table: whatever the agent later does from
 * what it knew (the index) goes through the helper, which checks the mount ID and device at the
 * path right before acting.
 */

/** Two 32-bit FNV-1a lanes with different offsets, and the length: `length:hex:hex`. */
export function tableFingerprint(bytes: Uint8Array): string {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    a = Math.imul(a ^ byte, 0x01000193);
    b = Math.imul(b ^ byte, 0x01000193) ^ (b >>> 15);
  }
  return `${bytes.length}:${(a >>> 0).toString(16)}:${(b >>> 0).toString(16)}`;
}

/**
 * The wire format between the agent and the native mount helper
 * (native/lxcfs-kit-remount.c, "attach"). Pure: no I/O.
 *
 * Mount point names come from mountinfo, which containers control, and may
 * hold any byte but NUL. So every field is NUL-terminated (a request is exactly
 * eight fields, an answer exactly five) and nothing else frames a record. The
 * agent checks each request with the same rules the helper enforces and
 * refuses what it cannot express, instead of sending it.
 */

export type AttachMode = 'replace' | 'mount' | 'umount' | 'bind' | 'check';

export const MOUNT_ATTRIBUTES = ['ro', 'nosuid', 'nodev', 'noexec'] as const;
export type MountAttribute = (typeof MOUNT_ATTRIBUTES)[number];

/** The helper's limits; a request beyond them is refused by both sides. */
export const MAX_PIDS = 8;
export const MAX_PATH_BYTES = 4095;

export interface HelperRequest {
  readonly mode: AttachMode;
  /** Processes in the target mount namespace, tried in order (1 to MAX_PIDS). */
  readonly pids: readonly number[];
  /** Inode of the target mount namespace (`mnt:[inode]`): the helper enters no other. */
  readonly namespaceInode: bigint;
  /**
   * Mount ID (mountinfo's first field, in the target namespace) of the mount acted on: the mount
   * to replace, detach or check, or for `mount` and `bind` the mount the target lies on now.
   */
  readonly mountId: number;
  /**
   * `replace`, `umount`, `check`: the filesystem device (`major:minor`, as mountinfo shows it)
   * of that mount; the helper checks it with the mount ID, which the kernel reuses. Empty for
   * `mount` and `bind`.
   */
  readonly device: string;
  /** Path in the agent's namespace of what gets attached; empty for `umount` and `check`. */
  readonly source: string;
  readonly target: string;
  /** Exactly the flags (of these four) the new mount carries; the helper fails the request when they cannot be set. */
  readonly attributes: readonly MountAttribute[];
}

export type AnswerResult = 'ok' | 'err' | 'gone' | 'refused';

export interface HelperAnswer {
  /** Position of the request in the batch it was sent in. */
  readonly index: number;
  readonly result: AnswerResult;
  /** How it was done (`beneath`, `mounted`, `dead`, `alive`, ...) or the step that failed. */
  readonly how: string;
  readonly errno: number;
  readonly message: string;
}

/** `mnt:[4026531841]` → 4026531841n; undefined for anything else. */
export function namespaceInode(link: string | undefined): bigint | undefined {
  const m = link === undefined ? null : /^mnt:\[([1-9][0-9]{0,19})\]$/.exec(link);
  if (!m) return undefined;
  const v = BigInt(m[1]);
  return v <= 0xffffffffffffffffn ? v : undefined;
}

/** Absolute and canonical, as mountinfo prints paths: no empty, `.` or `..` component, no NUL. */
export function isCanonicalPath(p: string): boolean {
  if (p.length === 0 || p.charCodeAt(0) !== 0x2f || p.length > MAX_PATH_BYTES || Buffer.byteLength(p, 'utf8') > MAX_PATH_BYTES) return false;
  if (p.length === 1) return true;
  // One pass, no allocation: a pass after a restart checks thousands of paths.
  let start = 1;
  for (let i = 1; i <= p.length; i++) {
    const c = i < p.length ? p.charCodeAt(i) : 0x2f;
    if (c === 0) return false;
    if (c !== 0x2f) continue;
    const n = i - start;
    if (n === 0 || (n === 1 && p.charCodeAt(start) === 0x2e) || (n === 2 && p.charCodeAt(start) === 0x2e && p.charCodeAt(start + 1) === 0x2e)) return false;
    start = i + 1;
  }
  return true;
}

/** `major:minor` in decimal, each below 2^32, as the kernel prints a device in mountinfo. */
function isDevice(d: string): boolean {
  // By hand, not a regular expression: the index checks a request for every mount at every pass.
  const colon = d.indexOf(':');
  return colon > 0 && isDecimalBelow2To32(d, 0, colon) && isDecimalBelow2To32(d, colon + 1, d.length);
}

/** `s[start, end)` is 0 or a decimal without leading zeros, at most 2^32 - 1. */
function isDecimalBelow2To32(s: string, start: number, end: number): boolean {
  const n = end - start;
  if (n < 1 || n > 10 || (n > 1 && s.charCodeAt(start) === 0x30)) return false;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return false;
    v = v * 10 + c;
  }
  return v <= 0xffffffff;
}

/** Each of `attributes` is one of MOUNT_ATTRIBUTES, and none twice. */
function areMountAttributes(attributes: readonly string[]): boolean {
  for (let i = 0; i < attributes.length; i++) {
    if (!(MOUNT_ATTRIBUTES as readonly string[]).includes(attributes[i]) || attributes.indexOf(attributes[i]) !== i) return false;
  }
  return true;
}

/** 1 to MAX_PIDS pids, each a positive 32-bit integer. */
function pidsProblem(pids: readonly number[]): string | undefined {
  if (pids.length === 0 || pids.length > MAX_PIDS) return `needs 1 to ${MAX_PIDS} pids, got ${pids.length}`;
  for (const p of pids) if (!Number.isInteger(p) || p <= 0 || p > 0x7fffffff) return 'a pid is not a positive integer';
  return undefined;
}

/** Why the helper would refuse this request (the agent then never sends it); undefined when valid. */
export function requestProblem(r: HelperRequest): string | undefined {
  const pids = pidsProblem(r.pids);
  if (pids !== undefined) return pids;
  if (r.namespaceInode <= 0n || r.namespaceInode > 0xffffffffffffffffn) return 'no mount namespace inode';
  if (!Number.isSafeInteger(r.mountId) || r.mountId <= 0) return 'no mount ID';
  const wantsDevice = r.mode === 'replace' || r.mode === 'umount' || r.mode === 'check';
  if (wantsDevice && !isDevice(r.device)) return `mode ${r.mode} needs the mount's device as major:minor`;
  if (!wantsDevice && r.device !== '') return `mode ${r.mode} takes no device`;
  const wantsSource = r.mode === 'replace' || r.mode === 'mount' || r.mode === 'bind';
  if (wantsSource && !isCanonicalPath(r.source)) return 'the source is not an absolute canonical path';
  if (!wantsSource && r.source !== '') return `mode ${r.mode} takes no source`;
  if (!isCanonicalPath(r.target)) return `the mount point is not an absolute canonical path of at most ${MAX_PATH_BYTES} bytes`;
  if (!areMountAttributes(r.attributes)) return 'invalid mount attributes';
  if (!wantsSource && r.attributes.length > 0) return `mode ${r.mode} takes no mount attributes`;
  return undefined;
}

/** Fields of one request, each NUL-terminated. */
export const REQUEST_FIELDS = 8;

/** Requests already checked and encoded, `count` of them (what the helper reads). */
export interface EncodedRequests {
  readonly bytes: Buffer;
  readonly count: number;
}

/**
 * A request's record split around its source: `before + source + after` is the record. The index
 * keeps its mounts this way, checked and encoded once, so that a restart only names the new
 * lxcfs's directory. Unchecked: see requestProblem.
 */
export function recordAround(r: HelperRequest): { readonly before: string; readonly after: string } {
  // join, not a template literal: V8 keeps a concatenated string as a tree of its parts (about
  // ten nodes here) until something flattens it, and the index keeps thousands of these.
  return {
    before: [r.mode, r.pids.join(','), r.namespaceInode.toString(), String(r.mountId), r.device, ''].join('\0'),
    after: ['', r.target, r.attributes.join(','), ''].join('\0'),
  };
}

/** The helper's input for these requests; throws on a request that `requestProblem` rejects. */
export function encodeRequests(requests: readonly HelperRequest[]): Buffer {
  // One string, encoded once: a pass after an lxcfs restart sends thousands of requests, and a
  // Buffer per field would be garbage by the hundred thousand. No field holds a NUL (requestProblem).
  const parts: string[] = [];
  for (const r of requests) {
    const problem = requestProblem(r);
    if (problem !== undefined) throw new Error(`cannot encode a helper request for ${JSON.stringify(r.target)}: ${problem}`);
    const { before, after } = recordAround(r);
    parts.push(before, r.source, after);
  }
  return Buffer.from(parts.join(''), 'utf8');
}

/** `bytes` without its first `n` records (the rest of a batch, after a helper stalled on one). */
export function skipRecords(bytes: Buffer, n: number): Buffer {
  let p = 0;
  for (let f = 0; f < n * REQUEST_FIELDS; f++) {
    const end = bytes.indexOf(0, p);
    if (end < 0) return bytes.subarray(bytes.length);
    p = end + 1;
  }
  return bytes.subarray(p);
}

/** The requests in encoded bytes, as the helper reads their fields (simulated helpers and tests). */
export function decodeRequests(bytes: Buffer): HelperRequest[] {
  const fields = bytes.toString('utf8').split('\0');
  const out: HelperRequest[] = [];
  for (let i = 0; i + REQUEST_FIELDS < fields.length; i += REQUEST_FIELDS) {
    const [mode, pids, ino, mountId, device, source, target, attributes] = fields.slice(i, i + REQUEST_FIELDS);
    out.push({
      mode: mode as AttachMode,
      pids: pids.split(',').map(Number),
      namespaceInode: BigInt(ino),
      mountId: Number(mountId),
      device,
      source,
      target,
      attributes: attributes === '' ? [] : (attributes.split(',') as MountAttribute[]),
    });
  }
  return out;
}

const RESULTS: readonly AnswerResult[] = ['ok', 'err', 'gone', 'refused'];
const RESULT_BYTES = RESULTS.map((r) => Buffer.from(r, 'latin1'));
const NUL = 0;
const MINUS = 0x2d;
const ZERO = 0x30;

/**
 * Answers in `data` (complete records only) and how many bytes they used; a record that
 * does not parse is reported as a protocol error. Numbers and results are read from the bytes:
 * a pass decodes an answer per mount, and only `how` and `message` become strings.
 */
export function decodeAnswers(data: Buffer): { answers: HelperAnswer[]; consumed: number } {
  const answers: HelperAnswer[] = [];
  const ends = [0, 0, 0, 0, 0];
  let pos = 0;
  for (;;) {
    let p = pos;
    let f = 0;
    for (; f < 5; f++) {
      const end = data.indexOf(NUL, p);
      if (end < 0) break;
      ends[f] = end;
      p = end + 1;
    }
    if (f < 5) break;
    const index = decimalAt(data, pos, ends[0], 9, false);
    const result = resultAt(data, ends[0] + 1, ends[1]);
    const errno = decimalAt(data, ends[2] + 1, ends[3], 6, true);
    if (index === undefined || result < 0 || errno === undefined) {
      const fields = ends.map((end, i) => data.toString('utf8', i === 0 ? pos : ends[i - 1] + 1, end));
      throw new Error(`the mount helper answered a malformed record: ${JSON.stringify(fields)}`);
    }
    answers.push({ index, result: RESULTS[result], how: data.toString('utf8', ends[1] + 1, ends[2]), errno, message: data.toString('utf8', ends[3] + 1, ends[4]) });
    pos = p;
  }
  return { answers, consumed: pos };
}

/** Which of RESULTS `data[start, end)` spells; -1 for none. */
function resultAt(data: Buffer, start: number, end: number): number {
  for (let i = 0; i < RESULT_BYTES.length; i++) {
    const r = RESULT_BYTES[i];
    if (r.length === end - start && data.compare(r, 0, r.length, start, end) === 0) return i;
  }
  return -1;
}

/**
 * The decimal in `data[start, end)`: at most `digits` digits, an index without leading zeros
 * (0 itself aside), an errno with an optional minus sign; undefined for anything else.
 */
function decimalAt(data: Buffer, start: number, end: number, digits: number, errno: boolean): number | undefined {
  const negative = errno && end > start && data[start] === MINUS;
  const first = negative ? start + 1 : start;
  const n = end - first;
  if (n < 1 || n > digits || (!errno && n > 1 && data[first] === ZERO)) return undefined;
  let v = 0;
  for (let i = first; i < end; i++) {
    const c = data[i] - ZERO;
    if (c < 0 || c > 9) return undefined;
    v = v * 10 + c;
  }
  return negative ? -v : v;
}

/** The decoded `mnt:[...]` inode of a namespace link, or a thrown error naming it. */
export function requireNamespaceInode(link: string | undefined, what: string): bigint {
  const ino = namespaceInode(link);
  if (ino === undefined) throw new Error(`cannot read the mount namespace of ${what}`);
  return ino;
}

/**
 * The protobuf wire format (proto3), reduced to what the CSI and plugin-registration
 * messages of lxcfs-kit use: varints, length-delimited fields (strings, bytes, nested
 * messages, map entries). Hand-written so that the agent carries no protobuf runtime;
 * the decoder treats every byte as hostile (bounded lengths, no recursion it does not ask for).
 */

/** A message that is not valid protobuf; the gRPC layer answers INVALID_ARGUMENT. */
export class ProtoError extends Error {}

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/** One field occurrence as read from the wire: a varint or a length-delimited payload. */
export type FieldValue = { readonly wire: 'varint'; readonly value: bigint } | { readonly wire: 'bytes'; readonly value: Buffer };

/** Field number → every occurrence, in wire order (proto3: the last scalar wins, repeated fields keep all). */
export type Fields = ReadonlyMap<number, readonly FieldValue[]>;

/** Decodes one message level; nested messages stay bytes until their decoder asks for them. */
export function readFields(buf: Buffer): Fields {
  const out = new Map<number, FieldValue[]>();
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (pos >= buf.length) throw new ProtoError('truncated varint');
      const b = buf[pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result & 0xffffffffffffffffn;
    }
    throw new ProtoError('varint longer than 10 bytes');
  };
  while (pos < buf.length) {
    const key = varint();
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (field < 1 || field > 536870911) throw new ProtoError(`invalid field number ${field}`);
    let value: FieldValue;
    switch (wire) {
      case WIRE_VARINT:
        value = { wire: 'varint', value: varint() };
        break;
      case WIRE_LEN: {
        const len = varint();
        if (len > BigInt(buf.length - pos)) throw new ProtoError(`field ${field} claims ${len} bytes, ${buf.length - pos} left`);
        value = { wire: 'bytes', value: buf.subarray(pos, pos + Number(len)) };
        pos += Number(len);
        break;
      }
      // Fixed-width fields are none of ours; skip them like any unknown field.
      case WIRE_I64:
      case WIRE_I32: {
        const width = wire === WIRE_I64 ? 8 : 4;
        if (pos + width > buf.length) throw new ProtoError(`truncated fixed${width * 8} field ${field}`);
        pos += width;
        continue;
      }
      default:
        throw new ProtoError(`unsupported wire type ${wire} for field ${field}`);
    }
    let list = out.get(field);
    if (!list) out.set(field, (list = []));
    list.push(value);
  }
  return out;
}

function last(fields: Fields, n: number): FieldValue | undefined {
  const list = fields.get(n);
  return list === undefined ? undefined : list[list.length - 1];
}

export function stringField(fields: Fields, n: number): string {
  const v = last(fields, n);
  if (v === undefined) return '';
  if (v.wire !== 'bytes') throw new ProtoError(`field ${n} must be a string`);
  return v.value.toString('utf8');
}

export function boolField(fields: Fields, n: number): boolean {
  const v = last(fields, n);
  if (v === undefined) return false;
  if (v.wire !== 'varint') throw new ProtoError(`field ${n} must be a bool`);
  return v.value !== 0n;
}

/** A nested message field; undefined when absent (proto3 message presence). */
export function messageField(fields: Fields, n: number): Fields | undefined {
  const v = last(fields, n);
  if (v === undefined) return undefined;
  if (v.wire !== 'bytes') throw new ProtoError(`field ${n} must be a message`);
  return readFields(v.value);
}

export function repeatedStrings(fields: Fields, n: number): string[] {
  return (fields.get(n) ?? []).map((v) => {
    if (v.wire !== 'bytes') throw new ProtoError(`field ${n} must hold strings`);
    return v.value.toString('utf8');
  });
}

/** `map<string, string>`: repeated entries with key = 1 and value = 2; a later key wins. */
export function stringMap(fields: Fields, n: number): Map<string, string> {
  const out = new Map<string, string>();
  for (const v of fields.get(n) ?? []) {
    if (v.wire !== 'bytes') throw new ProtoError(`field ${n} must hold map entries`);
    const entry = readFields(v.value);
    out.set(stringField(entry, 1), stringField(entry, 2));
  }
  return out;
}

/** Builds one message; proto3 leaves fields at their default value off the wire. */
export class ProtoWriter {
  private readonly parts: Buffer[] = [];

  private varint(n: bigint): void {
    const bytes: number[] = [];
    let v = BigInt.asUintN(64, n);
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v !== 0n) b |= 0x80;
      bytes.push(b);
    } while (v !== 0n);
    this.parts.push(Buffer.from(bytes));
  }

  private key(field: number, wire: number): void {
    this.varint((BigInt(field) << 3n) | BigInt(wire));
  }

  bytes(field: number, value: Buffer): this {
    this.key(field, WIRE_LEN);
    this.varint(BigInt(value.length));
    this.parts.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return value === '' ? this : this.bytes(field, Buffer.from(value, 'utf8'));
  }

  /** Always written, even when empty (a repeated element or a present sub-message). */
  stringAlways(field: number, value: string): this {
    return this.bytes(field, Buffer.from(value, 'utf8'));
  }

  bool(field: number, value: boolean): this {
    if (!value) return this;
    this.key(field, WIRE_VARINT);
    this.varint(1n);
    return this;
  }

  int64(field: number, value: bigint): this {
    if (value === 0n) return this;
    this.key(field, WIRE_VARINT);
    this.varint(value);
    return this;
  }

  message(field: number, value: ProtoWriter): this {
    return this.bytes(field, value.finish());
  }

  strings(field: number, values: readonly string[]): this {
    for (const v of values) this.stringAlways(field, v);
    return this;
  }

  stringMap(field: number, entries: ReadonlyMap<string, string>): this {
    for (const [k, v] of entries) this.message(field, new ProtoWriter().string(1, k).string(2, v));
    return this;
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}

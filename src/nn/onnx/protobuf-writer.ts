/**
 * @module nn/onnx/protobuf-writer
 *
 * The writing half of {@link module:nn/onnx/protobuf}: a minimal protobuf encoder, just enough to write
 * ONNX files without a dependency. Varints (non-negative safe integers and negative int64 in
 * two's complement, ten bytes), 32-bit floats, length-delimited strings, bytes and sub-messages,
 * and packed repeated scalars. Messages are built bottom-up: a sub-message is its own writer,
 * whose bytes are copied into the parent with their length.
 */
import { InvalidArgumentError } from '../../errors.js';

const utf8 = new TextEncoder();

/** A growable protobuf message buffer. */
export class ProtoWriter {
  private buf = new Uint8Array(64);
  private len = 0;

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }

  /** Number of bytes written. */
  get length(): number {
    return this.len;
  }

  /** The encoded message (a copy). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }

  /**
   * A varint: integers in [−2^53, 2^53]; negatives as 64-bit two's complement (protobuf int64),
   * which always takes ten bytes.
   */
  varint(v: number): this {
    if (!Number.isSafeInteger(v)) throw new InvalidArgumentError(`varint ${v} is not a safe integer`, 'write integers below 2^53 in magnitude (shapes, counts and attributes of the graph)');
    this.ensure(10);
    if (v >= 0) {
      // 7 bits at a time; division keeps values above 2^31 exact
      while (v >= 0x80) {
        this.buf[this.len++] = (v % 0x80) | 0x80;
        v = Math.floor(v / 0x80);
      }
      this.buf[this.len++] = v;
      return this;
    }
    // two's complement over 64 bits: low 32 and high 32 as unsigned
    let lo = v % 0x100000000;
    let hi = Math.floor(v / 0x100000000);
    if (lo < 0) lo += 0x100000000;
    hi = (hi + 0x100000000) % 0x100000000;
    for (let i = 0; i < 9; i++) {
      this.buf[this.len++] = (lo & 0x7f) | 0x80;
      lo = (lo >>> 7) | ((hi & 0x7f) << 25);
      lo >>>= 0;
      hi >>>= 7;
    }
    this.buf[this.len++] = lo & 0x01;
    return this;
  }

  /** A field tag (field number, wire type). */
  tag(field: number, wire: number): this {
    return this.varint(field * 8 + wire);
  }

  /** An int32/int64/enum field (wire type 0). */
  int(field: number, v: number): this {
    return this.tag(field, 0).varint(v);
  }

  /** A float field (wire type 5, IEEE single). */
  float(field: number, v: number): this {
    this.tag(field, 5);
    this.ensure(4);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 4).setFloat32(0, v, true);
    this.len += 4;
    return this;
  }

  /** A length-delimited field holding raw bytes. */
  bytes(field: number, b: Uint8Array): this {
    this.tag(field, 2).varint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  /** A string field (UTF-8). */
  string(field: number, s: string): this {
    return this.bytes(field, utf8.encode(s));
  }

  /** A sub-message field. */
  message(field: number, m: ProtoWriter): this {
    return this.bytes(field, m.buf.subarray(0, m.len));
  }

  /** A packed repeated varint field (ints64/int32). Empty lists are omitted. */
  packedInts(field: number, vs: ArrayLike<number>): this {
    if (vs.length === 0) return this;
    const w = new ProtoWriter();
    for (let i = 0; i < vs.length; i++) w.varint(vs[i]!);
    return this.message(field, w);
  }

  /** A packed repeated float field. Empty lists are omitted. */
  packedFloats(field: number, vs: ArrayLike<number>): this {
    if (vs.length === 0) return this;
    return this.bytes(field, float32Bytes(vs));
  }
}

/** Little-endian IEEE single bytes of `vs` (ONNX `raw_data` for FLOAT tensors). */
export function float32Bytes(vs: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(vs.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < vs.length; i++) dv.setFloat32(i * 4, vs[i]!, true);
  return out;
}

/** Little-endian int64 bytes of `vs` (ONNX `raw_data` for INT64 tensors); safe integers only. */
export function int64Bytes(vs: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(vs.length * 8);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < vs.length; i++) {
    const v = vs[i]!;
    if (!Number.isSafeInteger(v)) throw new InvalidArgumentError(`int64 value ${v} is not a safe integer`, 'write integers below 2^53 in magnitude (shapes, counts and attributes of the graph)');
    dv.setInt32(i * 8, v % 0x100000000 | 0, true);
    dv.setInt32(i * 8 + 4, Math.floor(v / 0x100000000), true);
  }
  return out;
}

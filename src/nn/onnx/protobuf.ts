/**
 * @module nn/onnx/protobuf
 *
 * A minimal, bounds-checked reader for the protobuf wire format, just enough to decode ONNX
 * files without a dependency. It understands the four wire types ONNX uses (varint, 64-bit,
 * length-delimited, 32-bit), packed and unpacked repeated scalars, and nothing else (groups
 * are rejected).
 *
 * Every failure on malformed input is an {@link OnnxParseError} carrying the absolute byte
 * offset of the problem: truncated varints, lengths running past the enclosing message,
 * integers outside the safe JavaScript range, invalid UTF-8, or nesting deeper than
 * {@link MAX_DEPTH}. The reader never loops without consuming input, so it cannot hang.
 */
import { VeilError } from '../../errors.js';

/** Thrown for any malformed or truncated protobuf / ONNX byte stream. */
export class OnnxParseError extends VeilError {
  static override readonly code: string = 'ONNX_PARSE';
  /** Absolute byte offset in the input where the problem was detected. */
  readonly offset: number;

  constructor(message: string, offset: number) {
    super(
      `${message} (at byte ${offset}); the file is truncated, corrupted or not an ONNX model`,
      're-export it with torch.onnx.export, or check it with onnx.checker.check_model',
    );
    this.offset = offset;
  }
}

/** Protobuf wire types. */
export const WireType = {
  Varint: 0,
  Fixed64: 1,
  LengthDelimited: 2,
  StartGroup: 3,
  EndGroup: 4,
  Fixed32: 5,
} as const;

/** Maximum nesting of sub-messages accepted by {@link ProtoReader.sub}. */
export const MAX_DEPTH = 64;

const TWO_32 = 4294967296;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A field tag: field number and wire type. */
export interface Tag {
  field: number;
  wire: number;
  /** Absolute offset of the tag's first byte. */
  offset: number;
}

/**
 * Sequential reader over one protobuf message (a window `[start, end)` of a byte array).
 * Offsets reported in errors are absolute positions in the underlying array.
 */
export class ProtoReader {
  private readonly buf: Uint8Array;
  private readonly view: DataView;
  /** Current absolute read position. */
  pos: number;
  /** Absolute end of this message (exclusive). */
  readonly end: number;
  /** Nesting depth of this message (0 for the top level). */
  readonly depth: number;

  /**
   * @param buf - the whole encoded buffer
   * @param start - first byte of the message (default 0)
   * @param end - one past the last byte of the message (default `buf.length`)
   * @param depth - nesting depth, used to bound recursion
   */
  constructor(buf: Uint8Array, start = 0, end = buf.length, depth = 0) {
    if (start < 0 || end > buf.length || start > end) {
      throw new OnnxParseError(`message window [${start}, ${end}) outside buffer of ${buf.length} bytes`, start);
    }
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = start;
    this.end = end;
    this.depth = depth;
  }

  /** True when the whole message has been consumed. */
  eof(): boolean {
    return this.pos >= this.end;
  }

  /** Reads a field tag; field number 0 and wire types 6/7 are rejected. */
  readTag(): Tag {
    const offset = this.pos;
    const key = this.readVarint();
    const wire = key % 8;
    const field = Math.floor(key / 8);
    if (field === 0 || field > 536870911) throw new OnnxParseError(`invalid field number ${field}`, offset);
    if (wire > 5) throw new OnnxParseError(`invalid wire type ${wire} for field ${field}`, offset);
    return { field, wire, offset };
  }

  /**
   * Reads a varint as an unsigned integer. Values above `Number.MAX_SAFE_INTEGER` throw
   * (they cannot be represented exactly). Use {@link readInt64} for signed int64 fields.
   */
  readVarint(): number {
    const start = this.pos;
    const { lo, hi } = this.readVarint64();
    if (hi > 0x1fffff) throw new OnnxParseError('varint exceeds the safe integer range (2^53 - 1)', start);
    return hi * TWO_32 + lo;
  }

  /**
   * Reads an `int64`/`int32` field (two's complement, negative values use 10 bytes).
   * Throws if the value is outside ±(2^53 − 1).
   */
  readInt64(): number {
    const start = this.pos;
    const { lo, hi } = this.readVarint64();
    if (hi & 0x80000000) {
      // Negative: value = -(2^64 - (hi:lo)) = -((~hi:~lo) + 1)
      const nlo = ~lo >>> 0;
      const nhi = ~hi >>> 0;
      if (nhi > 0x1fffff || (nhi === 0x1fffff && nlo === 0xffffffff)) {
        throw new OnnxParseError('int64 below the safe integer range (-(2^53 - 1))', start);
      }
      return -(nhi * TWO_32 + nlo + 1);
    }
    if (hi > 0x1fffff) throw new OnnxParseError('int64 exceeds the safe integer range (2^53 - 1)', start);
    return hi * TWO_32 + lo;
  }

  /** Reads a raw 64-bit varint as two unsigned 32-bit halves. At most 10 bytes. */
  readVarint64(): { lo: number; hi: number } {
    const start = this.pos;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new OnnxParseError('truncated varint', start);
      const b = this.buf[this.pos++]!;
      if (i < 4) {
        lo |= (b & 0x7f) << (7 * i);
      } else if (i === 4) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 0x7f) >>> 4;
      } else {
        if (i === 9 && b > 1) throw new OnnxParseError('varint longer than 64 bits', start);
        hi |= (b & 0x7f) << (7 * i - 32);
      }
      if ((b & 0x80) === 0) return { lo: lo >>> 0, hi: hi >>> 0 };
    }
    throw new OnnxParseError('varint longer than 10 bytes', start);
  }

  /** Reads a 32-bit little-endian IEEE float. */
  readFloat32(): number {
    this.need(4, 'fixed32');
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  /** Reads a 64-bit little-endian IEEE double. */
  readFloat64(): number {
    this.need(8, 'fixed64');
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** Reads a 32-bit little-endian unsigned integer. */
  readFixed32(): number {
    this.need(4, 'fixed32');
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  /** Reads a length prefix and returns the absolute window `[start, end)` it covers. */
  readLengthDelimited(): { start: number; end: number } {
    const at = this.pos;
    const len = this.readVarint();
    if (len > this.end - this.pos) {
      throw new OnnxParseError(`length ${len} runs past the end of the enclosing message (${this.end - this.pos} bytes left)`, at);
    }
    const start = this.pos;
    this.pos += len;
    return { start, end: this.pos };
  }

  /** Reads a length-delimited field as a view (no copy) into the buffer. */
  readBytes(): Uint8Array {
    const { start, end } = this.readLengthDelimited();
    return this.buf.subarray(start, end);
  }

  /** Reads a length-delimited UTF-8 string. */
  readString(): string {
    const at = this.pos;
    const bytes = this.readBytes();
    try {
      return utf8.decode(bytes);
    } catch {
      throw new OnnxParseError('invalid UTF-8 in string field', at);
    }
  }

  /** Reads a length-delimited sub-message and returns a reader restricted to it. */
  sub(): ProtoReader {
    const at = this.pos;
    if (this.depth + 1 > MAX_DEPTH) throw new OnnxParseError(`messages nested deeper than ${MAX_DEPTH} levels`, at);
    const { start, end } = this.readLengthDelimited();
    return new ProtoReader(this.buf, start, end, this.depth + 1);
  }

  /** Skips a field's value of the given wire type. */
  skip(tag: Tag): void {
    switch (tag.wire) {
      case WireType.Varint:
        this.readVarint64();
        return;
      case WireType.Fixed64:
        this.need(8, 'fixed64');
        this.pos += 8;
        return;
      case WireType.LengthDelimited:
        this.readLengthDelimited();
        return;
      case WireType.Fixed32:
        this.need(4, 'fixed32');
        this.pos += 4;
        return;
      default:
        throw new OnnxParseError(`unsupported wire type ${tag.wire} (groups) for field ${tag.field}`, tag.offset);
    }
  }

  /**
   * Reads a repeated scalar field element(s) into `out`, accepting both the packed
   * (length-delimited) and the unpacked encoding.
   *
   * @param tag - the tag just read
   * @param kind - element encoding
   * @param out - array to append to
   */
  readRepeated(tag: Tag, kind: 'int64' | 'uint64' | 'float' | 'double', out: number[]): void {
    const elementWire = kind === 'float' ? WireType.Fixed32 : kind === 'double' ? WireType.Fixed64 : WireType.Varint;
    if (tag.wire === WireType.LengthDelimited) {
      const { start, end } = this.readLengthDelimited();
      const inner = new ProtoReader(this.buf, start, end, this.depth);
      if (kind === 'float' && (end - start) % 4 !== 0) throw new OnnxParseError('packed float array length not a multiple of 4', start);
      if (kind === 'double' && (end - start) % 8 !== 0) throw new OnnxParseError('packed double array length not a multiple of 8', start);
      while (!inner.eof()) out.push(inner.readScalar(kind));
      return;
    }
    if (tag.wire !== elementWire) {
      throw new OnnxParseError(`field ${tag.field} has wire type ${tag.wire}, expected ${elementWire} or packed`, tag.offset);
    }
    out.push(this.readScalar(kind));
  }

  /** Reads a single scalar of the given kind. */
  readScalar(kind: 'int64' | 'uint64' | 'float' | 'double'): number {
    switch (kind) {
      case 'int64':
        return this.readInt64();
      case 'uint64':
        return this.readVarint();
      case 'float':
        return this.readFloat32();
      case 'double':
        return this.readFloat64();
    }
  }

  /**
   * Asserts that a tag has the expected wire type.
   * @throws OnnxParseError naming the field otherwise
   */
  expectWire(tag: Tag, wire: number, what: string): void {
    if (tag.wire !== wire) {
      throw new OnnxParseError(`${what} (field ${tag.field}) has wire type ${tag.wire}, expected ${wire}`, tag.offset);
    }
  }

  private need(n: number, what: string): void {
    if (this.end - this.pos < n) throw new OnnxParseError(`truncated ${what} value`, this.pos);
  }
}

/**
 * @module ckks/serialize/format
 *
 * The envelope every Veil object travels in (layout in `index.ts`): header with magic, version,
 * kind, flags, parameter hash, length and key id; a writer and a reader of 4-byte-aligned
 * little-endian sections whose polynomials are checked residue by residue; the FNV-64 trailer.
 */
import { Poly, allocInt32 } from '../../ring/poly.js';
import type { CkksContext } from '../context.js';
import { ContextMismatchError, FormatVersionError, InvalidArgumentError, SerializationError } from '../errors.js';
import { brief } from '../../errors.js';
import { fnv64 } from '../params.js';

/** Current format version. */
export const FORMAT_VERSION = 2;
export const MAGIC = 0x4c494556; // "VEIL" little-endian
export const HEADER = 32;
/** Key id of objects that have none (parameters, plaintexts, ciphertexts of unknown origin). */
export const NO_KEY = '0000000000000000';
export const TRAILER = 8;

/** Object kinds in the header. */
export const Kind = Object.freeze({
  Parameters: 1, Ciphertext: 2, Plaintext: 3, PublicKey: 4, RelinKey: 5, GaloisKeys: 6, SecretKey: 7,
  /** Bootstrapping's sparse-secret encapsulation keys (`src/bootstrap`). */
  EncapsulationKeys: 8 } as const);
type KindValue = (typeof Kind)[keyof typeof Kind];
export const KIND_NAMES: Record<number, string> = Object.fromEntries(Object.entries(Kind).map(([k, v]) => [v, k]));

export const bad = (what: string) => new SerializationError(what, 'serialize the object again with this version of Veil; the bytes are corrupted, truncated or not a Veil object');

// ----------------------------------------------------------------------------- writer

export class Writer {
  private buf: Uint8Array;
  private dv: DataView;
  pos = 0;
  constructor(size: number) {
    this.buf = new Uint8Array(size);
    this.dv = new DataView(this.buf.buffer);
  }
  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const nb = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    nb.set(this.buf);
    this.buf = nb;
    this.dv = new DataView(nb.buffer);
  }
  u8(x: number): void { this.ensure(1); this.dv.setUint8(this.pos, x); this.pos += 1; }
  u16(x: number): void { this.ensure(2); this.dv.setUint16(this.pos, x, true); this.pos += 2; }
  u32(x: number): void { this.ensure(4); this.dv.setUint32(this.pos, x, true); this.pos += 4; }
  f64(x: number): void { this.ensure(8); this.dv.setFloat64(this.pos, x, true); this.pos += 8; }
  bytes(b: Uint8Array): void { this.ensure(b.length); this.buf.set(b, this.pos); this.pos += b.length; }
  align(): void { while (this.pos % 4) this.u8(0); }
  poly(p: Poly, limbs = p.limbs): void {
    this.u16(limbs);
    this.u16(0);
    const n = limbs * p.N;
    this.ensure(4 * n);
    new Uint8Array(this.buf.buffer, this.pos, 4 * n).set(new Uint8Array(p.coeffs.buffer, p.coeffs.byteOffset, 4 * n));
    this.pos += 4 * n;
  }
  finish(): Uint8Array {
    this.dv.setUint32(16, this.pos + TRAILER, true);
    const sum = fnvBytes(this.buf.subarray(0, this.pos));
    this.bytes(sum);
    return this.buf.slice(0, this.pos);
  }
}

export function fnvBytes(b: Uint8Array): Uint8Array {
  const h = fnv64(b);
  const out = new Uint8Array(8);
  for (let i = 0; i < 8; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function hashBytes(hash: string): Uint8Array {
  const out = new Uint8Array(8);
  for (let i = 0; i < 8; i++) out[i] = parseInt(hash.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export const hexOf = (b: Uint8Array, from: number, to: number): string => {
  let h = '';
  for (let i = from; i < to; i++) h += b[i].toString(16).padStart(2, '0');
  return h;
};

export function checkKeyIdText(id: string): string {
  if (!/^[0-9a-f]{16}$/.test(id)) throw new InvalidArgumentError(`key id ${JSON.stringify(id)} is not 16 lowercase hex digits`, 'use the keyId of a Veil key or ciphertext (SecretKey.id)');
  return id;
}

export function header(kind: KindValue, hash: string, seeded: boolean, estimate: number, keyId: string | undefined): Writer {
  const w = new Writer(estimate + HEADER + TRAILER + 64);
  w.u32(MAGIC);
  w.u16(FORMAT_VERSION);
  w.u8(kind);
  w.u8(seeded ? 1 : 0);
  w.bytes(hashBytes(hash));
  w.u32(0); // total length, patched by finish()
  w.u32(0);
  w.bytes(hashBytes(checkKeyIdText(keyId ?? NO_KEY)));
  return w;
}

// ----------------------------------------------------------------------------- reader

export class Reader {
  readonly dv: DataView;
  pos = HEADER;
  readonly end: number;
  constructor(readonly buf: Uint8Array) {
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.end = buf.length - TRAILER;
  }
  private need(n: number): void {
    if (this.pos + n > this.end) throw bad(`truncated: need ${n} more bytes at offset ${this.pos}`);
  }
  u8(): number { this.need(1); return this.dv.getUint8(this.pos++); }
  u16(): number { this.need(2); const x = this.dv.getUint16(this.pos, true); this.pos += 2; return x; }
  u32(): number { this.need(4); const x = this.dv.getUint32(this.pos, true); this.pos += 4; return x; }
  f64(): number { this.need(8); const x = this.dv.getFloat64(this.pos, true); this.pos += 8; return x; }
  bytes(n: number): Uint8Array {
    this.need(n);
    const b = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  align(): void { while (this.pos % 4) this.u8(); }
  /** A polynomial whose limbs are checked against `moduli` (count must be `limbs`). */
  poly(N: number, moduli: readonly { p: number }[], limbs: number, what: string, shared = false): Poly {
    const l = this.u16();
    this.u16();
    if (l !== limbs) throw bad(`${what}: ${l} limbs, expected ${limbs}`);
    const n = l * N;
    this.need(4 * n);
    let coeffs: Int32Array;
    if (shared) {
      // straight into shared memory (for worker pools): one copy, from an aligned view when possible
      coeffs = allocInt32(n, true);
      const at = this.buf.byteOffset + this.pos;
      coeffs.set(at % 4 === 0 ? new Int32Array(this.buf.buffer, at, n) : new Int32Array(this.buf.slice(this.pos, this.pos + 4 * n).buffer));
    } else {
      coeffs = new Int32Array(this.buf.slice(this.pos, this.pos + 4 * n).buffer);
    }
    this.pos += 4 * n;
    for (let i = 0; i < l; i++) {
      const p = moduli[i].p;
      const o = i * N;
      for (let k = 0; k < N; k++) {
        const x = coeffs[o + k];
        if (x < 0 || x >= p) throw bad(`${what}: residue ${x >>> 0} at limb ${i} is not below its prime ${p}`);
      }
    }
    return new Poly(N, l, coeffs);
  }
  /** A polynomial of `limbs` limbs read into out at off (limbs checked against `moduli`). */
  polyInto(N: number, moduli: readonly { p: number }[], limbs: number, what: string, out: Int32Array, off: number): void {
    const l = this.u16();
    this.u16();
    if (l !== limbs) throw bad(`${what}: ${l} limbs, expected ${limbs}`);
    const n = l * N;
    this.need(4 * n);
    const at = this.buf.byteOffset + this.pos;
    out.set(at % 4 === 0 ? new Int32Array(this.buf.buffer, at, n) : new Int32Array(this.buf.slice(this.pos, this.pos + 4 * n).buffer), off);
    this.pos += 4 * n;
    for (let i = 0; i < l; i++) {
      const p = moduli[i].p;
      const o = off + i * N;
      for (let k = 0; k < N; k++) {
        const x = out[o + k];
        if (x < 0 || x >= p) throw bad(`${what}: residue ${x >>> 0} at limb ${i} is not below its prime ${p}`);
      }
    }
  }
  done(): void {
    if (this.pos !== this.end) throw bad(`${this.end - this.pos} trailing bytes`);
  }
}

/** Checks the envelope and returns a reader positioned at the payload. */
export function open(bytes: Uint8Array, kind: KindValue, ctx?: CkksContext): { r: Reader; seeded: boolean; hash: string; keyId: string | undefined } {
  if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError(`expected a Uint8Array, got ${brief(bytes)}`, 'pass the bytes returned by a serialize function');
  if (bytes.length >= 6) {
    // the version first: version-1 objects are shorter than a version-2 header can be
    const dv0 = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const version = dv0.getUint16(4, true);
    if (dv0.getUint32(0, true) === MAGIC && version !== FORMAT_VERSION) throw new FormatVersionError('Veil object', version, FORMAT_VERSION);
  }
  if (bytes.length < HEADER + TRAILER) throw bad(`only ${bytes.length} bytes`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== MAGIC) throw bad('bad magic (not a Veil object)');
  const k = dv.getUint8(6);
  if (k !== kind) throw bad(`object kind ${KIND_NAMES[k] ?? k}, expected ${KIND_NAMES[kind]}`);
  const flags = dv.getUint8(7);
  if (flags > 1) throw bad(`unknown flags ${flags}`);
  const total = dv.getUint32(16, true);
  if (total !== bytes.length) throw bad(`length field says ${total} bytes, got ${bytes.length}`);
  if (dv.getUint32(20, true) !== 0) throw bad('reserved field is not zero');
  const sum = fnvBytes(bytes.subarray(0, bytes.length - TRAILER));
  for (let i = 0; i < 8; i++) if (sum[i] !== bytes[bytes.length - TRAILER + i]) throw bad('checksum mismatch');
  const hash = hexOf(bytes, 8, 16);
  if (ctx && hash !== ctx.params.hash) throw new ContextMismatchError(`serialized ${KIND_NAMES[kind]} (parameters ${hash}, context ${ctx.params.hash})`);
  const id = hexOf(bytes, 24, 32);
  return { r: new Reader(bytes), seeded: (flags & 1) === 1, hash, keyId: id === NO_KEY ? undefined : id };
}

/** Reads the header of any Veil object: its kind, version, flags and parameter hash. */
export function inspectBytes(bytes: Uint8Array): { kind: string; version: number; seeded: boolean; hash: string; keyId: string | undefined; length: number } {
  if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError(`expected a Uint8Array, got ${brief(bytes)}`, 'pass the bytes returned by a serialize function');
  if (bytes.length < 24) throw bad(`only ${bytes.length} bytes`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== MAGIC) throw bad('bad magic (not a Veil object)');
  const version = dv.getUint16(4, true);
  const id = version >= 2 && bytes.length >= HEADER ? hexOf(bytes, 24, 32) : NO_KEY;
  return {
    kind: KIND_NAMES[dv.getUint8(6)] ?? `unknown(${dv.getUint8(6)})`, version,
    seeded: (dv.getUint8(7) & 1) === 1, hash: hexOf(bytes, 8, 16), keyId: id === NO_KEY ? undefined : id, length: dv.getUint32(16, true) };
}

// ----------------------------------------------------------------------------- envelopes for other modules

/** What a module outside this one writes inside a Veil envelope. @internal */
export interface PayloadWriter {
  u16(x: number): void;
  u32(x: number): void;
  bytes(b: Uint8Array): void;
  /** Residues of a polynomial (`limbs` limbs of N). */
  poly(p: Poly, limbs?: number): void;
}

/** What it reads back (every residue checked below its prime). @internal */
export interface PayloadReader {
  u16(): number;
  u32(): number;
  bytes(n: number): Uint8Array;
  poly(N: number, moduli: readonly { p: number }[], limbs: number, what: string): Poly;
}

/**
 * An object of `kind` in the standard envelope (header, parameter hash, length, checksum) with a
 * payload written by `body` (bootstrapping keys use it). @internal
 */
export function serializeEnvelope(
  kind: KindValue, hash: string, seeded: boolean, estimate: number, keyId: string | undefined, body: (w: PayloadWriter) => void,
): Uint8Array {
  const w = header(kind, hash, seeded, estimate, keyId);
  body(w);
  return w.finish();
}

/** Opens an envelope of `kind` made under ctx's parameters and reads its payload with `body`. @internal */
export function deserializeEnvelope<T>(
  ctx: CkksContext, bytes: Uint8Array, kind: KindValue, body: (r: PayloadReader, seeded: boolean, keyId: string | undefined) => T,
): T {
  const { r, seeded, keyId } = open(bytes, kind, ctx);
  const out = body(r, seeded, keyId);
  r.done();
  return out;
}

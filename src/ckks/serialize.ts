/**
 * @module ckks/serialize
 * Byte formats for parameters, keys, ciphertexts and plaintexts (self-describing and versioned,
 * as SEAL's 16-byte header with magic 0xA15E is).
 *
 * Layout (little-endian), every section 4-byte aligned:
 *   0  magic "VEIL" | 4 u16 format version | 6 u8 kind | 7 u8 flags (bit 0: seeded)
 *   8  8 bytes parameter hash | 16 u32 total length | 20 u32 reserved (0)
 *   24 payload … | last 8 bytes: FNV-64 checksum of everything before it
 * Polynomials: u16 limbs, u16 0, then limbs·N residues as u32. Loading checks the magic, version,
 * kind, length and checksum, then every size, level and residue (< its prime), and that the
 * parameter hash matches the context; anything else is a `SerializationError` (or
 * `ContextMismatchError` for bytes made under other parameters). Seeded objects carry a 32-byte
 * ChaCha20 seed instead of their uniform polynomial (half the bytes), as SEAL's "serializable"
 * keys and symmetric ciphertexts do.
 */
import { PK_SPECIAL_LIMBS } from './keygen-phases.js';
import { Poly, allocInt32 } from '../ring/poly.js';
import { Ciphertext, Plaintext } from './ciphertext.js';
import type { CkksContext } from './context.js';
import { ciphertextSeeds, expandCiphertextUniform } from './encryptor.js';
import { ContextMismatchError, InvalidArgumentError, SerializationError } from './errors.js';
import {
  GaloisKeys, PublicKey, RelinKey, SecretKey, SwitchingKey, expandPublicKeyUniform, expandSwitchingKeyUniform,
} from './keys.js';
import { Parameters, type ParametersLiteral, fnv64 } from './params.js';

/** Current format version. */
export const FORMAT_VERSION = 1;
const MAGIC = 0x4c494556; // "VEIL" little-endian
const HEADER = 24;
const TRAILER = 8;

/** Object kinds in the header. */
export const Kind = Object.freeze({
  Parameters: 1, Ciphertext: 2, Plaintext: 3, PublicKey: 4, RelinKey: 5, GaloisKeys: 6, SecretKey: 7,
} as const);
type KindValue = (typeof Kind)[keyof typeof Kind];
const KIND_NAMES: Record<number, string> = Object.fromEntries(Object.entries(Kind).map(([k, v]) => [v, k]));

const bad = (what: string) => new SerializationError(what, 'serialize the object again with this version of Veil; the bytes are corrupted, truncated or not a Veil object');

// ----------------------------------------------------------------------------- writer

class Writer {
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

function fnvBytes(b: Uint8Array): Uint8Array {
  const h = fnv64(b);
  const out = new Uint8Array(8);
  for (let i = 0; i < 8; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function hashBytes(hash: string): Uint8Array {
  const out = new Uint8Array(8);
  for (let i = 0; i < 8; i++) out[i] = parseInt(hash.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function header(kind: KindValue, hash: string, seeded: boolean, estimate: number): Writer {
  const w = new Writer(estimate + HEADER + TRAILER + 64);
  w.u32(MAGIC);
  w.u16(FORMAT_VERSION);
  w.u8(kind);
  w.u8(seeded ? 1 : 0);
  w.bytes(hashBytes(hash));
  w.u32(0); // total length, patched by finish()
  w.u32(0);
  return w;
}

// ----------------------------------------------------------------------------- reader

class Reader {
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
  done(): void {
    if (this.pos !== this.end) throw bad(`${this.end - this.pos} trailing bytes`);
  }
}

/** Checks the envelope and returns a reader positioned at the payload. */
function open(bytes: Uint8Array, kind: KindValue, ctx?: CkksContext): { r: Reader; seeded: boolean; hash: string } {
  if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError('expected a Uint8Array', 'pass the bytes returned by a serialize function');
  if (bytes.length < HEADER + TRAILER) throw bad(`only ${bytes.length} bytes`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== MAGIC) throw bad('bad magic (not a Veil object)');
  const version = dv.getUint16(4, true);
  if (version !== FORMAT_VERSION) {
    throw new SerializationError(`format version ${version}, this library reads version ${FORMAT_VERSION}`, 'serialize the object again with a matching Veil version');
  }
  const k = dv.getUint8(6);
  if (k !== kind) throw bad(`object kind ${KIND_NAMES[k] ?? k}, expected ${KIND_NAMES[kind]}`);
  const flags = dv.getUint8(7);
  if (flags > 1) throw bad(`unknown flags ${flags}`);
  const total = dv.getUint32(16, true);
  if (total !== bytes.length) throw bad(`length field says ${total} bytes, got ${bytes.length}`);
  if (dv.getUint32(20, true) !== 0) throw bad('reserved field is not zero');
  const sum = fnvBytes(bytes.subarray(0, bytes.length - TRAILER));
  for (let i = 0; i < 8; i++) if (sum[i] !== bytes[bytes.length - TRAILER + i]) throw bad('checksum mismatch');
  let hash = '';
  for (let i = 8; i < 16; i++) hash += bytes[i].toString(16).padStart(2, '0');
  if (ctx && hash !== ctx.params.hash) throw new ContextMismatchError(`serialized ${KIND_NAMES[kind]} (parameters ${hash}, context ${ctx.params.hash})`);
  return { r: new Reader(bytes), seeded: (flags & 1) === 1, hash };
}

// ----------------------------------------------------------------------------- parameters

/** Parameters as bytes (JSON payload of `toLiteral()`, exact primes and scale). */
export function serializeParameters(P: Parameters): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(P.toLiteral()));
  const w = header(Kind.Parameters, P.hash, false, json.length + 8);
  w.u32(json.length);
  w.bytes(json);
  w.align();
  return w.finish();
}

/** Loads parameters; the result's hash must equal the header's. */
export function deserializeParameters(bytes: Uint8Array): Parameters {
  const { r, hash } = open(bytes, Kind.Parameters);
  const len = r.u32();
  const json = r.bytes(len);
  r.align();
  r.done();
  let lit: ParametersLiteral;
  try {
    lit = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json)) as ParametersLiteral;
  } catch {
    throw bad('parameter payload is not valid JSON');
  }
  if (typeof lit !== 'object' || lit === null || !Array.isArray(lit.q) || !Array.isArray(lit.p)) throw bad('parameter payload lacks primes');
  let P: Parameters;
  try {
    P = new Parameters(lit);
  } catch (e) {
    throw bad(`parameters do not validate: ${(e as Error).message}`);
  }
  if (P.hash !== hash) throw bad('parameter hash does not match the payload');
  return P;
}

// ----------------------------------------------------------------------------- ciphertexts and plaintexts

/** Options of ciphertext serialization. */
export interface CiphertextSerializeOptions {
  /**
   * Send the 32-byte seed instead of c1 (half the bytes). Only for fresh secret-key encryptions;
   * throws InvalidArgumentError otherwise.
   */
  seeded?: boolean;
}

/** A ciphertext as bytes. */
export function serializeCiphertext(ct: Ciphertext, opts: CiphertextSerializeOptions = {}): Uint8Array {
  const { ctx } = ct;
  let seed: Uint8Array | undefined;
  if (opts.seeded) {
    seed = ciphertextSeeds.get(ct);
    if (!seed || ct.degree !== 1) throw new InvalidArgumentError('only fresh secret-key ciphertexts can be sent seeded', 'serialize without { seeded: true }');
    const regen = new Poly(ctx.N, ct.limbs);
    expandCiphertextUniform(ctx, seed, regen, ct.limbs);
    const c1 = ct.polys[1].coeffs;
    for (let i = 0; i < ct.limbs * ctx.N; i++) {
      if (regen.coeffs[i] !== c1[i]) throw new InvalidArgumentError('the ciphertext was modified after encryption, its seed no longer describes c1', 'serialize without { seeded: true }');
    }
  }
  const w = header(Kind.Ciphertext, ctx.params.hash, !!seed, ct.byteLength + 64);
  w.u16(ct.level);
  w.u8(ct.degree);
  w.u8(0);
  w.f64(ct.scale);
  w.poly(ct.polys[0]);
  if (seed) w.bytes(seed);
  else for (let i = 1; i < ct.polys.length; i++) w.poly(ct.polys[i]);
  return w.finish();
}

function readLevel(r: Reader, ctx: CkksContext): number {
  const level = r.u16();
  if (level > ctx.params.levels) throw bad(`level ${level} above the top level ${ctx.params.levels}`);
  return level;
}

function checkScale(scale: number): number {
  if (!Number.isFinite(scale) || scale <= 0) throw bad(`scale ${scale} is not a positive finite number`);
  return scale;
}

/**
 * Loads a ciphertext made under ctx's parameters. `shared`: allocate its polynomials in
 * SharedArrayBuffers (ready for a `WorkerPool`'s tasks without a copy).
 */
export function deserializeCiphertext(ctx: CkksContext, bytes: Uint8Array, opts: { shared?: boolean } = {}): Ciphertext {
  const shared = opts.shared ?? false;
  const { r, seeded } = open(bytes, Kind.Ciphertext, ctx);
  const level = readLevel(r, ctx);
  const degree = r.u8();
  r.u8();
  if (degree < 1 || degree > 2) throw bad(`ciphertext degree ${degree}`);
  if (seeded && degree !== 1) throw bad('a seeded ciphertext must have degree 1');
  const scale = checkScale(r.f64());
  const limbs = ctx.params.limbsAt(level);
  const mods = ctx.ringQ.moduli;
  const polys = [r.poly(ctx.N, mods, limbs, 'c0', shared)];
  if (seeded) {
    const seed = r.bytes(32);
    const c1 = new Poly(ctx.N, limbs, allocInt32(limbs * ctx.N, shared));
    expandCiphertextUniform(ctx, seed, c1, limbs);
    polys.push(c1);
  } else {
    for (let i = 1; i <= degree; i++) polys.push(r.poly(ctx.N, mods, limbs, `c${i}`, shared));
  }
  r.done();
  return new Ciphertext(ctx, polys, level, scale);
}

/** A plaintext as bytes. */
export function serializePlaintext(pt: Plaintext): Uint8Array {
  const w = header(Kind.Plaintext, pt.ctx.params.hash, false, pt.poly.limbs * pt.ctx.N * 4 + 32);
  w.u16(pt.level);
  w.u16(0);
  w.f64(pt.scale);
  w.poly(pt.poly);
  return w.finish();
}

/** Loads a plaintext. */
export function deserializePlaintext(ctx: CkksContext, bytes: Uint8Array): Plaintext {
  const { r } = open(bytes, Kind.Plaintext, ctx);
  const level = readLevel(r, ctx);
  r.u16();
  const scale = checkScale(r.f64());
  const poly = r.poly(ctx.N, ctx.ringQ.moduli, ctx.params.limbsAt(level), 'plaintext');
  r.done();
  return new Plaintext(ctx, poly, level, scale);
}

// ----------------------------------------------------------------------------- keys

/** The secret key as bytes (keep these private: they decrypt everything). */
export function serializeSecretKey(sk: SecretKey): Uint8Array {
  const w = header(Kind.SecretKey, sk.ctx.params.hash, false, (sk.sQ.limbs + sk.sP.limbs) * sk.ctx.N * 4);
  w.poly(sk.sQ);
  w.poly(sk.sP);
  return w.finish();
}

/** Loads a secret key. */
export function deserializeSecretKey(ctx: CkksContext, bytes: Uint8Array): SecretKey {
  const { r } = open(bytes, Kind.SecretKey, ctx);
  const sQ = r.poly(ctx.N, ctx.ringQ.moduli, ctx.ringQ.size, 'sQ');
  const sP = r.poly(ctx.N, ctx.ringP.moduli, ctx.ringP.size, 'sP');
  r.done();
  return new SecretKey(ctx, sQ, sP);
}

/** Options of key serialization. */
export interface KeySerializeOptions {
  /** Send the seed of the uniform halves instead of the polynomials (default true when available). */
  seeded?: boolean;
}

/** The public key as bytes. */
export function serializePublicKey(pk: PublicKey, opts: KeySerializeOptions = {}): Uint8Array {
  const seeded = (opts.seeded ?? true) && !!pk.seed;
  const w = header(Kind.PublicKey, pk.ctx.params.hash, seeded, 4 * (pk.bQ.limbs + pk.bP.limbs) * pk.ctx.N * 2);
  w.poly(pk.bQ);
  w.poly(pk.bP);
  if (seeded) w.bytes(pk.seed!);
  else {
    w.poly(pk.aQ);
    w.poly(pk.aP);
  }
  return w.finish();
}

/** Loads a public key. */
export function deserializePublicKey(ctx: CkksContext, bytes: Uint8Array): PublicKey {
  const { r, seeded } = open(bytes, Kind.PublicKey, ctx);
  const bQ = r.poly(ctx.N, ctx.ringQ.moduli, ctx.ringQ.size, 'bQ');
  const bP = r.poly(ctx.N, ctx.ringP.moduli, PK_SPECIAL_LIMBS, 'bP');
  let pk: PublicKey;
  if (seeded) {
    const seed = r.bytes(32);
    const { aQ, aP } = expandPublicKeyUniform(ctx, seed);
    pk = new PublicKey(ctx, bQ, bP, aQ, aP, seed);
  } else {
    const aQ = r.poly(ctx.N, ctx.ringQ.moduli, ctx.ringQ.size, 'aQ');
    const aP = r.poly(ctx.N, ctx.ringP.moduli, PK_SPECIAL_LIMBS, 'aP');
    pk = new PublicKey(ctx, bQ, bP, aQ, aP);
  }
  r.done();
  return pk;
}

function writeSwitchingKey(w: Writer, k: SwitchingKey, seeded: boolean): void {
  w.u16(k.dnum);
  w.u16(0);
  for (let j = 0; j < k.dnum; j++) {
    w.poly(k.bQ[j]);
    w.poly(k.bP[j]);
  }
  if (seeded) w.bytes(k.seed!);
  else {
    for (let j = 0; j < k.dnum; j++) {
      w.poly(k.aQ[j]);
      w.poly(k.aP[j]);
    }
  }
}

function readSwitchingKey(r: Reader, ctx: CkksContext, seeded: boolean): SwitchingKey {
  const dnum = r.u16();
  r.u16();
  if (dnum !== ctx.params.dnum) throw bad(`switching key with ${dnum} digits, parameters have ${ctx.params.dnum}`);
  const bQ: Poly[] = [];
  const bP: Poly[] = [];
  for (let j = 0; j < dnum; j++) {
    bQ.push(r.poly(ctx.N, ctx.ringQ.moduli, ctx.ringQ.size, `b${j}Q`));
    bP.push(r.poly(ctx.N, ctx.ringP.moduli, ctx.ringP.size, `b${j}P`));
  }
  if (seeded) {
    const seed = r.bytes(32);
    const { aQ, aP } = expandSwitchingKeyUniform(ctx, seed, dnum);
    return new SwitchingKey(ctx, bQ, bP, aQ, aP, seed);
  }
  const aQ: Poly[] = [];
  const aP: Poly[] = [];
  for (let j = 0; j < dnum; j++) {
    aQ.push(r.poly(ctx.N, ctx.ringQ.moduli, ctx.ringQ.size, `a${j}Q`));
    aP.push(r.poly(ctx.N, ctx.ringP.moduli, ctx.ringP.size, `a${j}P`));
  }
  return new SwitchingKey(ctx, bQ, bP, aQ, aP);
}

/** The relinearization key as bytes. */
export function serializeRelinKey(rk: RelinKey, opts: KeySerializeOptions = {}): Uint8Array {
  const seeded = (opts.seeded ?? true) && !!rk.key.seed;
  const w = header(Kind.RelinKey, rk.ctx.params.hash, seeded, rk.key.byteLength);
  writeSwitchingKey(w, rk.key, seeded);
  return w.finish();
}

/** Loads a relinearization key. */
export function deserializeRelinKey(ctx: CkksContext, bytes: Uint8Array): RelinKey {
  const { r, seeded } = open(bytes, Kind.RelinKey, ctx);
  const k = readSwitchingKey(r, ctx, seeded);
  r.done();
  return new RelinKey(ctx, k);
}

/** Galois keys as bytes (seeded only if every key has a seed). */
export function serializeGaloisKeys(gk: GaloisKeys, opts: KeySerializeOptions = {}): Uint8Array {
  const seeded = (opts.seeded ?? true) && [...gk.keys.values()].every((k) => !!k.seed);
  const w = header(Kind.GaloisKeys, gk.ctx.params.hash, seeded, gk.byteLength);
  const els = gk.elements();
  w.u32(els.length);
  for (const g of els) {
    w.u32(g);
    writeSwitchingKey(w, gk.keys.get(g)!, seeded);
  }
  return w.finish();
}

/** Loads Galois keys. */
export function deserializeGaloisKeys(ctx: CkksContext, bytes: Uint8Array): GaloisKeys {
  const { r, seeded } = open(bytes, Kind.GaloisKeys, ctx);
  const count = r.u32();
  const M = 2 * ctx.N;
  if (count > ctx.N) throw bad(`${count} Galois keys`);
  const gk = new GaloisKeys(ctx);
  for (let i = 0; i < count; i++) {
    const g = r.u32();
    if (g % 2 === 0 || g >= M || g === 1) throw bad(`Galois element ${g} is not an odd residue mod 2N other than 1`);
    if (gk.has(g)) throw bad(`Galois element ${g} appears twice`);
    gk.keys.set(g, readSwitchingKey(r, ctx, seeded));
  }
  r.done();
  return gk;
}

/** Reads the header of any Veil object: its kind, version, flags and parameter hash. */
export function inspectBytes(bytes: Uint8Array): { kind: string; version: number; seeded: boolean; hash: string; length: number } {
  if (bytes.length < HEADER) throw bad(`only ${bytes.length} bytes`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== MAGIC) throw bad('bad magic (not a Veil object)');
  let hash = '';
  for (let i = 8; i < 16; i++) hash += bytes[i].toString(16).padStart(2, '0');
  return {
    kind: KIND_NAMES[dv.getUint8(6)] ?? `unknown(${dv.getUint8(6)})`, version: dv.getUint16(4, true),
    seeded: (dv.getUint8(7) & 1) === 1, hash, length: dv.getUint32(16, true),
  };
}

/**
 * @module ckks/serialize
 * Byte formats for parameters, keys, ciphertexts and plaintexts (self-describing and versioned,
 * as SEAL's 16-byte header with magic 0xA15E is).
 *
 * Layout (little-endian), every section 4-byte aligned; format version 2:
 *   0  magic "VEIL" | 4 u16 format version | 6 u8 kind | 7 u8 flags (bit 0: seeded)
 *   8  8 bytes parameter hash | 16 u32 total length | 20 u32 reserved (0)
 *   24 8 bytes key id (`SecretKey.id` of the keys and ciphertexts; zero for parameters/plaintexts)
 *   32 payload … | last 8 bytes: FNV-64 checksum of everything before it
 * Version 1 (24-byte header, no key id) is refused with a `FormatVersionError`.
 * Polynomials: u16 limbs, u16 0, then limbs·N residues as u32. Loading checks the magic, version,
 * kind, length and checksum, then every size, level and residue (< its prime), and that the
 * parameter hash matches the context; anything else is a `SerializationError` (or
 * `ContextMismatchError` for bytes made under other parameters). Seeded objects carry a 32-byte
 * ChaCha20 seed instead of their uniform polynomial (half the bytes), as SEAL's "serializable"
 * keys and symmetric ciphertexts do.
 *
 * The checksum detects accidents (truncation, bit rot), not tampering: it is public, so anyone
 * can recompute it after changing the bytes. Beyond it, loading checks what the structure
 * allows: sizes against the parameters, residues below their primes, scales within the level's
 * modulus, Galois elements valid, distinct and in order, secret keys ternary and consistent over
 * all primes. Authenticate the channel (TLS, a MAC) to protect against a sender that changes bytes.
 */
import { PK_SPECIAL_LIMBS } from './keygen-phases.js';
import { Poly, allocInt32 } from '../ring/poly.js';
import { Ciphertext, Plaintext } from './ciphertext.js';
import type { CkksContext } from './context.js';
import { ciphertextSeeds, expandCiphertextUniform } from './encryptor.js';
import { ContextMismatchError, FormatVersionError, InvalidArgumentError, SerializationError, VeilError } from './errors.js';
import { brief } from '../errors.js';
import {
  GaloisKeys, PublicKey, RelinKey, SecretKey, SwitchingKey, expandPublicKeyUniform, expandSwitchingKeyUniformInto,
} from './keys.js';
import { Parameters, type ParametersLiteral, fnv64 } from './params.js';

/** Current format version. */
export const FORMAT_VERSION = 2;
const MAGIC = 0x4c494556; // "VEIL" little-endian
const HEADER = 32;
/** Key id of objects that have none (parameters, plaintexts, ciphertexts of unknown origin). */
const NO_KEY = '0000000000000000';
const TRAILER = 8;

/** Object kinds in the header. */
export const Kind = Object.freeze({
  Parameters: 1, Ciphertext: 2, Plaintext: 3, PublicKey: 4, RelinKey: 5, GaloisKeys: 6, SecretKey: 7,
  /** Bootstrapping's sparse-secret encapsulation keys (`src/bootstrap`). */
  EncapsulationKeys: 8,
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

const hexOf = (b: Uint8Array, from: number, to: number): string => {
  let h = '';
  for (let i = from; i < to; i++) h += b[i].toString(16).padStart(2, '0');
  return h;
};

function checkKeyIdText(id: string): string {
  if (!/^[0-9a-f]{16}$/.test(id)) throw new InvalidArgumentError(`key id ${JSON.stringify(id)} is not 16 lowercase hex digits`, 'use the keyId of a Veil key or ciphertext (SecretKey.id)');
  return id;
}

function header(kind: KindValue, hash: string, seeded: boolean, estimate: number, keyId: string | undefined): Writer {
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
function open(bytes: Uint8Array, kind: KindValue, ctx?: CkksContext): { r: Reader; seeded: boolean; hash: string; keyId: string | undefined } {
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

// ----------------------------------------------------------------------------- parameters

/** Parameters as bytes (JSON payload of `toLiteral()`, exact primes and scale). */
export function serializeParameters(P: Parameters): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(P.toLiteral()));
  const w = header(Kind.Parameters, P.hash, false, json.length + 8, undefined);
  w.u32(json.length);
  w.bytes(json);
  w.align();
  return w.finish();
}

/**
 * Loads parameters; the result's hash must equal the header's.
 *
 * @throws SerializationError for malformed bytes (magic, kind, lengths, checksum, structure);
 *   FormatVersionError for bytes of another format version; InvalidArgumentError if `bytes` is not a Uint8Array
 */
export function deserializeParameters(bytes: Uint8Array): Parameters {
  const { r, hash, keyId } = open(bytes, Kind.Parameters);
  if (keyId !== undefined) throw bad('parameters carry a key id');
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
    if (!(e instanceof VeilError)) throw e;
    throw new SerializationError(`parameters do not validate: ${e.message}`, 'serialize the parameters again with this version of Veil', { cause: e });
  }
  if (P.hash !== hash) throw bad('parameter hash does not match the payload');
  return P;
}

// ----------------------------------------------------------------------------- ciphertexts and plaintexts

/** Options of ciphertext serialization. */
export interface CiphertextSerializeOptions {
  /** Key id to record (default: the ciphertext's own `keyId`; none when unknown). */
  keyId?: string;
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
  const w = header(Kind.Ciphertext, ctx.params.hash, !!seed, ct.byteLength + 64, opts.keyId ?? ct.keyId);
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

/**
 * A scale must be positive, finite and at most the level's modulus Q_ℓ (a message at a larger
 * scale would not fit); scales below 2^−30 are never produced (a scale is a product and quotient
 * of values near Δ ≥ 2^20).
 */
function checkScale(scale: number, ctx: CkksContext, level: number): number {
  if (!Number.isFinite(scale) || scale <= 0) throw bad(`scale ${scale} is not a positive finite number`);
  const logScale = Math.log2(scale);
  const logQ = ctx.params.logQAt(level);
  if (logScale > logQ || logScale < -30) throw bad(`scale 2^${logScale.toFixed(2)} is outside (2^-30, Q) for level ${level} (Q ≈ 2^${logQ.toFixed(1)})`);
  return scale;
}

/**
 * Loads a ciphertext made under ctx's parameters. `shared`: allocate its polynomials in
 * SharedArrayBuffers (ready for a `WorkerPool`'s tasks without a copy). Its `keyId` is the one
 * recorded (undefined when none was).
 *
 * @throws SerializationError for malformed bytes (magic, kind, lengths, checksum, structure);
 *   FormatVersionError for bytes of another format version; ContextMismatchError for bytes made
 *   under other parameters; InvalidArgumentError if `bytes` is not a Uint8Array
 */
export function deserializeCiphertext(ctx: CkksContext, bytes: Uint8Array, opts: { shared?: boolean } = {}): Ciphertext {
  const shared = opts.shared ?? false;
  const { r, seeded, keyId } = open(bytes, Kind.Ciphertext, ctx);
  const level = readLevel(r, ctx);
  const degree = r.u8();
  if (r.u8() !== 0) throw bad('reserved ciphertext byte is not zero');
  if (degree < 1 || degree > 2) throw bad(`ciphertext degree ${degree}`);
  if (seeded && degree !== 1) throw bad('a seeded ciphertext must have degree 1');
  const scale = checkScale(r.f64(), ctx, level);
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
  const ct = new Ciphertext(ctx, polys, level, scale);
  ct.keyId = keyId;
  return ct;
}

/** A plaintext as bytes. */
export function serializePlaintext(pt: Plaintext): Uint8Array {
  const w = header(Kind.Plaintext, pt.ctx.params.hash, false, pt.poly.limbs * pt.ctx.N * 4 + 32, undefined);
  w.u16(pt.level);
  w.u16(0);
  w.f64(pt.scale);
  w.poly(pt.poly);
  return w.finish();
}

/**
 * Loads a plaintext.
 *
 * @throws SerializationError for malformed bytes (magic, kind, lengths, checksum, structure);
 *   FormatVersionError for bytes of another format version; ContextMismatchError for bytes made
 *   under other parameters; InvalidArgumentError if `bytes` is not a Uint8Array
 */
export function deserializePlaintext(ctx: CkksContext, bytes: Uint8Array): Plaintext {
  const { r, keyId, seeded } = open(bytes, Kind.Plaintext, ctx);
  if (keyId !== undefined || seeded) throw bad('a plaintext carries a key id or the seeded flag');
  const level = readLevel(r, ctx);
  if (r.u16() !== 0) throw bad('reserved plaintext field is not zero');
  const scale = checkScale(r.f64(), ctx, level);
  const poly = r.poly(ctx.N, ctx.ringQ.moduli, ctx.params.limbsAt(level), 'plaintext');
  r.done();
  return new Plaintext(ctx, poly, level, scale);
}

// ----------------------------------------------------------------------------- keys

/** The secret key as bytes (keep these private: they decrypt everything). */
export function serializeSecretKey(sk: SecretKey): Uint8Array {
  const w = header(Kind.SecretKey, sk.ctx.params.hash, false, (sk.sQ.limbs + sk.sP.limbs) * sk.ctx.N * 4, sk.id);
  w.poly(sk.sQ);
  w.poly(sk.sP);
  return w.finish();
}

/**
 * Loads a secret key (checked to be ternary and equal over all primes).
 *
 * @throws SerializationError for malformed bytes (magic, kind, lengths, checksum, structure);
 *   FormatVersionError for bytes of another format version; ContextMismatchError for bytes made
 *   under other parameters; InvalidArgumentError if `bytes` is not a Uint8Array
 */
export function deserializeSecretKey(ctx: CkksContext, bytes: Uint8Array): SecretKey {
  const { r, keyId, seeded } = open(bytes, Kind.SecretKey, ctx);
  if (keyId === undefined) throw bad('a secret key without a key id');
  if (seeded) throw bad('a secret key cannot be seeded');
  const sQ = r.poly(ctx.N, ctx.ringQ.moduli, ctx.ringQ.size, 'sQ');
  const sP = r.poly(ctx.N, ctx.ringP.moduli, ctx.ringP.size, 'sP');
  r.done();
  checkTernary(ctx, sQ, sP);
  return new SecretKey(ctx, sQ, sP, keyId);
}

/**
 * A secret key is one small polynomial: in the coefficient domain every limb must hold the same
 * ternary coefficients (and, with a fixed Hamming weight, that many non-zeros). Checks it on a copy.
 */
function checkTernary(ctx: CkksContext, sQ: Poly, sP: Poly): void {
  const N = ctx.N;
  const ref = new Int8Array(N);
  let weight = 0;
  for (const [ring, poly] of [[ctx.ringQ, sQ], [ctx.ringP, sP]] as const) {
    const t = poly.clone();
    ring.intt(t);
    for (let i = 0; i < t.limbs; i++) {
      const p = ring.moduli[i].p;
      for (let k = 0; k < N; k++) {
        const x = t.coeffs[i * N + k];
        const c = x === 0 ? 0 : x === 1 ? 1 : x === p - 1 ? -1 : 2;
        if (c === 2) throw bad(`secret key coefficient ${k} is not ternary (limb ${i})`);
        if (ring === ctx.ringQ && i === 0) {
          ref[k] = c;
          if (c !== 0) weight++;
        } else if (ref[k] !== c) throw bad(`secret key limbs disagree at coefficient ${k}`);
      }
    }
    t.coeffs.fill(0);
  }
  const h = ctx.params.hammingWeight;
  if (h !== undefined && weight !== h) throw bad(`secret key has ${weight} non-zero coefficients, the parameters fix ${h}`);
}

/** Options of key serialization. */
export interface KeySerializeOptions {
  /** Send the seed of the uniform halves instead of the polynomials (default true when available). */
  seeded?: boolean;
}

/** The public key as bytes. */
export function serializePublicKey(pk: PublicKey, opts: KeySerializeOptions = {}): Uint8Array {
  const seeded = (opts.seeded ?? true) && !!pk.seed;
  const w = header(Kind.PublicKey, pk.ctx.params.hash, seeded, 4 * (pk.bQ.limbs + pk.bP.limbs) * pk.ctx.N * 2, pk.keyId);
  w.poly(pk.bQ);
  w.poly(pk.bP);
  if (seeded) w.bytes(pk.seed!);
  else {
    w.poly(pk.aQ);
    w.poly(pk.aP);
  }
  return w.finish();
}

/**
 * Loads a public key.
 *
 * @throws SerializationError for malformed bytes (magic, kind, lengths, checksum, structure);
 *   FormatVersionError for bytes of another format version; ContextMismatchError for bytes made
 *   under other parameters; InvalidArgumentError if `bytes` is not a Uint8Array
 */
export function deserializePublicKey(ctx: CkksContext, bytes: Uint8Array): PublicKey {
  const { r, seeded, keyId } = open(bytes, Kind.PublicKey, ctx);
  const bQ = r.poly(ctx.N, ctx.ringQ.moduli, ctx.ringQ.size, 'bQ');
  const bP = r.poly(ctx.N, ctx.ringP.moduli, PK_SPECIAL_LIMBS, 'bP');
  let pk: PublicKey;
  if (seeded) {
    const seed = r.bytes(32);
    const { aQ, aP } = expandPublicKeyUniform(ctx, seed);
    pk = new PublicKey(ctx, bQ, bP, aQ, aP, seed, keyId);
  } else {
    const aQ = r.poly(ctx.N, ctx.ringQ.moduli, ctx.ringQ.size, 'aQ');
    const aP = r.poly(ctx.N, ctx.ringP.moduli, PK_SPECIAL_LIMBS, 'aP');
    pk = new PublicKey(ctx, bQ, bP, aQ, aP, undefined, keyId);
  }
  r.done();
  return pk;
}

/**
 * Switching key: u16 dnum, u16 cap, then per digit b_Q, b_P, then the seed or per digit a_Q, a_P.
 * The cap is the Q limbs a capped key holds (`GaloisKeyOptions.maxLevel`), 0 for a full key: the
 * field was reserved (always 0) before capped keys, so full keys read as before, and a reader that
 * predates capped keys refuses a capped one (nonzero reserved field) instead of misreading it.
 */
function writeSwitchingKey(w: Writer, k: SwitchingKey, seeded: boolean): void {
  w.u16(k.dnum);
  w.u16(k.qLimbs === k.ctx.ringQ.size ? 0 : k.qLimbs);
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

/**
 * Reads a switching key straight into its packed buffers (`SwitchingKey.packed`, in shared memory
 * when `shared`), so the evaluator uses it without another copy. `relin`: a relinearization key,
 * which is never capped.
 */
function readSwitchingKey(r: Reader, ctx: CkksContext, seeded: boolean, shared = false, relin = false): SwitchingKey {
  const nQ = ctx.ringQ.size;
  const K = ctx.ringP.size;
  const N = ctx.N;
  const dnum = r.u16();
  const cap = r.u16();
  if (cap !== 0 && (relin || cap >= nQ || ctx.params.levelOfLimbs(cap) < 0)) {
    throw bad(relin ? 'reserved switching-key field is not zero' : `switching key capped at ${cap} Q limbs, which is not a level of the parameters below the top`);
  }
  const qLimbs = cap === 0 ? nQ : cap;
  const want = Math.ceil(qLimbs / ctx.params.digitLimbs);
  if (dnum !== want) throw bad(`switching key with ${dnum} digits, ${qLimbs} Q limbs need ${want}`);
  const S = qLimbs + K;
  const b = allocInt32(dnum * S * N, shared);
  const a = allocInt32(dnum * S * N, shared);
  for (let j = 0; j < dnum; j++) {
    r.polyInto(N, ctx.ringQ.moduli, qLimbs, `b${j}Q`, b, j * S * N);
    r.polyInto(N, ctx.ringP.moduli, K, `b${j}P`, b, (j * S + qLimbs) * N);
  }
  if (seeded) {
    const seed = r.bytes(32);
    expandSwitchingKeyUniformInto(ctx, seed, dnum, qLimbs, a);
    return SwitchingKey.fromPacked(ctx, b, a, dnum, seed, qLimbs);
  }
  for (let j = 0; j < dnum; j++) {
    r.polyInto(N, ctx.ringQ.moduli, qLimbs, `a${j}Q`, a, j * S * N);
    r.polyInto(N, ctx.ringP.moduli, K, `a${j}P`, a, (j * S + qLimbs) * N);
  }
  return SwitchingKey.fromPacked(ctx, b, a, dnum, undefined, qLimbs);
}

/** The relinearization key as bytes. */
export function serializeRelinKey(rk: RelinKey, opts: KeySerializeOptions = {}): Uint8Array {
  const seeded = (opts.seeded ?? true) && !!rk.key.seed;
  const w = header(Kind.RelinKey, rk.ctx.params.hash, seeded, rk.key.byteLength, rk.keyId);
  writeSwitchingKey(w, rk.key, seeded);
  return w.finish();
}

/**
 * Loads a relinearization key.
 *
 * @throws SerializationError for malformed bytes (magic, kind, lengths, checksum, structure);
 *   FormatVersionError for bytes of another format version; ContextMismatchError for bytes made
 *   under other parameters; InvalidArgumentError if `bytes` is not a Uint8Array
 */
export function deserializeRelinKey(ctx: CkksContext, bytes: Uint8Array, opts: { shared?: boolean } = {}): RelinKey {
  const { r, seeded, keyId } = open(bytes, Kind.RelinKey, ctx);
  const k = readSwitchingKey(r, ctx, seeded, opts.shared ?? false, true);
  r.done();
  return new RelinKey(ctx, k, keyId);
}

/** Galois keys as bytes (seeded only if every key has a seed). */
export function serializeGaloisKeys(gk: GaloisKeys, opts: KeySerializeOptions = {}): Uint8Array {
  const seeded = (opts.seeded ?? true) && [...gk.keys.values()].every((k) => !!k.seed);
  const w = header(Kind.GaloisKeys, gk.ctx.params.hash, seeded, gk.byteLength, gk.keyId);
  const els = gk.elements();
  w.u32(els.length);
  for (const g of els) {
    w.u32(g);
    writeSwitchingKey(w, gk.keys.get(g)!, seeded);
  }
  return w.finish();
}

/** Options of Galois-key loading. */
export interface GaloisKeysDeserializeOptions {
  /**
   * The Galois elements the keys must hold, exactly (e.g. those of a model plan's rotations):
   * anything else is a `SerializationError` before any key is read.
   */
  elements?: readonly number[];
  /** Read the keys into shared memory (for a worker pool: no copy when the pool adopts them). */
  shared?: boolean;
}

/**
 * Loads Galois keys (elements odd, below 2N, other than 1, in increasing order, as written).
 *
 * @throws SerializationError for malformed bytes (magic, kind, lengths, checksum, structure);
 *   FormatVersionError for bytes of another format version; ContextMismatchError for bytes made
 *   under other parameters; InvalidArgumentError if `bytes` is not a Uint8Array
 */
export function deserializeGaloisKeys(ctx: CkksContext, bytes: Uint8Array, opts: GaloisKeysDeserializeOptions = {}): GaloisKeys {
  const { r, seeded, keyId } = open(bytes, Kind.GaloisKeys, ctx);
  const count = r.u32();
  const M = 2 * ctx.N;
  // each key takes at least its b half at the lowest cap, ⌈base/α⌉·(base + P limbs)·N residues:
  // bound the count by the bytes present
  const base = ctx.params.limbsAt(0);
  const perKey = 4 + 4 + Math.ceil(base / ctx.params.digitLimbs) * (base + ctx.ringP.size) * ctx.N * 4;
  if (count > ctx.N / 2 || count * perKey > bytes.length) throw bad(`${count} Galois keys announced in ${bytes.length} bytes`);
  const want = opts.elements ? [...new Set(opts.elements)].sort((a, b) => a - b) : undefined;
  if (want && want.length !== count) throw bad(`${count} Galois keys, the plan needs ${want.length}`);
  const gk = new GaloisKeys(ctx, keyId);
  let last = 1;
  for (let i = 0; i < count; i++) {
    const g = r.u32();
    if (g % 2 === 0 || g >= M || g === 1) throw bad(`Galois element ${g} is not an odd residue mod 2N other than 1`);
    if (g <= last) throw bad(`Galois element ${g} after ${last}: elements are written in increasing order, once each`);
    if (want && g !== want[i]) throw bad(`Galois element ${g} is not the plan's element ${want[i]}`);
    last = g;
    gk.keys.set(g, readSwitchingKey(r, ctx, seeded, opts.shared ?? false));
  }
  r.done();
  return gk;
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
    seeded: (dv.getUint8(7) & 1) === 1, hash: hexOf(bytes, 8, 16), keyId: id === NO_KEY ? undefined : id, length: dv.getUint32(16, true),
  };
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

/**
 * @module ckks/serialize/objects
 *
 * Parameters, ciphertexts and plaintexts in the Veil envelope (`format.ts`): a ciphertext's level
 * and scale are checked against the context, a seeded (symmetric) ciphertext carries its seed
 * instead of its uniform polynomial.
 */
import { Poly, allocInt32 } from '../../ring/poly.js';
import { Ciphertext, Plaintext } from '../ciphertext.js';
import type { CkksContext } from '../context.js';
import { ciphertextSeeds, expandCiphertextUniform } from '../encryptor.js';
import { InvalidArgumentError, SerializationError, VeilError } from '../errors.js';
import { Parameters, type ParametersLiteral } from '../params.js';
import { Kind, Reader, bad, header, open } from './format.js';

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

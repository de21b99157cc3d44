/**
 * @module ckks/serialize/keys
 *
 * Secret, public, relinearization and Galois keys in the Veil envelope (`format.ts`): seeded keys
 * carry a ChaCha20 seed instead of their uniform half; a secret key is checked ternary and
 * consistent over all primes; Galois elements valid, distinct and in order.
 */
import { PK_SPECIAL_LIMBS } from '../keygen-phases.js';
import { Poly, allocInt32 } from '../../ring/poly.js';
import type { CkksContext } from '../context.js';
import {
  GaloisKeys, PublicKey, RelinKey, SecretKey, SwitchingKey, expandPublicKeyUniform,
  expandSwitchingKeyUniformInto,
} from '../keys.js';
import { Kind, Reader, Writer, bad, header, open } from './format.js';

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

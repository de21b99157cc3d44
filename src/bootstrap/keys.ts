/**
 * @module bootstrap/keys
 * The bootstrapping key set on the wire and in memory.
 *
 * On the wire it is a sequence of chunks, each a complete Veil object (magic, version, parameter
 * hash, length, checksum; `ckks/serialize/`): the relinearization key, then one chunk per Galois
 * key, then the two encapsulation keys. Every uniform half travels as its 32-byte ChaCha20 seed
 * (seeded form, half the bytes). No chunk holds more than one switching key, so nothing needs a
 * single multi-gigabyte buffer, and a receiver can load keys one at a time. In memory every key
 * keeps its own pair of buffers (`SwitchingKey.packed`).
 */
import {
  type CkksContext, GaloisKeys, Kind, SerializationError, deserializeGaloisKeys, deserializeRelinKey, inspectBytes,
  serializeGaloisKeys, serializeRelinKey,
} from '../ckks/index.js';
import { deserializeEnvelope, serializeEnvelope } from '../ckks/serialize/index.js';
import { Poly } from '../ring/poly.js';
import type { BootstrapKeys } from './bootstrapper.js';
import { type EncapsulationKeys, encapsulationKeyLimbs, expandEncapsulationUniform } from './encapsulation.js';

/** Options of `serializeBootstrapKeys`. */
export interface BootstrapKeySerializeOptions {
  /** Send seeds instead of uniform polynomials (default true). */
  seeded?: boolean;
}

/** Bytes of the key set, on the wire and in memory. */
export interface BootstrapKeyBytes {
  /** Galois keys (one per rotation step, plus conjugation). */
  galoisKeys: number;
  /** Serialized bytes: relinearization, Galois, encapsulation, total. */
  wire: { relin: number; galois: number; encapsulation: number; total: number };
  /** Residue bytes held in memory (both halves of every key). */
  memory: number;
}

const SEED = 32;
/** Header (magic, version, kind, flags, parameter hash, key id, length) and checksum trailer. */
const ENVELOPE = 32 + 8;
const polyBytes = (limbs: number, N: number) => 4 + 4 * limbs * N;

/** Byte counts of a key set (the wire figures are those `serializeBootstrapKeys` produces). */
export function bootstrapKeyBytes(ctx: CkksContext, galoisKeys: number, opts: BootstrapKeySerializeOptions = {}): BootstrapKeyBytes {
  const seeded = opts.seeded ?? true;
  const N = ctx.N;
  const nQ = ctx.ringQ.size;
  const K = ctx.ringP.size;
  const dnum = ctx.params.dnum;
  const half = dnum * (polyBytes(nQ, N) + polyBytes(K, N));
  const sw = 4 + half + (seeded ? SEED : half);
  const relin = ENVELOPE + sw;
  const galois = galoisKeys * (ENVELOPE + 4 + 4 + sw);
  const lim = encapsulationKeyLimbs(ctx);
  const enc = ENVELOPE + 4 + [lim.toSparse, lim.fromSparse].reduce((s, l) => s + polyBytes(l, N) + (seeded ? SEED : polyBytes(l, N)), 0);
  const memory = (galoisKeys + 1) * 2 * dnum * (nQ + K) * N * 4 + 2 * (lim.toSparse + lim.fromSparse) * N * 4;
  return { galoisKeys, wire: { relin, galois, encapsulation: enc, total: relin + galois + enc }, memory };
}

/** The key set as a sequence of self-contained chunks (see the module documentation). */
export function* serializeBootstrapKeys(keys: BootstrapKeys, opts: BootstrapKeySerializeOptions = {}): Generator<Uint8Array> {
  const seeded = opts.seeded ?? true;
  yield serializeRelinKey(keys.relin, { seeded });
  const ctx = keys.galois.ctx;
  for (const g of keys.galois.elements()) {
    const one = new GaloisKeys(ctx, keys.galois.keyId);
    one.keys.set(g, keys.galois.keys.get(g)!);
    yield serializeGaloisKeys(one, { seeded });
  }
  yield serializeEncapsulationKeys(ctx, keys.encapsulation, { seeded });
}

/** The encapsulation keys as one Veil object. */
export function serializeEncapsulationKeys(ctx: CkksContext, keys: EncapsulationKeys, opts: BootstrapKeySerializeOptions = {}): Uint8Array {
  const seeded = opts.seeded ?? true;
  const N = ctx.N;
  const lim = encapsulationKeyLimbs(ctx);
  return serializeEnvelope(Kind.EncapsulationKeys, ctx.params.hash, seeded, 4 * N * 2 * (lim.toSparse + lim.fromSparse), keys.keyId, (w) => {
    w.u16(keys.weight);
    w.u16(0);
    for (const [k, limbs] of [[keys.toSparse, lim.toSparse], [keys.fromSparse, lim.fromSparse]] as const) {
      w.poly(new Poly(N, limbs, k.b));
      if (seeded) w.bytes(k.seed);
      else w.poly(new Poly(N, limbs, k.a));
    }
  });
}

/** Loads encapsulation keys (checks every residue, the limb counts and the parameter hash). */
export function deserializeEncapsulationKeys(ctx: CkksContext, bytes: Uint8Array): EncapsulationKeys {
  const N = ctx.N;
  const base = ctx.params.baseLimbs;
  const lim = encapsulationKeyLimbs(ctx);
  const m0 = [...ctx.ringQ.moduli.slice(0, base), ...ctx.ringP.moduli.slice(0, lim.toSparse - base)];
  const m1 = [...ctx.ringQ.moduli, ...ctx.ringP.moduli];
  return deserializeEnvelope(ctx, bytes, Kind.EncapsulationKeys, (r, seeded, keyId) => {
    const weight = r.u16();
    r.u16();
    const read = (which: 'toSparse' | 'fromSparse', mods: typeof m0) => {
      const b = r.poly(N, mods, mods.length, `${which}.b`).coeffs;
      if (seeded) {
        const seed = r.bytes(SEED);
        return { b, a: expandEncapsulationUniform(ctx, which, seed), seed };
      }
      return { b, a: r.poly(N, mods, mods.length, `${which}.a`).coeffs, seed: new Uint8Array(SEED) };
    };
    const toSparse = read('toSparse', m0);
    const fromSparse = read('fromSparse', m1);
    return { toSparse, fromSparse, weight, keyId };
  });
}

/** Loads a key set from its chunks (in any order). @throws SerializationError when a part is missing or repeated. */
export function deserializeBootstrapKeys(ctx: CkksContext, chunks: Iterable<Uint8Array>): BootstrapKeys {
  let relin: BootstrapKeys['relin'] | undefined;
  let encapsulation: EncapsulationKeys | undefined;
  const galois = new GaloisKeys(ctx);
  const fix = 'send every chunk serializeBootstrapKeys produced, once';
  for (const c of chunks) {
    const kind = inspectBytes(c).kind;
    if (kind === 'RelinKey') {
      if (relin) throw new SerializationError('two relinearization keys', fix);
      relin = deserializeRelinKey(ctx, c);
    } else if (kind === 'GaloisKeys') {
      const gk = deserializeGaloisKeys(ctx, c);
      if (galois.keyId === undefined) galois.keyId = gk.keyId;
      else if (gk.keyId !== galois.keyId) throw new SerializationError('Galois keys of two secret keys', fix);
      for (const [g, k] of gk.keys) {
        if (galois.has(g)) throw new SerializationError(`Galois element ${g} twice`, fix);
        galois.keys.set(g, k);
      }
    } else if (kind === 'EncapsulationKeys') {
      if (encapsulation) throw new SerializationError('two sets of encapsulation keys', fix);
      encapsulation = deserializeEncapsulationKeys(ctx, c);
    } else {
      throw new SerializationError(`a ${kind} object among bootstrapping keys`, fix);
    }
  }
  if (!relin || !encapsulation) throw new SerializationError(`the ${!relin ? 'relinearization' : 'encapsulation'} key is missing`, fix);
  for (const id of [galois.keyId, encapsulation.keyId]) {
    if (id !== undefined && relin.keyId !== undefined && id !== relin.keyId) throw new SerializationError('keys of two secret keys', fix);
  }
  return { relin, galois, encapsulation };
}

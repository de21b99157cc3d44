/**
 * Key ids: every key and ciphertext made from a secret key carries its random 64-bit id, through
 * evaluation and serialization; mixing objects of two secret keys is a KeyMismatchError instead of
 * garbage. And the structural checks behind the (public) checksum: bytes re-sealed after a change
 * are still refused where the structure allows it.
 */
import { describe, expect, it } from 'vitest';
import {
  Decryptor, Encryptor, Evaluator, FormatVersionError, KeyGenerator, KeyMismatchError, SerializationError,
  deserializeCiphertext, deserializeGaloisKeys, deserializePublicKey, deserializeRelinKey, deserializeSecretKey, inspectBytes,
  serializeCiphertext, serializeGaloisKeys, serializePublicKey, serializeRelinKey, serializeSecretKey, serializeParameters,
  deserializeParameters,
} from '../src/index.js';
import { fnv64 } from '../src/ckks/params.js';
import { makeKit, randomVector } from './helpers.js';

const kit = makeKit({ logN: 9, levels: 2, insecure: true }, [1, 2]);
const { ctx, enc, sk, kg } = kit;
const other = new KeyGenerator(ctx).genSecretKey();
const v = randomVector(ctx.params.slots, 3);

/** Recomputes the public FNV-64 checksum of a Veil object after a change. */
function reseal(b: Uint8Array): Uint8Array {
  const h = fnv64(b.subarray(0, b.length - 8));
  for (let i = 0; i < 8; i++) b[b.length - 8 + i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return b;
}

describe('key ids', () => {
  it('are random 64-bit hex, distinct per secret key, carried by every key and fresh ciphertext', () => {
    expect(sk.id).toMatch(/^[0-9a-f]{16}$/);
    expect(other.id).not.toBe(sk.id);
    expect(kg.genPublicKey(sk).keyId).toBe(sk.id);
    expect(kg.genRelinKey(sk).keyId).toBe(sk.id);
    expect(kg.genGaloisKeys(sk, [1]).keyId).toBe(sk.id);
    expect(kit.encr.encrypt(enc.encode(v)).keyId).toBe(sk.id);
    expect(kit.skEncr.encrypt(enc.encode(v)).keyId).toBe(sk.id);
    expect(kit.ev.keyId).toBe(sk.id);
  });

  it('propagate through evaluation and survive serialization', () => {
    const a = kit.skEncr.encrypt(enc.encode(v));
    const r = kit.ev.rotate(kit.ev.mulRelinRescale(a, kit.ev.add(a, a)), 1);
    expect(r.keyId).toBe(sk.id);
    const bytes = serializeCiphertext(r);
    expect(inspectBytes(bytes).keyId).toBe(sk.id);
    expect(deserializeCiphertext(ctx, bytes).keyId).toBe(sk.id);
    expect(deserializeSecretKey(ctx, serializeSecretKey(sk)).id).toBe(sk.id);
    expect(deserializePublicKey(ctx, serializePublicKey(kg.genPublicKey(sk))).keyId).toBe(sk.id);
    expect(deserializeRelinKey(ctx, serializeRelinKey(kg.genRelinKey(sk))).keyId).toBe(sk.id);
    expect(deserializeGaloisKeys(ctx, serializeGaloisKeys(kg.genGaloisKeys(sk, [1]))).keyId).toBe(sk.id);
    // parameters carry none
    expect(inspectBytes(serializeParameters(ctx.params)).keyId).toBeUndefined();
  });

  it('mixing two secret keys is refused: evaluation, combination, decryption, key sets', () => {
    const mine = kit.skEncr.encrypt(enc.encode(v));
    const theirs = new Encryptor(ctx, other).encrypt(enc.encode(v));
    expect(() => kit.ev.rotate(theirs, 1)).toThrow(KeyMismatchError);
    expect(() => kit.ev.relinearize(kit.ev.mul(theirs, theirs))).toThrow(KeyMismatchError);
    expect(() => kit.ev.mulRelinRescale(theirs, theirs)).toThrow(KeyMismatchError);
    expect(() => kit.ev.add(mine, theirs)).toThrow(KeyMismatchError);
    expect(() => kit.ev.mul(mine, theirs)).toThrow(KeyMismatchError);
    expect(() => new Decryptor(ctx, other).decrypt(mine)).toThrow(KeyMismatchError);
    expect(() => new Evaluator(ctx, { relin: kg.genRelinKey(sk), galois: kg.genGaloisKeys(other, [1]) })).toThrow(KeyMismatchError);
    expect(() => kg.genGaloisKeys(other, [2], {}, kg.genGaloisKeys(sk, [1]))).toThrow(KeyMismatchError);
    // a deserialized foreign ciphertext too
    expect(() => kit.ev.rotate(deserializeCiphertext(ctx, serializeCiphertext(theirs)), 1)).toThrow(KeyMismatchError);
    // without the check, the result would be garbage: same-key operations stay exact
    const ok = enc.decode(new Decryptor(ctx, sk).decrypt(kit.ev.add(mine, mine)));
    for (let i = 0; i < 8; i++) expect(Math.abs(ok[i] - 2 * v[i])).toBeLessThan(1e-3);
  });

  it('version-1 bytes give a FormatVersionError naming the version', () => {
    const b = serializeCiphertext(kit.skEncr.encrypt(enc.encode(v)));
    new DataView(b.buffer).setUint16(4, 1, true);
    expect(() => deserializeCiphertext(ctx, b)).toThrow(FormatVersionError);
    expect(() => deserializeCiphertext(ctx, b)).toThrow(/format version 1/);
    // also when the bytes are too short for a version-2 header
    expect(() => deserializeCiphertext(ctx, b.slice(0, 28))).toThrow(FormatVersionError);
  });
});

describe('structural checks behind the public checksum', () => {
  it('a re-sealed secret key that is not ternary, or whose limbs disagree, is refused', () => {
    const b = serializeSecretKey(sk);
    const c = b.slice();
    c[40] ^= 0x01; // a residue of sQ (NTT domain): its coefficients are no longer ternary
    expect(() => deserializeSecretKey(ctx, reseal(c))).toThrow(/not ternary|disagree/);
    expect(deserializeSecretKey(ctx, b).id).toBe(sk.id);
  });

  it('re-sealed Galois elements out of order, repeated or even are refused', () => {
    const gk = kg.genGaloisKeys(sk, [1, 2]);
    const b = serializeGaloisKeys(gk);
    const dv = new DataView(b.buffer);
    const [g1, g2] = gk.elements();
    const at1 = 36;
    const at2 = at1 + (b.length - 8 - 36) / 2; // payload: count, then (element, key) twice
    expect(dv.getUint32(at1, true)).toBe(g1);
    expect(dv.getUint32(at2, true)).toBe(g2);
    const swap = b.slice();
    new DataView(swap.buffer).setUint32(at1, g2, true);
    new DataView(swap.buffer).setUint32(at2, g1, true);
    expect(() => deserializeGaloisKeys(ctx, reseal(swap))).toThrow(/increasing order/);
    const even = b.slice();
    new DataView(even.buffer).setUint32(at1, 4, true);
    expect(() => deserializeGaloisKeys(ctx, reseal(even))).toThrow(/not an odd residue/);
    expect(() => deserializeGaloisKeys(ctx, b, { elements: [g1] })).toThrow(/the plan needs 1/);
    expect(deserializeGaloisKeys(ctx, b, { elements: [g2, g1] }).elements()).toEqual([g1, g2]);
  });

  it('a re-sealed scale outside the level\'s modulus, a level above the top or a huge key count are refused', () => {
    const ct = kit.skEncr.encrypt(enc.encode(v));
    const b = serializeCiphertext(ct);
    const scale = b.slice();
    new DataView(scale.buffer).setFloat64(36, 2 ** 900, true);
    expect(() => deserializeCiphertext(ctx, reseal(scale))).toThrow(SerializationError);
    const level = b.slice();
    new DataView(level.buffer).setUint16(32, 9, true);
    expect(() => deserializeCiphertext(ctx, reseal(level))).toThrow(/above the top level/);
    const gb = serializeGaloisKeys(kg.genGaloisKeys(sk, [1]));
    new DataView(gb.buffer).setUint32(32, 1e6, true);
    expect(() => deserializeGaloisKeys(ctx, reseal(gb))).toThrow(/Galois keys announced/);
    expect(deserializeParameters(serializeParameters(ctx.params)).hash).toBe(ctx.params.hash);
  });
});

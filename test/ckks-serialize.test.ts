/**
 * Serialization: round trips keep decryptions identical; seeded forms halve the bytes; corrupted,
 * truncated or foreign bytes are refused with typed errors and never crash (fast-check mutations).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  Ciphertext, CkksContext, ContextMismatchError, Encryptor, Evaluator, InvalidArgumentError, KeyGenerator, SerializationError, VeilError,
  deserializeCiphertext, deserializeGaloisKeys, deserializeParameters, deserializePlaintext, deserializePublicKey,
  deserializeRelinKey, deserializeSecretKey, inspectBytes, precisionStats, serializeCiphertext, serializeGaloisKeys,
  serializeParameters, serializePlaintext, serializePublicKey, serializeRelinKey, serializeSecretKey, Decryptor,
} from '../src/index.js';
import { makeKit, randomVector } from './helpers.js';

const kit = makeKit({ logN: 10, levels: 3, insecure: true }, [1, 3]);
const { ctx, enc, encr, dec, ev, kg, sk } = kit;
const n = ctx.params.slots;
const a = randomVector(n, 42);
const ct = ev.mulRelinRescale(encr.encrypt(enc.encode(a)), encr.encrypt(enc.encode(a)));
const decode = (c: Ciphertext) => enc.decode(dec.decrypt(c));

describe('round trips', () => {
  it('parameters', () => {
    const P = deserializeParameters(serializeParameters(ctx.params));
    expect(P.hash).toBe(ctx.params.hash);
    expect(P.q).toEqual(ctx.params.q);
  });

  it('ciphertexts (degree 1 and 2) and plaintexts decrypt identically', () => {
    const back = deserializeCiphertext(ctx, serializeCiphertext(ct));
    expect(back.level).toBe(ct.level);
    expect(back.scale).toBe(ct.scale);
    expect(Array.from(decode(back))).toEqual(Array.from(decode(ct)));
    const d2 = ev.mul(ct, ct);
    expect(Array.from(decode(deserializeCiphertext(ctx, serializeCiphertext(d2))))).toEqual(Array.from(decode(d2)));
    const pt = enc.encode(a, { level: 1 });
    const pt2 = deserializePlaintext(ctx, serializePlaintext(pt));
    expect(Array.from(pt2.poly.coeffs)).toEqual(Array.from(pt.poly.coeffs.subarray(0, pt.poly.limbs * ctx.N)));
  });

  it('ciphertexts load into shared memory (for worker pools), seeded or not, with the same residues', () => {
    const sealed = kit.skEncr.encrypt(enc.encode(a));
    for (const [c, bytes] of [[ct, serializeCiphertext(ct)], [sealed, serializeCiphertext(sealed, { seeded: true })]] as const) {
      // at an odd offset inside a larger buffer too (no aligned view possible)
      const odd = new Uint8Array(bytes.length + 1);
      odd.set(bytes, 1);
      for (const b of [bytes, odd.subarray(1)]) {
        const back = deserializeCiphertext(ctx, b, { shared: true });
        back.polys.forEach((p, i) => {
          expect(p.coeffs.buffer).toBeInstanceOf(SharedArrayBuffer);
          expect(p.coeffs.subarray(0, p.limbs * ctx.N)).toEqual(c.polys[i].coeffs.subarray(0, p.limbs * ctx.N));
        });
      }
    }
  });

  it('seeded secret-key ciphertexts are about half the size and decrypt identically', () => {
    const c = kit.skEncr.encrypt(enc.encode(a));
    const full = serializeCiphertext(c);
    const seeded = serializeCiphertext(c, { seeded: true });
    expect(seeded.length).toBeLessThan(full.length * 0.51);
    expect(inspectBytes(seeded).seeded).toBe(true);
    expect(Array.from(decode(deserializeCiphertext(ctx, seeded)))).toEqual(Array.from(decode(c)));
    expect(() => serializeCiphertext(ev.add(c, c), { seeded: true })).toThrow(InvalidArgumentError);
    expect(() => serializeCiphertext(encr.encrypt(enc.encode(a)), { seeded: true })).toThrow(InvalidArgumentError);
  });

  it('keys: public, relin, Galois (seeded and full), secret', () => {
    const pk = kg.genPublicKey(sk);
    const rk = kg.genRelinKey(sk);
    const gk = kg.genGaloisKeys(sk, [1, 5]);
    const pkS = serializePublicKey(pk);
    const pkF = serializePublicKey(pk, { seeded: false });
    expect(pkS.length).toBeLessThan(pkF.length * 0.51);
    const rkS = serializeRelinKey(rk);
    expect(rkS.length).toBeLessThan(serializeRelinKey(rk, { seeded: false }).length * 0.51);
    const pk2 = deserializePublicKey(ctx, pkS);
    const rk2 = deserializeRelinKey(ctx, rkS);
    const gk2 = deserializeGaloisKeys(ctx, serializeGaloisKeys(gk));
    const gk3 = deserializeGaloisKeys(ctx, serializeGaloisKeys(gk, { seeded: false }));
    expect(gk2.elements()).toEqual(gk.elements());
    const sk2 = deserializeSecretKey(ctx, serializeSecretKey(sk));
    // a server that only has the deserialized evaluation keys computes correctly
    const ev2 = new Evaluator(ctx, { relin: rk2, galois: gk2 });
    const x = new Encryptor(ctx, pk2).encrypt(enc.encode(a));
    const r = ev2.rotate(ev2.mulRelinRescale(x, x), 5);
    const want = a.map((_, i) => a[(i + 5) % n] ** 2);
    expect(precisionStats(want, enc.decode(new Decryptor(ctx, sk2).decrypt(r))).meanBits).toBeGreaterThan(15);
    const ev3 = new Evaluator(ctx, { relin: rk2, galois: gk3 });
    expect(precisionStats(a.map((_, i) => a[(i + 1) % n]), decode(ev3.rotate(x, 1))).meanBits).toBeGreaterThan(15);
  });
});

describe('refusals', () => {
  const bytes = serializeCiphertext(ct);
  const typed = (f: () => unknown) => {
    try {
      f();
      return 'ok';
    } catch (e) {
      if (e instanceof VeilError) return 'typed';
      throw e; // anything else is a crash
    }
  };

  it('random byte mutations are refused with a typed error, never a crash', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat({ max: bytes.length - 1 }), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }), (muts) => {
      const b = bytes.slice();
      for (const [i, x] of muts) b[i] ^= x;
      expect(typed(() => deserializeCiphertext(ctx, b))).toBe('typed');
    }), { numRuns: 300 });
  });

  it('truncations and extensions are refused', () => {
    fc.assert(fc.property(fc.nat({ max: bytes.length - 1 }), (len) => {
      expect(typed(() => deserializeCiphertext(ctx, bytes.slice(0, len)))).toBe('typed');
    }), { numRuns: 200 });
    const longer = new Uint8Array(bytes.length + 4);
    longer.set(bytes);
    expect(() => deserializeCiphertext(ctx, longer)).toThrow(SerializationError);
  });

  it('mutations of every object kind are refused', () => {
    const objs = [
      () => serializeParameters(ctx.params), () => serializePublicKey(kg.genPublicKey(sk)),
      () => serializeRelinKey(kg.genRelinKey(sk)), () => serializeGaloisKeys(kg.genGaloisKeys(sk, [1])),
      () => serializePlaintext(enc.encode(a)), () => serializeSecretKey(sk),
    ];
    const loaders = [
      (b: Uint8Array) => deserializeParameters(b), (b: Uint8Array) => deserializePublicKey(ctx, b),
      (b: Uint8Array) => deserializeRelinKey(ctx, b), (b: Uint8Array) => deserializeGaloisKeys(ctx, b),
      (b: Uint8Array) => deserializePlaintext(ctx, b), (b: Uint8Array) => deserializeSecretKey(ctx, b),
    ];
    objs.forEach((mk, i) => {
      const b0 = mk();
      fc.assert(fc.property(fc.nat({ max: b0.length - 1 }), fc.integer({ min: 1, max: 255 }), (pos, x) => {
        const b = b0.slice();
        b[pos] ^= x;
        expect(typed(() => loaders[i](b))).toBe('typed');
      }), { numRuns: 40 });
      // the wrong loader refuses the kind
      expect(typed(() => loaders[(i + 1) % loaders.length](b0))).toBe('typed');
    });
  });

  it('a residue not below its prime is refused even with a valid checksum', () => {
    // rebuild the bytes with a bad residue and a recomputed checksum by serializing a tampered ciphertext
    const bad = ct.clone();
    bad.polys[0].coeffs[3] = ctx.params.q[0];
    expect(() => deserializeCiphertext(ctx, serializeCiphertext(bad))).toThrow(/not below its prime/);
  });

  it('bytes from other parameters are refused with ContextMismatchError', () => {
    const other = new CkksContext({ logN: 10, levels: 2, insecure: true });
    expect(() => deserializeCiphertext(other, bytes)).toThrow(ContextMismatchError);
    const kg2 = new KeyGenerator(other);
    const sk2 = kg2.genSecretKey();
    const ct2 = new Encryptor(other, kg2.genPublicKey(sk2)).encrypt(new (enc.constructor as any)(other).encode([1]));
    expect(() => deserializeCiphertext(ctx, serializeCiphertext(ct2))).toThrow(ContextMismatchError);
    expect(() => deserializeRelinKey(ctx, serializeRelinKey(kg2.genRelinKey(sk2)))).toThrow(ContextMismatchError);
  });
});

/**
 * Galois keys capped at a level (`GaloisKeyOptions.maxLevel`; hybrid keys over the Q limbs of one
 * level plus P, as Lattigo's keys at a `LevelQ` below the top): a rotation with a capped key
 * decrypts to the float64 rotation of the input as a full key's does, at every ciphertext level up
 * to the cap and for random steps (fast-check); the key holds ⌈q/α⌉·(q + K) limbs per half; a
 * ciphertext above the cap is refused with `KeyLevelError`; serialization round-trips capped keys
 * (seeded and not) bit for bit and refuses caps that are not levels.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Ciphertext, GaloisKeys, KeyLevelError, LinearTransform, SerializationError, deserializeGaloisKeys, deserializeRelinKey,
  precisionStats, serializeGaloisKeys, serializeRelinKey,
} from '../src/index.js';
import { Evaluator } from '../src/ckks/evaluator.js';
import { fnv64 } from '../src/ckks/params.js';
import { makeKit, randomVector } from './helpers.js';

// K = 2, α = 2 over 2 base limbs + 5 levels: capped keys have 1 to 4 digits (every kernel shape)
const kit = makeKit({ logN: 10, levels: 5, insecure: true, specialLimbs: 2, digitLimbs: 2 }, [1]);
const { ctx, enc, encr, dec, kg, sk } = kit;
const P = ctx.params;
const n = P.slots;
const x = randomVector(n, 2026);
const rotated = (k: number) => x.map((_, i) => x[(((i + k) % n) + n) % n]);
const bits = (want: ArrayLike<number>, ct: Ciphertext) => precisionStats(want, enc.decode(dec.decrypt(ct))).meanBits;
const at = (level: number) => encr.encrypt(enc.encode(x, { level, scale: P.scales[level] }));

describe('capped Galois keys', () => {
  it('a capped key is smaller: ⌈q/α⌉·(q + K) limbs per half, q the Q limbs of its level', () => {
    const K = P.p.length;
    const alpha = P.digitLimbs;
    for (let level = 0; level <= P.levels; level++) {
      const key = kg.genGaloisKeys(sk, [3], { maxLevel: level }).keys.get(ctx.galoisElement(3))!;
      const q = P.limbsAt(level);
      expect(key.qLimbs).toBe(q);
      expect(key.maxLevel).toBe(level);
      expect(key.dnum).toBe(Math.ceil(q / alpha));
      expect(key.byteLength).toBe(2 * Math.ceil(q / alpha) * (q + K) * ctx.N * 4);
    }
    const full = kg.genGaloisKeys(sk, [3]).keys.get(ctx.galoisElement(3))!;
    expect(full.qLimbs).toBe(ctx.ringQ.size);
    expect(full.dnum).toBe(P.dnum);
  });

  it('rotation with a capped key matches the float64 rotation as a full key does (random steps, levels, caps)', () => {
    const full = new Evaluator(ctx, { galois: kg.genGaloisKeys(sk, [-7, 1, 5, 100]) });
    fc.assert(
      fc.property(fc.integer({ min: -n / 2, max: n / 2 }), fc.integer({ min: 0, max: P.levels }), fc.integer({ min: 0, max: P.levels }), (k, level, extra) => {
        const cap = Math.min(P.levels, level + (extra % 3));
        const ev = new Evaluator(ctx, { galois: kg.genGaloisKeys(sk, [k, 1], { maxLevel: cap }) });
        const ct = at(level);
        const want = rotated(k);
        const got = bits(want, ev.rotate(ct, k));
        expect(got).toBeGreaterThan(14);
        // the same ciphertext through a full key, on step 1 (held by both)
        const a = enc.decode(dec.decrypt(ev.rotate(ct, 1)));
        const b = enc.decode(dec.decrypt(full.rotate(ct, 1)));
        expect(precisionStats(rotated(1), a).meanBits).toBeGreaterThan(14);
        expect(precisionStats(b, a).meanBits).toBeGreaterThan(14);
        // hoisted rotations read the same key slots
        const [h] = ev.rotateHoisted(ct, [k]);
        expect(bits(want, h)).toBeGreaterThan(14);
      }),
      { numRuns: 12, seed: 7 },
    );
  });

  it('double-hoisted linear transforms (lazy baby and giant steps) work with capped keys', () => {
    const level = 2;
    const diags = new Map<number, Float64Array>([[0, randomVector(n, 1)], [1, randomVector(n, 2)], [4, randomVector(n, 3)], [5, randomVector(n, 4)]]);
    const lt = new LinearTransform(ctx, enc, diags, { level, scale: P.scales[level], babyStep: 4 });
    const steps = [...lt.split.babies, ...lt.split.giants].filter((s) => s !== 0);
    const capped = new Evaluator(ctx, { galois: kg.genGaloisKeys(sk, steps, { maxLevel: level }) });
    const want = new Float64Array(n);
    for (const [d, v] of diags) for (let i = 0; i < n; i++) want[i] += v[i] * x[(i + d) % n];
    const y = lt.evaluate(capped, at(level));
    expect(bits(want, capped.rescale(y))).toBeGreaterThan(12);
    const low = new Evaluator(ctx, { galois: kg.genGaloisKeys(sk, steps, { maxLevel: level - 1 }) });
    expect(() => lt.evaluate(low, at(level))).toThrow(KeyLevelError);
  });

  it('a key capped below the ciphertext level throws KeyLevelError naming the fix', () => {
    const ev = new Evaluator(ctx, { galois: kg.genGaloisKeys(sk, [1], { maxLevel: 2 }) });
    const ct = at(3);
    for (const f of [() => ev.rotate(ct, 1), () => ev.rotateHoisted(ct, [1]), () => ev.rotateHoistedLazy(ct, [1], () => {})]) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(KeyLevelError);
      expect((err as KeyLevelError).keyLevel).toBe(2);
      expect((err as KeyLevelError).level).toBe(3);
      expect((err as Error).message).toMatch(/maxLevel: 3/);
    }
    // at or below the cap it works
    expect(bits(rotated(1), ev.rotate(at(2), 1))).toBeGreaterThan(14);
    expect(bits(rotated(1), ev.rotate(at(0), 1))).toBeGreaterThan(12);
  });

  it('genGaloisKeys into a set replaces a key capped too low and keeps one that reaches the level', () => {
    const g = ctx.galoisElement(1);
    const gk = kg.genGaloisKeys(sk, [1], { maxLevel: 1 });
    const first = gk.keys.get(g)!;
    kg.genGaloisKeys(sk, [1], { maxLevel: 0 }, gk);
    expect(gk.keys.get(g)).toBe(first);
    kg.genGaloisKeys(sk, [1], { maxLevel: 4 }, gk);
    expect(gk.keys.get(g)!.maxLevel).toBe(4);
    expect(() => kg.genGaloisKeys(sk, [1], { maxLevel: P.levels + 1 })).toThrow(/maxLevel/);
  });

  for (const seeded of [true, false]) {
    it(`serialization round-trips capped keys bit for bit (${seeded ? 'seeded' : 'full'} form)`, () => {
      const gk = new GaloisKeys(ctx, sk.id);
      kg.genGaloisKeys(sk, [1, 2], { maxLevel: 1 }, gk);
      kg.genGaloisKeys(sk, [3], { maxLevel: 4 }, gk);
      kg.genGaloisKeys(sk, [5], {}, gk);
      const bytes = serializeGaloisKeys(gk, { seeded });
      for (const shared of [false, true]) {
        const back = deserializeGaloisKeys(ctx, bytes, { shared });
        expect(back.elements()).toEqual(gk.elements());
        for (const g of gk.elements()) {
          const a = gk.keys.get(g)!;
          const b = back.keys.get(g)!;
          expect(b.qLimbs).toBe(a.qLimbs);
          // loaded straight into the packed layout (shared when asked): the evaluator copies nothing
          const pk = b.packed(shared);
          expect(b.packed(shared)).toBe(pk);
          expect(pk.b.buffer instanceof SharedArrayBuffer).toBe(shared);
          expect(b.dnum).toBe(a.dnum);
          expect(Buffer.from(b.packed().b.buffer).equals(Buffer.from(a.packed().b.buffer))).toBe(true);
          expect(Buffer.from(b.packed().a.buffer).equals(Buffer.from(a.packed().a.buffer))).toBe(true);
        }
        const ev = new Evaluator(ctx, { galois: back });
        expect(bits(rotated(3), ev.rotate(at(4), 3))).toBeGreaterThan(14);
        expect(() => ev.rotate(at(2), 1)).toThrow(KeyLevelError);
      }
    });
  }

  it('a cap that is not a level below the top, or a cap on a relinearization key, is refused', () => {
    // payload after the 32-byte header: u32 count, u32 element, then u16 dnum, u16 cap
    const capAt = 32 + 4 + 4 + 2;
    const reseal = (src: Uint8Array, at: number, v: number) => {
      const b = src.slice();
      new DataView(b.buffer).setUint16(at, v, true);
      const h = fnv64(b.subarray(0, b.length - 8));
      for (let i = 0; i < 8; i++) b[b.length - 8 + i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
      return b;
    };
    const bytes = serializeGaloisKeys(kg.genGaloisKeys(sk, [1], { maxLevel: 1 }));
    expect(deserializeGaloisKeys(ctx, reseal(bytes, capAt, P.limbsAt(1))).keys.get(ctx.galoisElement(1))!.qLimbs).toBe(P.limbsAt(1));
    for (const bad of [ctx.ringQ.size, ctx.ringQ.size + 3, P.limbsAt(2)]) {
      expect(() => deserializeGaloisKeys(ctx, reseal(bytes, capAt, bad))).toThrow(SerializationError);
    }
    const rk = serializeRelinKey(kg.genRelinKey(sk));
    expect(deserializeRelinKey(ctx, rk).key.qLimbs).toBe(ctx.ringQ.size);
    expect(() => deserializeRelinKey(ctx, reseal(rk, 32 + 2, 3))).toThrow(/reserved/);
  });
});

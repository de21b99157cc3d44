/**
 * Parameter validation (128-bit bounds, presets) and typed errors for every misuse.
 */
import { describe, expect, it } from 'vitest';
import {
  CkksContext, ContextMismatchError, Encoder, Encryptor, Evaluator, HE_STANDARD_128, InsecureParametersError, InvalidArgumentError,
  KeyGenerator, LevelError, MissingGaloisKeyError, MissingRelinKeyError, PRESETS, type PresetName, ParameterError, Parameters, ScaleMismatchError,
  ValueTooLargeError, preset,
} from '../src/index.js';
import { isPrime } from '../src/ring/primes.js';
import { makeKit, randomVector } from './helpers.js';

describe('parameters', () => {
  it('every preset is within its 128-bit bound, with distinct NTT-friendly primes below 2^30', () => {
    for (const name of Object.keys(PRESETS)) {
      const P = preset(name as PresetName);
      expect(P.logQP).toBeLessThanOrEqual(HE_STANDARD_128[P.logN]);
      const all = [...P.q, ...P.p];
      expect(new Set(all).size).toBe(all.length);
      for (const q of all) {
        expect(q).toBeLessThan(2 ** 30);
        expect((q - 1) % (2 * P.N)).toBe(0);
        expect(isPrime(q)).toBe(true);
      }
      // canonical scales stay within 0.05 bits (3.5%) of Δ on every level
      for (const s of P.scales) expect(Math.abs(Math.log2(s / P.defaultScale))).toBeLessThan(0.05);
    }
  });

  it('log2(QP) above the bound is refused with the excess in bits, unless insecure', () => {
    for (const [logN, bound] of [[12, 109], [13, 218], [14, 438], [15, 881], [16, 1747]] as const) {
      const levels = Math.ceil(bound / 30); // certainly too many
      let err: unknown;
      try {
        new Parameters({ logN, levels });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InsecureParametersError);
      const e = err as InsecureParametersError;
      expect(e.bound).toBe(bound);
      expect(e.message).toMatch(/exceeds the 128-bit bound of \d+ bits .* by [\d.]+ bits/);
      expect(e.logQP - e.bound).toBeGreaterThan(0);
      if (logN <= 13) expect(() => new Parameters({ logN, levels, insecure: true })).not.toThrow();
    }
  });

  it('malformed parameters are refused with ParameterError', () => {
    expect(() => new Parameters({ logN: 9, levels: 1 })).toThrow(ParameterError);
    expect(() => new Parameters({ logN: 14, levels: -1 })).toThrow(ParameterError);
    expect(() => new Parameters({ logN: 12, levels: 1, q: [17, 97], p: [193] })).toThrow(ParameterError);
    expect(() => new Parameters({ logN: 14, levels: 2, hammingWeight: 64 })).toThrow(ParameterError);
    // @ts-expect-error: not a preset name (TypeScript refuses it; JavaScript callers get the run-time check)
    expect(() => preset('nope')).toThrow(ParameterError);
    expect(() => preset('toString' as PresetName)).toThrow(/unknown preset 'toString'.*Fix: use one of N12-L2, N13-L4/);
  });

  it('explicit primes are validated and hashed', () => {
    const a = preset('N13-L4');
    const b = new Parameters(a.toLiteral());
    expect(b.hash).toBe(a.hash);
    expect(Array.from(b.scales)).toEqual(Array.from(a.scales));
    expect(new Parameters({ ...a.toLiteral(), digitLimbs: 2 }).hash).not.toBe(a.hash);
    expect(preset('N14-L10').hash).not.toBe(a.hash);
  });
});

describe('typed errors', () => {
  const kit = makeKit({ logN: 10, levels: 2, insecure: true }, [1]);
  const { ctx, enc, encr, ev } = kit;
  const n = ctx.params.slots;
  const ct = encr.encrypt(enc.encode(randomVector(n, 1)));

  it('no levels left', () => {
    let x = ct;
    x = ev.mulRelinRescale(x, x);
    x = ev.mulRelinRescale(x, x);
    expect(x.level).toBe(0);
    const e = (() => { try { ev.rescale(x); } catch (err) { return err; } })();
    expect(e).toBeInstanceOf(LevelError);
    expect((e as LevelError).needed).toBe(1);
    expect((e as LevelError).available).toBe(0);
    expect(() => ev.mulConst(x, 0.5)).toThrow(LevelError);
    expect(() => enc.encode([1], { level: 3 })).toThrow(LevelError);
  });

  it('scales that do not match', () => {
    const other = encr.encrypt(enc.encode(randomVector(n, 2), { scale: ct.scale * 2 }));
    expect(() => ev.add(ct, other)).toThrow(ScaleMismatchError);
    expect(() => ev.add(ct, other)).toThrow(/Fix:/);
  });

  it('missing keys name the step', () => {
    expect(() => ev.rotate(ct, 5)).toThrow(MissingGaloisKeyError);
    expect(() => ev.rotate(ct, 5)).toThrow(/rotation by 5/);
    const bare = new Evaluator(ctx);
    expect(() => bare.conjugate(ct)).toThrow(MissingGaloisKeyError);
    expect(() => bare.relinearize(bare.mul(ct, ct))).toThrow(MissingRelinKeyError);
  });

  it('values too large for the scale headroom', () => {
    // the top level holds 4 limbs (≈120 bits); at scale 2^30 a value of 2^95 cannot fit
    expect(() => enc.encode([2 ** 100])).toThrow(ValueTooLargeError);
    expect(() => enc.encodeConstant(2 ** 95)).toThrow(ValueTooLargeError);
    expect(() => enc.encode([2 ** 40], { level: 0 })).toThrow(ValueTooLargeError);
    expect(() => ev.mulConst(ct, 2 ** 70)).toThrow(ValueTooLargeError);
  });

  it('bad inputs', () => {
    expect(() => enc.encode([1, NaN])).toThrow(InvalidArgumentError);
    expect(() => enc.encode(new Float64Array(n + 1))).toThrow(InvalidArgumentError);
    expect(() => enc.encode([])).toThrow(InvalidArgumentError);
    expect(() => ev.rotate(ct, 1.5)).toThrow(InvalidArgumentError);
    expect(() => ev.mul(ev.mul(ct, ct), ct)).toThrow(InvalidArgumentError);
  });

  it('objects from another context', () => {
    const ctx2 = new CkksContext({ logN: 10, levels: 3, insecure: true });
    const kg2 = new KeyGenerator(ctx2);
    const ct2 = new Encryptor(ctx2, kg2.genPublicKey(kg2.genSecretKey())).encrypt(new Encoder(ctx2).encode([1]));
    expect(() => ev.add(ct, ct2)).toThrow(ContextMismatchError);
    expect(() => kit.dec.decrypt(ct2)).toThrow(ContextMismatchError);
  });
});

/**
 * Key switching across digit shapes: every inner-product kernel (1, 2, 3 and more digits) and every
 * basis-conversion kernel (1, 2, 3 and more source primes) runs through relinearization, rotation
 * and the merged mulRelinRescale, checked against a float64 model; the merged ModDown + rescale
 * agrees with relinearize-then-rescale to within rounding; the phase programs give the same bits
 * when their limbs are split into parts run one after the other (what a pool does across threads).
 */
import { describe, expect, it } from 'vitest';
import { type Ciphertext, precisionStats } from '../src/index.js';
import { DownMode, KeySwitcher } from '../src/ckks/keyswitch/switcher.js';
import { type Team, keySwitchProgram, solo } from '../src/ckks/phases.js';
import { makeKit, randomVector } from './helpers.js';

const shapes = [
  { K: 1, alpha: 1 }, // dnum 5: many-digit product, one-source conversions
  { K: 2, alpha: 2 }, // dnum 3
  { K: 3, alpha: 3 }, // dnum 2, three-source conversions
  { K: 5, alpha: 5 }, // dnum 1, five-source conversions (ModUp and ModDown)
];

for (const { K, alpha } of shapes) {
  describe(`key switching with K = ${K}, α = ${alpha} (N = 2^10, 5 Q limbs)`, () => {
    const kit = makeKit({ logN: 10, levels: 3, insecure: true, specialLimbs: K, digitLimbs: alpha }, [1, -3]);
    const { ctx, enc, encr, dec, ev } = kit;
    const n = ctx.params.slots;
    const a = randomVector(n, 11 * K + alpha);
    const b = randomVector(n, 17 * K + alpha);
    const ca = encr.encrypt(enc.encode(a));
    const cb = encr.encrypt(enc.encode(b));
    const bits = (want: ArrayLike<number>, ct: Ciphertext) => precisionStats(want, enc.decode(dec.decrypt(ct))).meanBits;
    const prod = a.map((x, i) => x * b[i]);

    it('relinearize, rotate (both ways), mulRelinRescale', () => {
      expect(bits(prod, ev.relinearize(ev.mul(ca, cb)))).toBeGreaterThan(14);
      expect(bits(a.map((_, i) => a[(i + 1) % n]), ev.rotate(ca, 1))).toBeGreaterThan(14);
      expect(bits(a.map((_, i) => a[(i - 3 + n) % n]), ev.rotate(ca, -3))).toBeGreaterThan(14);
      expect(bits(prod, ev.mulRelinRescale(ca, cb))).toBeGreaterThan(14);
    });

    it('merged ModDown + rescale agrees with relinearize then rescale to within rounding', () => {
      const fused = enc.decode(dec.decrypt(ev.mulRelinRescale(ca, cb)));
      const sep = enc.decode(dec.decrypt(ev.rescale(ev.relinearize(ev.mul(ca, cb)))));
      const st = precisionStats(sep, fused);
      expect(st.meanBits).toBeGreaterThan(18);
    });

    it('phase programs split into 3 parts run in sequence give the same bits as one part', () => {
      const ks1 = new KeySwitcher(ctx);
      const ks3 = new KeySwitcher(ctx);
      const key = ev.relinKey!.key.packed();
      const c3 = ev.mul(ca, cb);
      const limbs = c3.limbs;
      const N = ctx.N;
      const [c0, c1, c2] = c3.polys.map((p) => p.coeffs);
      const o1 = [new Int32Array(limbs * N), new Int32Array(limbs * N)];
      const o3 = [new Int32Array(limbs * N), new Int32Array(limbs * N)];
      keySwitchProgram(ks1, key, limbs, DownMode.Add, c2, c0, c1, o1[0], o1[1], undefined, solo());
      // Phase by phase: round r runs every part up to its r-th barrier (earlier phases are
      // recomputed, which is idempotent), so each phase sees all parts' previous phases.
      // A thread's share: units with index ≡ part (mod 3), in the order a shared counter would hand them out.
      const team = (part: number, stopAt: number): Team => {
        let next = part;
        let calls = 0;
        return {
          size: 3,
          claim: (n) => {
            if (next >= n) return -1;
            const u = next;
            next += 3;
            return u;
          },
          barrier: () => {
            if (calls++ === stopAt) throw STOP;
            next = part;
          },
        };
      };
      for (let phase = 0; phase < 3; phase++) {
        for (let part = 0; part < 3; part++) {
          try {
            keySwitchProgram(ks3, key, limbs, DownMode.Add, c2, c0, c1, o3[0], o3[1], undefined, team(part, phase));
          } catch (e) {
            if (e !== STOP) throw e;
          }
        }
      }
      expect(Array.from(o3[0])).toEqual(Array.from(o1[0]));
      expect(Array.from(o3[1])).toEqual(Array.from(o1[1]));
    });
  });
}

const STOP = new Error('stop at barrier');

/**
 * Double-hoisting primitives: rotations kept over QP before ModDown (`rotateHoistedLazy`), their
 * sum divided by P once (`modDownLazy`), and the rotation of such a lazy sum (`rotateLazy`),
 * against the float64 rotations of the message and against the single-hoisted rotations.
 */
import { describe, expect, it } from 'vitest';
import { type Ciphertext, type LazyCiphertext, precisionStats } from '../src/index.js';
import { addVec } from '../src/ring/ring.js';
import { makeKit, randomVector } from './helpers.js';

const kit = makeKit({ logN: 10, levels: 3, insecure: true, specialLimbs: 2, digitLimbs: 2 }, [1, 3, 8, -5, 40]);
const { ctx, enc, encr, dec, ev } = kit;
const n = ctx.params.slots;
const N = ctx.N;
const rot = (v: Float64Array, k: number) => v.map((_, i) => v[(((i + k) % n) + n) % n]);
const bits = (want: ArrayLike<number>, ct: Ciphertext) => precisionStats(want, enc.decode(dec.decrypt(ct))).meanBits;

function addLazy(a: LazyCiphertext, b: LazyCiphertext): void {
  const mods = [...ctx.ringQ.moduli.slice(0, a.limbs), ...ctx.ringP.moduli];
  for (let k = 0; k < 2; k++) for (let l = 0; l < mods.length; l++) addVec(a.polys[k], b.polys[k], a.polys[k], l * N, (l + 1) * N, mods[l].p);
}
const copy = (x: LazyCiphertext): LazyCiphertext => ({ ...x, polys: [x.polys[0].slice(), x.polys[1].slice()] });

describe('double hoisting', () => {
  for (const level of [3, 1]) {
    it(`a sum of lazy rotations divided by P once equals the sum of rotations (level ${level})`, () => {
      const a = randomVector(n, level);
      const ct = encr.encrypt(enc.encode(a, { level }));
      const steps = [0, 1, 3, -5];
      let sum: LazyCiphertext | undefined;
      const seen: number[] = [];
      ev.rotateHoistedLazy(ct, steps, (i, lazy) => {
        seen.push(i);
        if (!sum) sum = copy(lazy);
        else addLazy(sum, lazy);
      });
      expect(seen).toEqual([0, 1, 2, 3]);
      const got = ev.modDownLazy(sum!);
      expect(got.level).toBe(level);
      const want = steps.map((k) => rot(a, k)).reduce((x, y) => x.map((v, i) => v + y[i]));
      expect(bits(want, got)).toBeGreaterThan(18);
      // the single-hoisted result, for comparison
      const single = ev.rotateHoisted(ct, steps).reduce((x, y) => ev.add(x, y));
      expect(bits(want, single)).toBeGreaterThan(18);
    });
  }

  it('rotating a lazy ciphertext keeps it lazy: ⌊rotateLazy(x, k)/P⌉ = rotate(⌊x/P⌉, k)', () => {
    const a = randomVector(n, 9);
    const ct = encr.encrypt(enc.encode(a));
    let x: LazyCiphertext | undefined;
    ev.rotateHoistedLazy(ct, [8], (_, lazy) => {
      x = copy(lazy);
    });
    const r = ev.modDownLazy(ev.rotateLazy(x!, 40));
    expect(bits(rot(a, 48), r)).toBeGreaterThan(18);
    const r0 = ev.modDownLazy(ev.rotateLazy(x!, 0));
    expect(bits(rot(a, 8), r0)).toBeGreaterThan(18);
  });
});

/**
 * The precision requirement: at N = 2^14 with a 2^30 scale, after multiply → relinearize →
 * rescale → rotate, the mean precision is at least 16 bits. Also the bound log2Δ − (logN + 2).
 */
import { describe, expect, it } from 'vitest';
import { precisionStats } from '../src/index.js';
import { makeKit, precisionFloor, randomVector } from './helpers.js';

describe('precision at N = 2^14, Δ ≈ 2^30', () => {
  const kit = makeKit({ logN: 14, levels: 7 }, [1]);
  const { ctx, enc, encr, dec, ev } = kit;
  const n = ctx.params.slots;
  it('mul → relin → rescale → rotate(1): mean ≥ 16 bits, worst slot ≥ 11 bits', () => {
    for (let trial = 0; trial < 2; trial++) {
      const a = randomVector(n, 100 + trial);
      const b = randomVector(n, 200 + trial);
      const ct = ev.rotate(ev.mulRelinRescale(encr.encrypt(enc.encode(a)), encr.encrypt(enc.encode(b))), 1);
      const want = a.map((_, i) => a[(i + 1) % n] * b[(i + 1) % n]);
      const st = precisionStats(want, enc.decode(dec.decrypt(ct)));
      expect(st.meanBits).toBeGreaterThanOrEqual(16);
      expect(st.meanBits).toBeGreaterThanOrEqual(precisionFloor(30, 14));
      expect(st.minBits).toBeGreaterThanOrEqual(11);
    }
  });
});

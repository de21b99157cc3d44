/**
 * One bootstrap at the 128-bit secure set N16-BOOT (N = 2^16, 2^15 complex slots): the output is
 * at the top user level (9 levels left) and decrypts to the input's message to ≥ 20 bits (mean).
 * Slow (minutes) and large (≈ 8 GB: 48 Galois keys of 83 MB and the DFT plaintexts): runs only
 * with VEIL_SLOW=1 (`npm run test:slow`).
 */
import { describe, expect, it } from 'vitest';
import { Bootstrapper, bootstrapPreset, genBootstrapKeys } from '../src/bootstrap/index.js';
import { CkksContext, Decryptor, Encoder, Encryptor, Evaluator, KeyGenerator, precisionStats } from '../src/index.js';
import { randomVector } from './helpers.js';

const slow = process.env.VEIL_SLOW ? describe : describe.skip;

slow('bootstrapping at N = 2^16 (VEIL_SLOW=1)', () => {
  it('full slots: ≥ 20 bits after one bootstrap, 9 levels left, 128-bit parameters', () => {
    const bp = bootstrapPreset('N16-BOOT');
    expect(bp.params.insecure).toBe(false);
    const ctx = new CkksContext(bp.params);
    const kg = new KeyGenerator(ctx);
    const sk = kg.genSecretKey();
    const keys = genBootstrapKeys(kg, sk, bp);
    const enc = new Encoder(ctx);
    const boot = new Bootstrapper(ctx, bp, new Evaluator(ctx, keys), enc, keys);
    const encr = new Encryptor(ctx, kg.genPublicKey(sk));
    const dec = new Decryptor(ctx, sk);
    const n = bp.slots;
    const msg = { re: randomVector(n, 1), im: randomVector(n, 2) };
    const ct = encr.encrypt(enc.encode(msg, { level: 0 }));
    const before = enc.decodeComplex(dec.decrypt(ct));
    const out = boot.bootstrap(ct);
    expect(out.level).toBe(bp.outputLevel);
    expect(bp.outputLevel).toBeGreaterThanOrEqual(9);
    expect(out.scale / bp.outputScale).toBeCloseTo(1, 9);
    const after = enc.decodeComplex(dec.decrypt(out));
    expect(precisionStats(before.re, after.re, n).meanBits).toBeGreaterThanOrEqual(20);
    expect(precisionStats(before.im, after.im, n).meanBits).toBeGreaterThanOrEqual(20);
  }, 3_600_000);
});

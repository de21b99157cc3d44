/**
 * Fuzzing in the suite: fast-check feeds mutated bytes (bit flips, boundary words, truncation,
 * extension, foreign objects, JSON and chunk edits, with and without re-sealed checksums) to every
 * deserializer and reader (tools/fuzz/targets.ts) and requires a typed VeilError or a correct
 * object, each case within a time bound. Case counts are small to keep the suite fast; long
 * campaigns run with `npm run fuzz -- --count N` (docs/fuzzing.md).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyBytes, mutationArb, resealBundle, resealObject } from '../tools/fuzz/mutate.js';
import { foreignPool, makeTargets, runCase } from '../tools/fuzz/targets.js';

const targets = makeTargets();
const foreign = foreignPool(targets);
/** Far above any case's cost (milliseconds), far below a hang; generous for a shared machine. */
const BOUND_MS = 5000;
/** Cases per target: the network targets run inference on accepted inputs, so fewer. */
const RUNS: Record<string, number> = { 'nn.input-bundle': 60, 'nn.keys-bundle': 80, 'nn.plan': 80, 'onnx.import': 80 };
const seed = process.env.VEIL_FUZZ_SEED ? Number(process.env.VEIL_FUZZ_SEED) : undefined;

describe('fuzzing: a typed error or a correct object, never a crash or a hang', () => {
  it('covers every deserializer and reader', () => {
    expect(targets.map((t) => t.name).sort()).toEqual([
      'ckks.ciphertext', 'ckks.galois-keys', 'ckks.parameters', 'ckks.plaintext', 'ckks.public-key', 'ckks.relin-key', 'ckks.secret-key',
      'io.json', 'io.npy', 'io.raw-f32', 'io.raw-u8', 'nn.input-bundle', 'nn.keys-bundle', 'nn.output-bundle', 'nn.plan', 'onnx.import',
    ]);
  });

  it('re-sealing works, so re-sealed cases reach the checks behind the checksum', () => {
    // a low bit of the last residue (below every prime either way): refused as it is, accepted re-sealed
    for (const name of ['ckks.ciphertext', 'ckks.public-key', 'ckks.relin-key', 'ckks.galois-keys']) {
      const t = targets.find((x) => x.name === name)!;
      const b = t.seeds[0].slice();
      b[b.length - 12] ^= 1;
      expect(runCase(t, { base: 0, arg: 0, json: [], chunks: [], bytes: [{ op: 'flip', at: (b.length - 12) + 1, bit: 0 }], reseal: false }, foreign).outcome).toBe('typed');
      expect(() => t.run(b, 0, 0)).toThrow(/checksum/);
      expect(t.run(resealObject(b), 0, 0), name).toBeUndefined();
    }
    // a bundle whose header bytes changed: refused on its checksum, accepted re-sealed
    const t = targets.find((x) => x.name === 'nn.keys-bundle')!;
    const b = t.seeds[0].slice();
    const hl = new DataView(b.buffer).getUint32(8, true);
    const at = new TextDecoder().decode(b.subarray(12, 12 + hl)).indexOf('"kind"');
    const changed = applyBytes(b, [{ op: 'insert', at: 12 + at + 1, bytes: [0x20] }], []);
    new DataView(changed.buffer).setUint32(8, hl + 1, true);
    expect(() => t.run(changed, 0, 0)).toThrow(/checksum/);
    expect(t.run(resealBundle(changed), 0, 0)).toBeUndefined();
  });

  for (const t of targets) {
    it(`${t.name}: the unmutated seeds are accepted`, () => {
      for (const [i, s] of t.seeds.entries()) expect(t.run(s, 0, i), `seed ${i}`).toBeUndefined();
    });

    it(`${t.name}: mutated inputs`, () => {
      const seen = { typed: 0, accepted: 0 };
      fc.assert(fc.property(mutationArb(t.kind), (m) => {
        const r = runCase(t, m, foreign);
        if (r.outcome !== 'typed' && r.outcome !== 'accepted') throw new Error(`${r.outcome}: ${r.detail}`);
        seen[r.outcome]++;
        expect(r.ms, 'time of one case (ms)').toBeLessThan(BOUND_MS);
      }), { numRuns: RUNS[t.name] ?? 150, ...(seed !== undefined ? { seed } : {}) });
      // the mutations reach the checks: most are refused
      expect(seen.typed).toBeGreaterThan(0);
    }, 60_000);
  }
});

/**
 * Evaluation keys of the packed layout: the plan records per rotation the highest level it runs
 * at, the client generates each Galois key capped there and sends one chunk per key; the server
 * loads them (from bytes, or through a random-access `BundleSource` without one buffer), checks the
 * caps against the plan, and the run decrypts to the slot simulation (a key capped too low would
 * throw `KeyLevelError` during the run).
 */
import { describe, expect, it } from 'vitest';
import { BundleError, Client, Model, Server, chooseParameters, compileModel, keySwitchCost, openBundle, packBundle, unpackBundle } from '../src/nn/index.js';
import { HE_STANDARD_128, Parameters } from '../src/index.js';
import { BundleWriter } from '../src/nn/model/bundle.js';
import { rotationLevels } from '../src/nn/packed/index.js';
import { loadModel, testDigits } from './fixtures.js';

const cal = testDigits(32);
const compiled = compileModel(loadModel('mnist_square'), cal.x, { degrees: { kind: 'uniform', degree: 2 } });
const model = Model.fromCompiled(compiled, { layout: 'packed', insecureLogN: 12 });
const x = testDigits(1, 700).x;

describe('packed layout: capped Galois keys, one chunk per key', () => {
  it('the plan gives each rotation the level of its first use; the keys are capped there', () => {
    const pp = model.packedPlan!;
    const top = model.params.levels;
    expect(pp.rotationDepths!.length).toBe(pp.rotations.length);
    expect(model.plan.rotationLevels).toEqual(rotationLevels(pp, top));
    // the first layer's steps run at the top, later layers' below it
    expect(Math.max(...model.plan.rotationLevels!)).toBe(top);
    expect(Math.min(...model.plan.rotationLevels!)).toBeLessThan(top);
    const client = new Client(model.plan);
    const keys = client.evaluationKeys();
    const { header, chunks } = unpackBundle(keys);
    expect(header.galois).toBe('per-key');
    const elements = new Set(pp.rotations.map((r) => client.ctx.galoisElement(r)));
    expect(chunks.length).toBe(2 + elements.size);
    const server = new Server(model, keys);
    const gk = (server as unknown as { keys: { galois: { keys: Map<number, { maxLevel: number; byteLength: number }> } } }).keys.galois;
    const caps = [...gk.keys.values()].map((k) => k.maxLevel);
    expect(Math.min(...caps)).toBeLessThan(top);
    const out = client.decrypt(server.infer(client.encrypt(x)));
    const sim = model.simulate(x);
    let worst = 0;
    for (let i = 0; i < out.data.length; i++) worst = Math.max(worst, Math.abs(out.data[i] - sim.data[i]));
    expect(worst).toBeLessThan(1e-2 * Math.max(1, ...Array.from(sim.data, Math.abs)));
  });

  it('keys streamed part by part and read through a BundleSource equal the one-buffer bundle', () => {
    const client = new Client(model.plan);
    const parts: Uint8Array[] = [];
    const n = client.writeEvaluationKeys((p) => parts.push(p));
    const whole = new Uint8Array(n);
    let o = 0;
    for (const p of parts) {
      whole.set(p, o);
      o += p.length;
    }
    // the same bytes as packBundle of the same chunks
    const { header, chunks } = unpackBundle(whole);
    const { chunks: _c, ...rest } = header;
    expect(Buffer.from(packBundle(rest, chunks)).equals(Buffer.from(whole))).toBe(true);
    let reads = 0;
    const source = { byteLength: whole.length, read: (off: number, len: number) => { reads++; return whole.slice(off, off + len); } };
    const server = new Server(model, source);
    expect(reads).toBeGreaterThan(chunks.length);
    const out = client.decrypt(server.infer(client.encrypt(x)));
    expect(out.data.length).toBe(10);
    // a changed byte inside a chunk's tail is caught by the bundle checksum through the source too
    const bad = whole.slice();
    bad[bad.length - 9] ^= 1;
    expect(() => openBundle({ byteLength: bad.length, read: (off, len) => bad.slice(off, off + len) })).toThrow(BundleError);
    expect(() => new BundleWriter({}, 1, () => {}).finish()).toThrow(BundleError);
  });

  it('a key capped below the level the plan rotates at is refused at load, naming the step', () => {
    const levels = model.plan.rotationLevels!;
    const i = levels.indexOf(Math.max(...levels));
    const lowered = { ...model.plan, rotationLevels: levels.map((l, j) => (j === i ? l - 1 : l)) };
    const client = new Client(lowered);
    expect(() => new Server(model, client.evaluationKeys())).toThrow(/capped at level/);
  });

  it('with rotation depths, K minimises the capped keys\' bytes × time within the 128-bit bound', () => {
    // a deep chain with keys spread over its levels (the shape of ResNet-20's: 39 levels)
    const depths = Array.from({ length: 60 }, (_, i) => (i * 7) % 39);
    const P = chooseParameters(39, { minLogN: 16, rotationDepths: depths });
    expect(P.logQP).toBeLessThanOrEqual(HE_STANDARD_128[16]);
    const cost = (K: number) => {
      const c = keySwitchCost(new Parameters({ logN: 16, levels: 39, specialLimbs: K, insecure: true }), depths);
      return c.bytes * c.time;
    };
    const mine = keySwitchCost(P, depths);
    // every K from 1 to the chosen one's neighbour that the bound admits costs at least as much
    for (let K = 1; K <= P.p.length + 1; K++) {
      const Q = new Parameters({ logN: 16, levels: 39, specialLimbs: K, insecure: true });
      if (Q.logQP <= HE_STANDARD_128[16]) expect(mine.bytes * mine.time).toBeLessThanOrEqual(cost(K));
    }
    // without depths the choice is as before (the most special limbs up to 6)
    expect(chooseParameters(39, { minLogN: 16 }).p.length).toBeLessThanOrEqual(6);
  });
});

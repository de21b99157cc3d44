/**
 * Bootstrapping through the private-inference API (`nn/model.ts`, `nn/model-bootstrap.ts`):
 *  - Model → Client → Server round trip of a tiny ResNet deeper than the 2 user levels of
 *    N11-BOOT-T, on one thread and on a 2-thread pool, against the float64 packed simulation
 *    (bound: the simulation with each refreshed value perturbed by a bootstrap's error);
 *  - the same in the channel layout (4 user levels: refreshes pack channels into bootstraps),
 *    against the float64 reference;
 *  - a network that fits the user levels (N12-BOOT-T with 9 user levels, a preset with overrides):
 *    zero bootstraps, the same round trip;
 *  - the plan's bootstrap field: kept through JSON, every malformed variant a PlanError;
 *  - the server refuses key bundles without encapsulation keys and inputs at the wrong level
 *    (BundleError); the model refuses contradicting options (InvalidArgumentError).
 */
import { describe, expect, it } from 'vitest';
import {
  BundleError, Client, type CompiledModel, type IrGraph, Model, type ModelPlan, PlanError, Server, type Tensor, packBundle, parsePlan, runReference, unpackBundle, validatePlan,
} from '../src/nn/index.js';
import { simulatePacked } from '../src/nn/packed/index.js';
import { CkksContext, Evaluator, InvalidArgumentError, deserializeCiphertext, serializeCiphertext } from '../src/index.js';
import { randomVector } from './helpers.js';
import { perturbedOutput, perturbedReference, tinyResNet } from './bootstrap-nets.js';

/** A compilation of a graph that is already encryptable (Poly activations), with its input range. */
function compiled(g: IrGraph, calib: Tensor): CompiledModel {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of calib.data) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return { original: g, graph: g, fits: [], log: [], calibration: { images: calib.shape[0], activations: [], byNode: new Map() }, inputRange: [lo, hi] };
}

const g = tinyResNet();
const calib: Tensor = { shape: [4, 2, 8, 8], data: Float64Array.from({ length: 4 * 128 }, (_, i) => randomVector(128, 100 + (i >> 7))[i & 127]) };
const x = randomVector(128, 7);
const input: Tensor = { shape: [1, 2, 8, 8], data: x };

/**
 * Max |out − want|, the bound (twice the worst deviation of `perturbed` runs: the network with each
 * refreshed value perturbed by a bootstrap's error) and the largest |want|.
 */
function within(out: Tensor, want: ArrayLike<number>, model: Model, perturbed: (deltas: Map<string, number>, r: number) => ArrayLike<number>): { err: number; bound: number; top: number } {
  const deltas = new Map(model.bootstrap!.placement.points.map((p) => [p.value, p.scale! * 2 ** -14]));
  let err = 0;
  let dev = 0;
  let top = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(out.data[i] - want[i]));
    top = Math.max(top, Math.abs(want[i]));
  }
  for (let r = 0; r < 8 && deltas.size; r++) {
    const y = perturbed(deltas, r + 1);
    for (let i = 0; i < want.length; i++) dev = Math.max(dev, Math.abs(y[i] - want[i]));
  }
  return { err, bound: 2 * dev, top };
}

/** {@link within} against the float64 packed simulation. */
const compare = (model: Model, out: Tensor) => within(out, simulatePacked(model.graph, model.packedPlan!, x).output, model,
  (d, r) => perturbedOutput(model.graph, d, x, model.params.slots, r));

describe('a bootstrapped model (N = 2^11, 2 user levels)', () => {
  const model = Model.fromCompiled(compiled(g, calib), { layout: 'packed', bootstrap: 'N11-BOOT-T', calibration: calib });
  const client = new Client(parsePlan(JSON.stringify(model.plan)));
  const keys = client.evaluationKeys();

  it('the plan carries the preset, input level and count; the model holds the placement', () => {
    expect(model.plan.bootstrap).toEqual({ preset: 'N11-BOOT-T', inputLevel: 2, count: model.bootstrap!.placement.count });
    expect(model.bootstrap!.placement.count).toBeGreaterThan(0);
    expect(model.plan.depth).toBeGreaterThan(2);
    expect(model.plan.rotationLevels!.every((l) => l === 2)).toBe(true);
    expect(JSON.stringify(model.plan)).not.toMatch(/points|neededBy/); // the placement stays on the server
  });

  it('Model → Client → Server: the bootstraps run, the output equals the simulation within a bootstrap\'s error', () => {
    const server = new Server(model, keys);
    const t0 = performance.now();
    const out = client.decrypt(server.infer(client.encrypt(input)));
    const ms = performance.now() - t0;
    const { err, bound, top } = compare(model, out);
    expect(server.bootstraps.map((b) => b.value)).toEqual(model.bootstrap!.placement.points.map((p) => p.value));
    expect(err).toBeLessThanOrEqual(bound);
    expect(Math.log2(top / err)).toBeGreaterThan(12);
    console.log(`round trip ${(ms / 1000).toFixed(2)} s, ${server.bootstraps.length} bootstrap(s) of ${server.bootstraps.map((b) => (b.ms / 1000).toFixed(2)).join(', ')} s; ` +
      `error 2^${Math.log2(err).toFixed(1)} (${Math.log2(top / err).toFixed(1)} bits), bound 2^${Math.log2(bound).toFixed(1)}`);
    // a second input reuses the bootstrapper
    const again = client.decrypt(server.infer(client.encrypt(input)));
    expect(compare(model, again).err).toBeLessThanOrEqual(bound);
  }, 120_000);

  it('Server.create with a 2-thread pool: the same run within the same bound', async () => {
    const server = await Server.create(model, keys, { threads: 2 });
    try {
      const out = client.decrypt(await server.inferAsync(client.encrypt(input)));
      const { err, bound } = compare(model, out);
      expect(server.bootstraps.length).toBe(model.bootstrap!.placement.count);
      expect(err).toBeLessThanOrEqual(bound);
    } finally {
      await server.close();
    }
  }, 120_000);

  it('the server refuses keys without encapsulation keys and inputs at the wrong level (BundleError)', () => {
    const { header, chunks } = unpackBundle(keys);
    const { chunks: _n, ...h } = header;
    expect(() => new Server(model, packBundle(h, chunks.slice(0, -1)))).toThrow(/encapsulation keys/);
    expect(() => new Server(model, packBundle(h, chunks.slice(0, -1)))).toThrow(BundleError);
    expect(() => new Server(model, packBundle(h, [...chunks.slice(0, -1), chunks[2]]))).toThrow(/not the encapsulation keys/);
    const { bootstrap: _b, ...plain } = h;
    expect(() => new Server(model, packBundle(plain, chunks))).toThrow(/hold no bootstrapping keys/);
    // an input dropped one level below U
    const server = new Server(model, keys);
    const inp = unpackBundle(client.encrypt(input));
    const ctx = new CkksContext(model.params);
    const ct = new Evaluator(ctx).dropToLevel(deserializeCiphertext(ctx, inp.chunks[0]), 1);
    const { chunks: _c, ...ih } = inp.header;
    const low = packBundle(ih, [serializeCiphertext(ct, { keyId: client.keyId })]);
    expect(() => server.infer(low)).toThrow(BundleError);
    expect(() => server.infer(low)).toThrow(/at level 1.*fresh inputs are at level 2/);
  });

  it('the plan\'s bootstrap field: malformed variants are PlanErrors', () => {
    const plan = JSON.parse(JSON.stringify(model.plan)) as ModelPlan;
    expect(validatePlan(plan).plan.bootstrap).toEqual(model.plan.bootstrap);
    const bad: [unknown, RegExp][] = [
      ['N11-BOOT-T', /bootstrap "?N11-BOOT-T"? is not \{preset, inputLevel, count\}/],
      [{ ...plan.bootstrap, preset: 'N17' }, /bootstrap\.preset .* is not one of/],
      [{ ...plan.bootstrap, overrides: 3 }, /bootstrap\.overrides 3 is not an object/],
      [{ ...plan.bootstrap, overrides: { userLevels: 3 } }, /has parameters .*, the plan's are/],
      [{ ...plan.bootstrap, overrides: { userLevels: -1 } }, /does not validate/],
      [{ ...plan.bootstrap, inputLevel: 1 }, /inputLevel 1 is not the top user level 2/],
      [{ ...plan.bootstrap, inputLevel: 0.5 }, /bootstrap\.inputLevel/],
      [{ ...plan.bootstrap, count: -1 }, /bootstrap\.count -1/],
      [{ ...plan.bootstrap, count: undefined }, /bootstrap\.count/],
    ];
    for (const [b, re] of bad) {
      expect(() => validatePlan({ ...plan, bootstrap: b }), JSON.stringify(b)).toThrow(PlanError);
      expect(() => validatePlan({ ...plan, bootstrap: b }), JSON.stringify(b)).toThrow(re);
    }
    // without the field (a client that predates it): its keys are refused, never a run without bootstraps
    const { bootstrap: _b, ...unbooted } = plan;
    expect(() => new Server(model, new Client(unbooted).evaluationKeys())).toThrow(/hold no bootstrapping keys/);
    expect(() => validatePlan({ ...unbooted, depth: 100 })).toThrow(/depth 100 is not an integer/);
    expect(validatePlan({ ...plan, depth: 100 }).plan.depth).toBe(100);
    expect(() => validatePlan({ ...plan, rotationLevels: plan.rotationLevels!.map(() => 3) })).toThrow(/rotation level 3/);
  });

  it('contradicting options are InvalidArgumentErrors naming the fix', () => {
    const c = compiled(g, calib);
    const cases: [Parameters<typeof Model.fromCompiled>[1], RegExp][] = [
      [{ layout: 'packed', bootstrap: 'N11-BOOT-T', calibration: calib, insecureLogN: 11 }, /params or insecureLogN contradict it/],
      [{ layout: 'packed', bootstrap: 'N11-BOOT-T', calibration: calib, params: { logN: 11, levels: 3, insecure: true } }, /params or insecureLogN contradict it/],
      [{ layout: 'batch', bootstrap: 'N11-BOOT-T', calibration: calib }, /batch layout is not supported.*Fix: use layout: 'packed' \(or 'channel'\)/],
      [{ layout: 'packed', bootstrap: 'N11-BOOT-T' }, /needs calibration images.*Fix: .*calibration/],
      [{ layout: 'packed', bootstrap: 'N99' }, /is not a bootstrapping preset/],
    ];
    for (const [o, re] of cases) {
      expect(() => Model.fromCompiled(c, o), JSON.stringify(o?.bootstrap)).toThrow(InvalidArgumentError);
      expect(() => Model.fromCompiled(c, o)).toThrow(re);
    }
  });
});

describe('a bootstrapped model in the channel layout (N = 2^11, 4 user levels)', () => {
  it('Model → Client → Server: the channels pack into bootstraps, the packing keys travel, the output equals the reference', () => {
    const model = Model.fromCompiled(compiled(g, calib), { layout: 'channel', bootstrap: { preset: 'N11-BOOT-T', overrides: { userLevels: 4 } }, calibration: calib });
    const mb = model.bootstrap!;
    expect(mb.channel).toBeDefined();
    expect(mb.placement.count).toBeGreaterThan(0);
    expect(model.plan.bootstrap!.count).toBe(mb.calls);
    expect(mb.calls).toBe([...mb.channel!.refreshes.values()].reduce((a, r) => a + r.bootstraps, 0));
    for (const r of mb.channel!.rotations) expect(model.plan.rotations).toContain(r);
    const client = new Client(parsePlan(JSON.stringify(model.plan)));
    const server = new Server(model, client.evaluationKeys());
    const out = client.decrypt(server.infer(client.encrypt(input)));
    const { err, bound, top } = within(out, runReference(model.graph, input).data, model, (d, r) => perturbedReference(model.graph, d, x, r));
    expect(server.bootstraps.map((b) => b.value)).toEqual(mb.placement.points.map((p) => p.value));
    expect(err).toBeLessThanOrEqual(bound);
    expect(Math.log2(top / err)).toBeGreaterThan(12);
  }, 120_000);
});

describe('a model that fits the user levels (N = 2^12, 9 user levels)', () => {
  it('zero bootstraps: the same round trip, inputs at level 9, no bootstrapper built', () => {
    const model = Model.fromCompiled(compiled(g, calib), { layout: 'packed', bootstrap: { preset: 'N12-BOOT-T', overrides: { userLevels: 9 } }, calibration: calib });
    expect(model.plan.bootstrap).toEqual({ preset: 'N12-BOOT-T', overrides: { userLevels: 9 }, inputLevel: 9, count: 0 });
    const client = new Client(parsePlan(JSON.stringify(model.plan)));
    const server = new Server(model, client.evaluationKeys());
    const out = client.decrypt(server.infer(client.encrypt(input)));
    const want = simulatePacked(model.graph, model.packedPlan!, x).output;
    let err = 0;
    let top = 0;
    for (let i = 0; i < want.length; i++) {
      err = Math.max(err, Math.abs(out.data[i] - want[i]));
      top = Math.max(top, Math.abs(want[i]));
    }
    expect(server.bootstraps).toEqual([]);
    expect(Math.log2(top / err)).toBeGreaterThan(12);
  }, 120_000);
});

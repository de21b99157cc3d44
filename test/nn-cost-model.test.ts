/**
 * The layout cost model (src/nn/plan/cost-model.ts) and the table-driven layout choice
 * (src/nn/plan/layout-choice.ts):
 *  - the predicted time of one encrypted run is within a factor of 3 of the measured time, for a
 *    channel-layout run (mnist_relu_bn, N = 2^12) and a batch-layout run (mnist_square, N = 2^10),
 *    with per-operation times measured at the run's own parameters (both measured in this process,
 *    moments apart, so machine load moves both);
 *  - the operation counts of a batch-layout convolution equal a direct count of its in-bounds
 *    multiply-adds;
 *  - the choice takes the fastest layout that fits in memory, keeps the table order on ties, and
 *    for a fixed operation-time table switches from channel to batch as the image count grows;
 *  - the packed layout's prediction (src/nn/packed/cost.ts) counts exactly the rotations, plaintext
 *    products, encodings and rescales an encrypted packed run performs (counted by wrapping the
 *    evaluator), prices them with the level-interpolated times, sizes capped keys by their level,
 *    predicts a run within the same factor, and the automatic choice includes it (and leaves it
 *    out where the network does not fit its slots).
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../src/errors.js';
import { Client, Model, Server } from '../src/index.js';
import type { Layout } from '../src/nn/compile/compile.js';
import { type LevelOpTimes, type LevelTimes, type OpTimes, levelFactor, measureLevelOpTimes, measureOpTimes, nodeOpCounts, predictRun, timeAt } from '../src/nn/plan/cost-model.js';
import { galoisKeyBytes, packedCounts, predictPacked } from '../src/nn/packed/cost.js';
import { PackedRunner } from '../src/nn/packed/runner.js';
import { switchingKeyBytes } from '../src/nn/plan/params.js';
import { Encoder, Evaluator } from '../src/ckks/index.js';
import { type LayoutEstimate, LAYOUT_OPTIONS, chooseLayout, estimateLayouts } from '../src/nn/plan/layout-choice.js';
import { loadModel, testDigits } from './fixtures.js';

const FACTOR = 4; // loose enough for a shared, busy machine; quiet runs are within 2

function measuredRun(model: Model, x: { shape: number[]; data: Float64Array }): number {
  const c = new Client(model.plan);
  const s = new Server(model, c.evaluationKeys());
  const enc = c.encrypt(x);
  const t = performance.now();
  s.infer(enc);
  return (performance.now() - t) / 1000;
}

describe('cost model', () => {
  const calib = testDigits(64);
  const one = { shape: [1, 1, 28, 28], data: calib.x.data.slice(0, 784) };

  it.each([
    ['mnist_relu_bn', 'channel', 12],
    ['mnist_square', 'batch', 10],
  ] as const)(`predicts a %s run in the %s layout (N = 2^%i) within a factor of ${FACTOR}`, (name, layout, logN) => {
    const model = Model.compile(loadModel(name), calib.x, { layout, insecureLogN: logN });
    const times = measureOpTimes(model.params);
    for (const v of Object.values(times)) expect(v).toBeGreaterThan(0);
    const run = predictRun(model.graph, model.params, layout, times);
    const predicted = run.seconds;
    console.log(JSON.stringify(times), run.nodes.map((n) => `${n.op} ${n.seconds.toFixed(3)}`).join(", "));
    const measured = measuredRun(model, one);
    console.log(`${name} ${layout} N=2^${logN}: predicted ${predicted.toFixed(2)} s, measured ${measured.toFixed(2)} s, ratio ${(measured / predicted).toFixed(2)}`);
    expect(measured / predicted).toBeLessThan(FACTOR);
    expect(predicted / measured).toBeLessThan(FACTOR);
  }, 120_000);

  it('counts a batch convolution as its in-bounds multiply-adds (independent count)', () => {
    const g = Model.compile(loadModel('mnist_square'), calib.x, { insecureLogN: 10 }).graph;
    const conv = g.nodes.find((n) => n.op === 'Conv')!;
    if (conv.op !== 'Conv') throw new Error('no conv');
    const [co, ci, kh, kw] = conv.weight.shape;
    const [, oh, ow] = conv.outShape;
    // count per output position by clipping the kernel window to the image (no per-tap loop)
    let taps = 0;
    for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
      const y0 = oy * conv.strides[0] - conv.pads[0];
      const x0 = ox * conv.strides[1] - conv.pads[1];
      taps += (Math.min(28, y0 + kh) - Math.max(0, y0)) * (Math.min(28, x0 + kw) - Math.max(0, x0));
    }
    const c = nodeOpCounts(conv, [1, 28, 28], 'batch', false, 784);
    expect(c.term).toBe(co * ci * taps);
    expect(c.rescale).toBe(co * oh * ow);
    expect(c.rotation).toBe(0);
    const ch = nodeOpCounts(conv, [1, 28, 28], 'channel', false, 784);
    expect(ch.rotation).toBe(ci * (kh * kw - 1));
    expect(ch.rescale).toBe(co);
  });
});

describe('layout choice', () => {
  const est = (layout: Layout, seconds: number, memory: number, fits = true) => ({ layout, seconds, memory, fits }) as unknown as LayoutEstimate;

  it('takes the fastest layout that fits; on a tie the earlier row; if none fits, the least memory', () => {
    expect(chooseLayout([est('channel', 10, 1), est('batch', 5, 9)]).choice.layout).toBe('batch');
    expect(chooseLayout([est('channel', 10, 1), est('batch', 5, 9, false)]).choice.layout).toBe('channel');
    expect(chooseLayout([est('channel', 5, 1), est('batch', 5, 9)]).choice.layout).toBe('channel');
    expect(chooseLayout([est('channel', 5, 3, false), est('batch', 1, 9, false)]).choice.layout).toBe('channel');
    expect(() => chooseLayout([])).toThrow(InvalidArgumentError);
    expect(LAYOUT_OPTIONS.map((o) => o.layout)).toEqual(['channel', 'batch', 'packed']);
  });

  it('switches from channel to batch as the image count grows (fixed operation times)', () => {
    const calib = testDigits(16);
    // a fixed table (seconds per operation) instead of a measurement: the choice then depends on
    // the operation counts and the image count only
    const times: OpTimes = { term: 1e-4, add: 1e-4, rescale: 1e-3, mulRelinRescale: 1e-2, rotation: 1e-2, plainMul: 1e-3 };
    const graph = loadModel('mnist_square');
    const opts = { insecureLogN: 11 };
    const options = LAYOUT_OPTIONS.filter((o) => o.layout !== 'packed');
    const at = (images: number) => {
      const e = estimateLayouts(graph, calib.x, images, opts, { options, measure: () => times, memoryBudget: 0 });
      return { choice: chooseLayout(e).choice, e };
    };
    const few = at(1);
    expect(few.choice.layout).toBe('channel');
    const batch = few.e.find((x) => x.layout === 'batch')!;
    const channel = few.e.find((x) => x.layout === 'channel')!;
    // the break-even image count from the per-run predictions
    const breakEven = Math.ceil(batch.secondsPerRun / channel.secondsPerRun);
    expect(breakEven).toBeGreaterThan(1);
    expect(breakEven).toBeLessThanOrEqual(batch.model.params.slots);
    expect(at(breakEven + 1).choice.layout).toBe('batch');
    expect(at(Math.max(1, breakEven - 1)).choice.layout).toBe('channel');
    // a memory budget below the batch layout's need keeps the channel layout
    const tight = estimateLayouts(graph, calib.x, breakEven + 1, opts, { options, measure: () => times, memoryBudget: (batch.memory + channel.memory) / 2 });
    expect(chooseLayout(tight).choice.layout).toBe(channel.memory < batch.memory ? 'channel' : 'batch');
  }, 60_000);
});

/** A fixed level-time table (seconds), the same at every measured level apart from a limb factor. */
function fixedLevelTimes(hash: string, levels: number[]): LevelTimes {
  const at = (f: number): LevelOpTimes => ({
    decompose: 2e-3 * f, hoistedRotation: 3e-3 * f, rotation: 5e-3 * f, plainMul: 1e-4 * f, encode: 4e-4 * f, add: 5e-5 * f, rescale: 1e-3 * f,
    mulRelinRescale: 8e-3 * f, term: 1e-4 * f,
    dhDecompose: 2e-3 * f, dhBaby: 1e-3 * f, dhGiant: 4e-3 * f, dhDiagonal: 8e-4 * f, dhDiagonalKept: 2e-4 * f, dhFinish: 1e-3 * f,
  });
  return { hash, threads: 1, levels, times: levels.map((l, i) => at(1 + l / (i + 1))) };
}

describe('packed layout cost', () => {
  const calib = testDigits(16);
  const one = { shape: [1, 1, 28, 28], data: calib.x.data.slice(0, 784) };
  const model = Model.compile(loadModel('mnist_square'), calib.x, { layout: 'packed', insecureLogN: 12 });
  const P = model.params;
  const plan = model.packedPlan!;

  it('counts what an encrypted packed run does (evaluator and encoder calls, counted by wrapping them)', () => {
    const seen = { baby: 0, giant: 0, diagonal: 0, transforms: 0, hoisted: 0, rotate: 0, mulPlain: 0, encode: 0, rescale: 0 };
    const ev = Evaluator.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
    const en = Encoder.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
    const saved = {
      evaluateDoubleHoisted: ev.evaluateDoubleHoisted, rotateHoisted: ev.rotateHoisted, rotate: ev.rotate, mulPlain: ev.mulPlain, rescaleInPlace: ev.rescaleInPlace, encode: en.encode,
    };
    ev.evaluateDoubleHoisted = function (this: unknown, ...a: unknown[]) {
      const spec = a[1] as { babies: number[]; giants: number[]; terms: Int32Array };
      seen.transforms++;
      seen.baby += spec.babies.filter((k) => k !== 0).length;
      seen.giant += spec.giants.filter((k) => k !== 0).length;
      seen.diagonal += spec.terms.length / 3;
      return saved.evaluateDoubleHoisted.apply(this, a);
    };
    const count = (name: 'rotateHoisted' | 'rotate' | 'mulPlain' | 'rescaleInPlace', key: keyof typeof seen) => {
      ev[name] = function (this: unknown, ...a: unknown[]) {
        seen[key]++;
        return saved[name].apply(this, a);
      };
    };
    count('rotateHoisted', 'hoisted');
    count('rotate', 'rotate');
    count('mulPlain', 'mulPlain');
    count('rescaleInPlace', 'rescale');
    const c = new Client(model.plan);
    const s = new Server(model, c.evaluationKeys());
    const input = c.encrypt(one);
    en.encode = function (this: unknown, ...a: unknown[]) {
      seen.encode++;
      return saved.encode.apply(this, a);
    };
    try {
      s.infer(input);
    } finally {
      Object.assign(ev, { evaluateDoubleHoisted: saved.evaluateDoubleHoisted, rotateHoisted: saved.rotateHoisted, rotate: saved.rotate, mulPlain: saved.mulPlain, rescaleInPlace: saved.rescaleInPlace });
      en.encode = saved.encode;
    }
    const rows = packedCounts(model.graph, plan, P);
    const sum = (k: keyof (typeof rows)[number]['counts']) => rows.reduce((a, r) => a + r.counts[k], 0);
    // the transforms (double hoisting: one accumulator chunk each at this size), their baby and
    // giant rotations and diagonals; polynomials add none of these here (x² exactly: one ct×ct
    // product, scalar coefficients); encodings: the biases only
    expect(seen.transforms).toBe(sum('dhFinish'));
    expect(seen.baby).toBe(sum('dhBaby'));
    expect(seen.giant).toBe(sum('dhGiant'));
    expect(seen.diagonal).toBeCloseTo(sum('dhDiagonal') + sum('dhDiagonalKept'), 9);
    expect(seen.hoisted + seen.rotate + seen.mulPlain).toBe(sum('hoistedRotation') + sum('rotation') + sum('plainMul'));
    expect(seen.encode).toBe(sum('encode'));
    // and a direct count over the plan's steps
    let diagonals = 0;
    let giants = 0;
    for (const st of plan.steps.values()) {
      if (st.kind !== 'transform') continue;
      diagonals += st.diagonals;
      giants += st.split.giants.filter((g) => g !== 0).length;
    }
    expect(sum('dhDiagonal') + sum('dhDiagonalKept')).toBeCloseTo(diagonals, 9);
    expect(sum('dhGiant')).toBe(giants);
    expect(seen.rescale).toBeGreaterThanOrEqual(sum('rescale'));
  }, 120_000);

  it('prices counts with the level-interpolated times; capped keys are sized by their level', () => {
    const lt = fixedLevelTimes(P.hash, [P.levels, 1]);
    // exact at a measured level, affine in the level factor in between
    expect(timeAt(P, lt, 'rotation', P.levels)).toBe(lt.times[0].rotation);
    const mid = Math.max(1, P.levels - 2);
    const f = (l: number) => levelFactor(P, 'rotation', l);
    const want = lt.times[1].rotation + ((lt.times[0].rotation - lt.times[1].rotation) * (f(mid) - f(1))) / (f(P.levels) - f(1));
    expect(timeAt(P, lt, 'rotation', mid)).toBeCloseTo(want, 12);
    const pred = predictPacked(model.graph, plan, P, lt, { cachedDiagonals: false });
    const rows = packedCounts(model.graph, plan, P);
    expect(pred.seconds).toBeCloseTo(pred.layers.reduce((a, l) => a + l.seconds, 0), 12);
    for (const [i, l] of pred.layers.entries()) {
      expect(l.counts).toEqual(rows[i].counts);
      if (l.kind === 'transform') {
        let s = 0;
        for (const [k, n] of Object.entries(l.counts)) s += n * timeAt(P, lt, k as keyof LevelOpTimes, l.level);
        expect(l.seconds).toBeCloseTo(s, 12);
        expect(l.slotUse).toBeGreaterThan(0);
        expect(l.slotUse).toBeLessThanOrEqual(l.slotFill);
        expect(l.slotFill).toBeLessThanOrEqual(1);
      }
    }
    // keys: a full-chain key is the switching key the engine sizes; a capped key is smaller
    expect(galoisKeyBytes(P)).toBe(switchingKeyBytes(P));
    expect(galoisKeyBytes(P, 1)).toBeLessThan(galoisKeyBytes(P));
    expect(pred.memory.galoisKeys).toBe(model.plan.rotations.length);
    expect(pred.memory.keys).toBe((model.plan.rotations.length + 1) * galoisKeyBytes(P));
    expect(pred.memory.keysCapped).toBeLessThanOrEqual(pred.memory.keys);
    expect(pred.memory.total).toBe(pred.memory.keysCapped + pred.memory.peakCiphertexts);
    const cached = predictPacked(model.graph, plan, P, lt, { cachedDiagonals: true });
    expect(cached.seconds).toBeLessThan(pred.seconds);
    expect(cached.setupSeconds).toBeGreaterThan(0);
    expect(pred.setupSeconds).toBe(0);
    expect(predictPacked(model.graph, plan, P, lt).memory.cached).toBe(true); // the runner keeps these (well under 1 GiB)
    expect(cached.memory.total).toBe(cached.memory.keysCapped + cached.memory.peakCiphertexts + cached.memory.diagonals);
  });

  it(`predicts a packed run (mnist_square, N = 2^12) within a factor of ${FACTOR}`, () => {
    const lt = measureLevelOpTimes(P, undefined, { budget: 0.05 });
    for (const t of lt.times) for (const v of Object.values(t)) expect(v).toBeGreaterThanOrEqual(0);
    const predicted = predictPacked(model.graph, plan, P, lt).seconds;
    const c = new Client(model.plan);
    const server = new Server(model, c.evaluationKeys());
    // the diagonals are encoded once per server, before the first input (as the CLI does)
    new PackedRunner(model.graph, plan, server.evaluator, server.encoder).prepare();
    const enc = c.encrypt(one);
    const t = performance.now();
    server.infer(enc);
    const measured = (performance.now() - t) / 1000;
    console.log(`mnist_square packed N=2^12: predicted ${predicted.toFixed(2)} s, measured ${measured.toFixed(2)} s, ratio ${(measured / predicted).toFixed(2)}`);
    expect(measured / predicted).toBeLessThan(FACTOR);
    expect(predicted / measured).toBeLessThan(FACTOR);
  }, 120_000);

  it('the automatic choice includes the packed layout, and leaves it out where the network does not fit', () => {
    const graph = loadModel('mnist_square');
    const times: OpTimes = { term: 1e-4, add: 1e-4, rescale: 1e-3, mulRelinRescale: 1e-2, rotation: 1e-2, plainMul: 1e-3 };
    const skipped: string[] = [];
    const e = estimateLayouts(graph, calib.x, 1, { insecureLogN: 12 }, {
      measure: () => times, measureLevels: (Q) => fixedLevelTimes(Q.hash, [Q.levels, 1]), memoryBudget: 0, onSkip: (l) => skipped.push(l),
    });
    expect(e.map((x) => x.layout)).toEqual(['channel', 'batch', 'packed']);
    const packed = e.find((x) => x.layout === 'packed')!;
    expect(packed.packed!.seconds).toBe(packed.secondsPerRun);
    expect(packed.runs).toBe(1);
    // the kept diagonals are encoded once per job, then every image pays its run
    expect(packed.seconds).toBeCloseTo(packed.packed!.setupSeconds + packed.secondsPerRun, 12);
    const three = estimateLayouts(graph, calib.x, 3, { insecureLogN: 12 }, {
      options: LAYOUT_OPTIONS.filter((o) => o.layout === 'packed'), measureLevels: (Q) => fixedLevelTimes(Q.hash, [Q.levels, 1]), memoryBudget: 0,
    })[0];
    expect(three.runs).toBe(3);
    expect(three.seconds).toBeCloseTo(three.packed!.setupSeconds + 3 * three.secondsPerRun, 12);
    expect(packed.memory).toBe(packed.packed!.memory.total);
    // packed and channel both take one image per run: the faster for the job wins
    const channel = e.find((x) => x.layout === 'channel')!;
    expect(chooseLayout(e.filter((x) => x.layout !== 'batch')).choice.layout).toBe(packed.seconds < channel.seconds ? 'packed' : 'channel');
    expect(chooseLayout([{ ...packed, seconds: 1 }, { ...channel, seconds: 2 }]).choice.layout).toBe('packed');
    // over the memory budget the packed layout is not chosen
    expect(chooseLayout([{ ...packed, seconds: 1, fits: false }, { ...channel, seconds: 2 }]).choice.layout).toBe('channel');
    // at 1,024 slots the packed layout (periods up to 2,048) cannot hold the network: left out
    const small = estimateLayouts(graph, calib.x, 1, { insecureLogN: 11 }, { measure: () => times, measureLevels: (Q) => fixedLevelTimes(Q.hash, [Q.levels, 1]), memoryBudget: 0, onSkip: (l) => skipped.push(l) });
    expect(small.map((x) => x.layout)).toEqual(['channel', 'batch']);
    expect(skipped).toEqual(['packed']);
  }, 60_000);
});

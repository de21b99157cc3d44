/**
 * Parameter clustering: k-means properties, the grouped multiply-add equals the plain one bit for
 * bit, and a clustered network runs encrypted with predictions equal to its simulation. The
 * multi-output multiply-add (one pass over shared inputs) equals per-output ones bit for bit and
 * decrypts to the float64 linear combinations.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Client, Model, Server } from '../src/index.js';
import { argmaxRows, kmeans1d, linearCombination, linearCombinations, outputElement } from '../src/nn/index.js';
import { precisionStats } from '../src/index.js';
import { loadModel, testDigits } from './fixtures.js';
import { makeKit, randomVector } from './helpers.js';

describe('k-means (1-D)', () => {
  it('assigns every value to its nearest centroid; centroids are the means of their members', () => {
    fc.assert(fc.property(fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: 20, maxLength: 300 }), fc.integer({ min: 2, max: 12 }), (xs, k) => {
      const r = kmeans1d(xs, k, 3, 5000, 0);
      for (let i = 0; i < xs.length; i++) {
        const d = Math.abs(xs[i] - r.centroids[r.assign[i]]);
        for (const c of r.centroids) expect(d).toBeLessThanOrEqual(Math.abs(xs[i] - c) + 1e-12);
      }
      r.centroids.forEach((c, j) => {
        const members = xs.filter((_, i) => r.assign[i] === j);
        if (members.length) expect(Math.abs(c - members.reduce((a, b) => a + b, 0) / members.length)).toBeLessThan(1e-9);
      });
    }), { numRuns: 50 });
  });

  it('keeps values exactly when there are at most k distinct ones', () => {
    const r = kmeans1d([1, 2, 2, 3, 1], 4);
    expect(Array.from(r.assign, (a) => r.centroids[a])).toEqual([1, 2, 2, 3, 1]);
  });
});

describe('grouped multiply-add', () => {
  const kit = makeKit({ logN: 10, levels: 2, insecure: true }, []);
  it('equals the plain multiply-add residue for residue', () => {
    const n = kit.ctx.params.slots;
    const cts = Array.from({ length: 40 }, (_, i) => kit.encr.encrypt(kit.enc.encode(randomVector(n, i + 1))));
    fc.assert(fc.property(fc.array(fc.constantFrom(0, 0.25, -1.5, 3.125, 0.7), { minLength: 40, maxLength: 40 }), fc.double({ min: -2, max: 2, noNaN: true }), (ws, b) => {
      const S = kit.ctx.params.scales[2];
      const a = linearCombination(kit.ctx, cts, ws, S, b, undefined, false);
      const g = linearCombination(kit.ctx, cts, ws, S, b, undefined, true);
      for (let k = 0; k < 2; k++) expect(Array.from(g.polys[k].coeffs)).toEqual(Array.from(a.polys[k].coeffs));
    }), { numRuns: 10 });
  });
});

describe('clustered network', () => {
  it('16 clusters per layer: encrypted predictions equal the simulation (batch, small ring)', () => {
    const calib = testDigits(500);
    const model = Model.compile(loadModel('mnist_relu_bn'), calib.x, { labels: calib.labels, cluster: 16, insecureLogN: 11 });
    expect(model.compiled.log.some((l) => l.startsWith('cluster:'))).toBe(true);
    for (const n of model.graph.nodes) if (n.op === 'Conv' || n.op === 'Dense') expect(new Set(n.weight.data).size).toBeLessThanOrEqual(16);
    const { x } = testDigits(64, 1000);
    const client = new Client(model.plan);
    const server = new Server(model, client.evaluationKeys());
    const pred = argmaxRows(client.decrypt(server.infer(client.encrypt(x))));
    expect(pred).toEqual(argmaxRows(model.simulate(x)));
  });
});

describe('multi-output multiply-add', () => {
  // N = 2^12 > the kernel's 2048-coefficient block, so blocks and their offsets are exercised
  const kit = makeKit({ logN: 12, levels: 2, insecure: true }, []);
  const n = kit.ctx.params.slots;
  const xs = Array.from({ length: 11 }, (_, i) => randomVector(n, 100 + i));
  const cts = xs.map((x) => kit.encr.encrypt(kit.enc.encode(x)));
  it('equals per-output multiply-adds residue for residue and decrypts to Σ w·x + b', () => {
    const S = kit.ctx.params.scales[2];
    const weight = fc.oneof(fc.constant(0), fc.double({ min: -2, max: 2, noNaN: true }));
    fc.assert(fc.property(fc.array(fc.array(weight, { minLength: 11, maxLength: 11 }), { minLength: 2, maxLength: 9 }), fc.double({ min: -1, max: 1, noNaN: true }), (ws, b) => {
      const biases = ws.map((_, m) => b * (m + 1));
      const multi = linearCombinations(kit.ctx, cts, ws, S, biases);
      ws.forEach((w, m) => {
        const one = linearCombination(kit.ctx, cts, w, S, biases[m]);
        for (let k = 0; k < 2; k++) expect(multi[m].polys[k].coeffs).toEqual(one.polys[k].coeffs);
        const want = Array.from({ length: n }, (_, j) => w.reduce((acc, wi, i) => acc + Math.round(wi * S) / S * xs[i][j], biases[m]));
        const got = kit.enc.decode(kit.dec.decrypt(multi[m]));
        expect(precisionStats(want, got).meanBits).toBeGreaterThanOrEqual(12);
      });
    }), { numRuns: 6 });
  });

  it('convolutions run position-major: outputElement is a permutation', () => {
    const conv = { op: 'Conv', outShape: [3, 4, 5] } as unknown as Parameters<typeof outputElement>[0];
    const seen = Array.from({ length: 60 }, (_, u) => outputElement(conv, u));
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, i) => i));
    expect(seen.slice(0, 3)).toEqual([0, 20, 40]); // the three channels at position 0
  });
});

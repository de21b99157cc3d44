/**
 * The `veil` command: usage, inspect, plain/simulated/encrypted inference, and clear errors for bad
 * input (exit code 1 with a message naming the fix, never a stack trace).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'dist/src/cli/veil.js');
const fx = (f: string) => join(root, 'fixtures', f);
const tmp = mkdtempSync(join(tmpdir(), 'veil-cli-'));
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: root });
const built = existsSync(cli);

describe.runIf(built)('veil CLI', () => {
  it('prints usage with exit code 2', () => {
    const r = run('--help');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/veil inspect MODEL\.onnx/);
    expect(run('frobnicate', 'x').status).toBe(2);
  });

  it('inspect: layers, depth, parameters, Galois keys and memory per layout', () => {
    const r = run('inspect', fx('mnist_square.onnx'));
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/== batch layout: depth 5/);
    expect(r.stdout).toMatch(/== channel layout: depth 5/);
    expect(r.stdout).toMatch(/Galois keys: \d+/);
    expect(r.stdout).toMatch(/memory: fresh ciphertext/);
    const j = run('inspect', fx('mnist_relu_bn.onnx'), '--calibration', fx('digits64.f32'), '--shape', '64,1,28,28', '--layout', 'batch', '--json');
    expect(j.status).toBe(0);
    const rep = JSON.parse(j.stdout);
    expect(rep.batch.depth).toBeGreaterThan(3);
    expect(rep.batch.activations.length).toBe(2);
  });

  it('infer --plain and --simulate write logits and predictions', () => {
    const out = join(tmp, 'plain.json');
    const r = run('infer', fx('mnist_square.onnx'), '--input', fx('digits64.f32'), '--shape', '64,1,28,28', '--out', out, '--plain');
    expect(r.status).toBe(0);
    const res = JSON.parse(readFileSync(out, 'utf8'));
    expect(res.logits.length).toBe(64);
    expect(res.predictions.length).toBe(64);
    const torch = JSON.parse(readFileSync(fx('mnist_square.logits.json'), 'utf8'));
    expect(res.predictions).toEqual(torch.predictions.slice(0, 64));
    const sm = run('infer', fx('mnist_relu_bn.onnx'), '--input', fx('digits64.f32'), '--shape', '64,1,28,28', '--out', join(tmp, 'sim.json'), '--simulate', '--degrees', 'uniform:3');
    expect(sm.status).toBe(0);
    expect(JSON.parse(readFileSync(join(tmp, 'sim.json'), 'utf8')).mode).toBe('simulate');
  });

  it('infer encrypted (channel layout, one image) equals the simulation', () => {
    const one = join(tmp, 'one.f32');
    writeFileSync(one, readFileSync(fx('digits64.f32')).subarray(0, 784 * 4));
    const calib = fx('digits64.f32');
    const a = run('infer', fx('mnist_square.onnx'), '--input', one, '--shape', '1,1,28,28', '--calibration', calib, '--calibration-shape', '64,1,28,28', '--layout', 'channel', '--out', join(tmp, 'enc.json'));
    expect(a.status, a.stderr).toBe(0);
    const b = run('infer', fx('mnist_square.onnx'), '--input', one, '--shape', '1,1,28,28', '--calibration', calib, '--calibration-shape', '64,1,28,28', '--simulate', '--out', join(tmp, 'sim1.json'));
    expect(b.status, b.stderr).toBe(0);
    const enc = JSON.parse(readFileSync(join(tmp, 'enc.json'), 'utf8'));
    const sim = JSON.parse(readFileSync(join(tmp, 'sim1.json'), 'utf8'));
    expect(enc.mode).toBe('encrypted');
    expect(enc.predictions).toEqual(sim.predictions);
    // the chosen parameters have Δ ≈ 2^25.5 at N = 2^13: allow 2% of the largest logit
    const big = Math.max(...sim.logits[0].map(Math.abs));
    for (let k = 0; k < 10; k++) expect(Math.abs(enc.logits[0][k] - sim.logits[0][k])).toBeLessThan(0.02 * big);
    expect(enc.timings.server_s).toBeGreaterThan(0);
    expect(enc.params.insecure).toBe(false);
  }, 300_000);

  it('bad input gets a clear error, not a crash', () => {
    const bad = (args: string[], re: RegExp) => {
      const r = run(...args);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(re);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    };
    const nan = join(tmp, 'nan.f32');
    const f = new Float32Array(784).fill(0.5);
    f[17] = NaN;
    writeFileSync(nan, new Uint8Array(f.buffer));
    bad(['infer', fx('mnist_square.onnx'), '--input', nan, '--shape', '1,1,28,28', '--out', join(tmp, 'x.json'), '--plain'], /NaN|not finite|non-finite/i);
    bad(['infer', fx('mnist_square.onnx'), '--input', fx('digits64.f32'), '--shape', '64,1,27,28', '--out', join(tmp, 'x.json'), '--plain'], /shape|size/i);
    const big = join(tmp, 'big.f32');
    writeFileSync(big, new Uint8Array(new Float32Array(784).fill(255).buffer));
    bad(['infer', fx('mnist_square.onnx'), '--input', big, '--shape', '1,1,28,28', '--calibration', fx('digits64.f32'), '--calibration-shape', '64,1,28,28', '--out', join(tmp, 'x.json'), '--simulate'], /outside the calibrated range.*Fix/);
    const junk = join(tmp, 'junk.onnx');
    writeFileSync(junk, 'this is not a model');
    bad(['inspect', junk], /Onnx|parse|protobuf/i);
    bad(['infer', fx('mnist_square.onnx'), '--input', join(tmp, 'missing.f32'), '--shape', '1,1,28,28', '--out', join(tmp, 'x.json')], /cannot read/);
  });
});

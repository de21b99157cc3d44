/**
 * The user-facing examples run as written (needs `npm run build`): each built example runs as a
 * child process from the repository root, as `npm run example:…` runs it, and its exit code and the
 * lines a user reads are checked against values computed here, in plain arithmetic or from the
 * fixture files. The examples import the package by its name (`veil-fhe`, `veil-fhe/nn`), as a
 * user's code does.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
const built = (name: string) => join(root, 'dist/examples', `${name}.js`);
const all = ['quickstart-ckks', 'quickstart-inference', 'pool', 'bootstrap', 'bootstrap-model'];
const isBuilt = all.every((n) => existsSync(built(n)));
if (!isBuilt && process.env.CI === 'true') throw new Error('dist/examples is not built: run npm run build');

/** Runs a built example (asynchronously, so the test worker keeps answering vitest). */
function runExample(name: string): Promise<{ code: number; stdout: string; stderr: string; seconds: number }> {
  const t = performance.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [built(name)], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr, seconds: (performance.now() - t) / 1000 });
    });
  });
}

/** The first line of `text` made of exactly `n` comma-separated numbers. */
function numbersLine(text: string, n: number): number[] {
  for (const line of text.split('\n')) {
    const parts = line.split(',').map((s) => s.trim());
    if (parts.length === n && parts.every((p) => p !== '' && Number.isFinite(Number(p)))) return parts.map(Number);
  }
  throw new Error(`no line of ${n} numbers in:\n${text}`);
}

// (a·b) rotated left by one slot, for the examples' a = [0.5, -0.25, 0.125], b = [2, 4, 8] (zeros
// in the other slots), in plain float64.
const A = [0.5, -0.25, 0.125, 0];
const B = [2, 4, 8, 0];
const expected = [A[1] * B[1], A[2] * B[2], A[3] * B[3]];
// Error bound per slot. At Δ = 2^30 (N = 2^14, preset N14-L10) the error after encrypt →
// mulRelinRescale → rotate on these slots measured median 2^-16.0 and worst 2^-13.6 over 96
// readings (slots 0–2, 8 key sets × 4 encryptions). 2^-10 leaves a factor 12 over that worst
// reading and still fails on any wrong slot, sign, rotation or scale (errors ≥ 1/8).
const BOUND = 2 ** -10;

describe.runIf(isBuilt)('examples, run as a user runs them', () => {
  it('import the package by its name, not the sources', () => {
    for (const name of all) {
      const src = readFileSync(join(root, 'examples', `${name}.ts`), 'utf8');
      const specifiers = [...src.matchAll(/\bfrom\s+'([^']+)'/g)].map((m) => m[1]);
      expect(specifiers.length, name).toBeGreaterThan(0);
      for (const s of specifiers) expect(s, `${name} imports ${s}`).toMatch(/^(veil-fhe(\/nn|\/bootstrap)?|node:[a-z_]+)$/);
    }
    const scripts = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts as Record<string, string>;
    expect(scripts['example:ckks']).toBe('node dist/examples/quickstart-ckks.js');
    expect(scripts['example:inference']).toBe('node dist/examples/quickstart-inference.js');
    expect(scripts['example:pool']).toBe('node dist/examples/pool.js');
    expect(scripts['example:bootstrap']).toBe('node dist/examples/bootstrap.js');
    expect(scripts['example:bootstrap-model']).toBe('node dist/examples/bootstrap-model.js');
  });

  it('quickstart-ckks: prints (a·b) rotated by one slot within the precision bound', async () => {
    const r = await runExample('quickstart-ckks');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const got = numbersLine(r.stdout, 3);
    for (let i = 0; i < 3; i++) expect(Math.abs(got[i] - expected[i]), `slot ${i}: ${got[i]} vs ${expected[i]}`).toBeLessThan(BOUND);
    console.log(`quickstart-ckks: ${r.seconds.toFixed(1)} s`);
  });

  it('quickstart-inference: the encrypted prediction of digit 1,000 equals its label and the simulation; per-layer times', async () => {
    const r = await runExample('quickstart-inference');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const label = readFileSync(join(root, 'fixtures/mnist_test_2000_labels.u8'))[1000];
    const m = /prediction (\d), label (\d), float64 simulation (\d)/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(Number(m![2])).toBe(label);
    expect(Number(m![1])).toBe(label);
    expect(Number(m![3])).toBe(label);
    // bytes: the channel layout's Galois keys dominate (tens of MB); one digit's input under 1 MB
    const s = /sent: keys ([\d.]+) MB, input ([\d.]+) MB; returned ([\d.]+) MB/.exec(r.stdout);
    expect(s, r.stdout).not.toBeNull();
    expect(Number(s![1])).toBeGreaterThan(10);
    expect(Number(s![2])).toBeGreaterThan(0);
    expect(Number(s![2])).toBeLessThan(1);
    // one timing line per layer of the network, in graph order
    const layers = [...r.stdout.matchAll(/^\s+(\w+)\s+(\S+)\s+([\d.]+) s$/gm)].map((x) => `${x[1]} ${x[2]}`);
    expect(layers).toEqual([
      'Conv /conv1/Conv', 'Poly /Relu', 'AveragePool /pool1/AveragePool', 'Conv /conv2/Conv', 'Poly /Relu_1',
      'AveragePool /pool2/AveragePool', 'Flatten /Flatten', 'Dense /fc/Gemm',
    ]);
    console.log(`quickstart-inference: ${r.seconds.toFixed(1)} s`);
  });

  it('pool: two threads give the same ciphertext bytes as one, and the right values', async () => {
    const r = await runExample('pool');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/mulRelinRescale \+ rotate: 1 thread [\d.]+ ms, 2 threads [\d.]+ ms/);
    expect(r.stdout).toContain('same ciphertext bytes: true');
    const got = numbersLine(r.stdout, 3);
    for (let i = 0; i < 3; i++) expect(Math.abs(got[i] - expected[i]), `slot ${i}: ${got[i]} vs ${expected[i]}`).toBeLessThan(BOUND);
    console.log(`pool: ${r.seconds.toFixed(1)} s`);
  });

  // N12-BOOT-T: the full-slot bootstrap's error is dominated by the sine's own distortion and the
  // encapsulation noise; test/bootstrap.test.ts bounds it at N = 2^10 from a float64 model (>= 17
  // bits); the example measured 20.3 bits mean. 15 bits fails on any wrong level, scale or slot
  // order (such errors give <= 1 bit) with a margin for other key draws.
  it('bootstrap: a level-0 ciphertext comes back at the top user level with >= 15 bits', async () => {
    const r = await runExample('bootstrap');
    expect(r.code, r.stderr).toBe(0);
    const m = /level 0 -> (\d+), precision ([\d.]+) bits/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(Number(m![1])).toBe(2);
    expect(Number(m![2])).toBeGreaterThanOrEqual(15);
    console.log(`bootstrap: ${r.seconds.toFixed(1)} s, ${m![2]} bits`);
  }, 240_000);

  // mnist_square has depth 5 in the packed layout: 2 bootstraps at N12-BOOT-T's 2 user levels; the
  // bootstraps keep 20 bits of the logits (test/cli.test.ts), so the class is the simulation's
  it('bootstrap-model: a bootstrapped model through Client and Server, the simulation\'s class', async () => {
    const r = await runExample('bootstrap-model');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/depth 5 at 2 user levels: 2 bootstraps \([\d.]+ s, [\d.]+ s\)/);
    const m = /prediction (\d), float64 simulation (\d)/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(m![1]).toBe(m![2]);
    console.log(`bootstrap-model: ${r.seconds.toFixed(1)} s`);
  }, 240_000);
});

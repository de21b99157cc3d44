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
  it('--help, -h and help print the usage to stdout with exit code 0; --version prints the version', () => {
    for (const h of ['--help', '-h', 'help']) {
      const r = run(h);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/veil inspect MODEL\.onnx/);
      expect(r.stdout).toMatch(/--layout: auto \(default\)/);
      expect(r.stderr).toBe('');
    }
    const v = run('--version');
    expect(v.status).toBe(0);
    expect(v.stdout.trim()).toBe(`veil-fhe ${JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version}`);
  });

  it('validates the command line before any work: typed errors with a fix, exit code 1', () => {
    const one = join(tmp, 'valid-one.f32');
    writeFileSync(one, readFileSync(fx('digits64.f32')).subarray(0, 784 * 4));
    const base = ['infer', fx('mnist_relu_bn.onnx'), '--input', one, '--shape', '1,1,28,28', '--out', join(tmp, 'v.json')];
    const cases: [string[], RegExp][] = [
      [['frobnicate', 'x'], /CliError: unknown command 'frobnicate'\. Fix: use veil inspect or veil infer/],
      [[...base, '--threads', '0'], /CliError: --threads 0 is not a thread count\. Fix: give an integer from 1/],
      [[...base, '--layout', 'diagonal'], /CliError: unknown layout 'diagonal'\. Fix: use --layout auto, --layout batch, --layout channel/],
      [['infer', join(tmp, 'missing.onnx'), '--input', one, '--shape', '1,1,28,28', '--out', join(tmp, 'v.json')], /CliError: model file \S+missing\.onnx does not exist .*Fix: check the path/],
      [[...base.slice(0, 3), join(tmp, 'nope.f32'), ...base.slice(4)], /CliError: input file \(--input\) \S+nope\.f32 does not exist/],
      [[...base, '--calibration', join(tmp, 'nope.f32')], /CliError: calibration file \(--calibration\) \S+ does not exist/],
      [[...base.slice(0, -1), join(tmp, 'no-such-dir', 'v.json')], /CliError: the directory of --out .* does not exist\. Fix: create it/],
      [[...base, '--simulate', '--plain'], /--simulate and --plain exclude each other/],
      [[...base, '--json'], /--json is an option of veil inspect, not of veil infer/],
      [[...base, '--frob'], /unknown option --frob/],
    ];
    for (const [args, re] of cases) {
      const t = performance.now();
      const r = run(...args);
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(re);
      expect(r.stderr).not.toMatch(/ENOENT|\n\s+at /); // no bare system error, no stack trace
      expect(r.stderr).not.toMatch(/compiling|generating keys/); // refused before any work
      expect(performance.now() - t).toBeLessThan(5000);
    }
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
    // --layout auto (the default): for one image the channel layout is predicted far cheaper
    const a = run('infer', fx('mnist_square.onnx'), '--input', one, '--shape', '1,1,28,28', '--calibration', calib, '--calibration-shape', '64,1,28,28', '--out', join(tmp, 'enc.json'));
    expect(a.status, a.stderr).toBe(0);
    expect(a.stderr).toMatch(/→ channel: 1 run\(s\) × .* for 1 image\(s\), memory/);
    expect(a.stderr).toMatch(/ {4}batch: 1 run\(s\) × /);
    expect(a.stderr).toMatch(/layout: channel \(fastest predicted that fits in memory/);
    expect(a.stderr).toMatch(/inference on ciphertexts \[.*\]: 100%.* elapsed, done/);
    const b = run('infer', fx('mnist_square.onnx'), '--input', one, '--shape', '1,1,28,28', '--calibration', calib, '--calibration-shape', '64,1,28,28', '--simulate', '--out', join(tmp, 'sim1.json'));
    expect(b.status, b.stderr).toBe(0);
    const enc = JSON.parse(readFileSync(join(tmp, 'enc.json'), 'utf8'));
    const sim = JSON.parse(readFileSync(join(tmp, 'sim1.json'), 'utf8'));
    expect(enc.mode).toBe('encrypted');
    expect(enc.layout).toBe('channel');
    expect(enc.layout_choice.choice).toBe('channel');
    const [ch, ba] = enc.layout_choice.estimates;
    expect(ba.seconds).toBeGreaterThan(ch.seconds);
    expect(enc.predicted_server_s).toBeGreaterThan(0);
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
    bad(['infer', fx('mnist_square.onnx'), '--input', join(tmp, 'missing.f32'), '--shape', '1,1,28,28', '--out', join(tmp, 'x.json')], /input file \(--input\) \S+missing\.f32 does not exist/);
  });
});

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
      expect(r.stdout).toMatch(/\[--layout auto\|batch\|channel\|packed\]/);
      expect(r.stdout).toMatch(/inspect --layout packed: parameters, Galois keys, predicted time per layer/);
      expect(r.stdout).toMatch(/--bootstrap PRESET \(with --layout packed or channel; N16-BOOT, N12-BOOT-T, N11-BOOT-T, N10-BOOT-T; -T presets are small\n\s+insecure test rings\)/);
      expect(r.stdout).not.toMatch(/^import /m);
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
      [[...base, '--layout', 'diagonal'], /CliError: unknown layout 'diagonal'\. Fix: use --layout auto, --layout batch, --layout channel, --layout packed/],
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
    expect(r.stdout).toMatch(/== packed layout: depth 5/); // auto lists every layout
    expect(r.stdout).toMatch(/Galois keys: \d+/);
    expect(r.stdout).toMatch(/memory: fresh ciphertext/);
    expect(r.stdout).toMatch(/predicted error vs the float64 reference: max per-output σ [\d.]+e-\d+, bound [\d.]+e-\d+ \(6σ/); // channel
    const c = run('inspect', fx('mnist_relu_bn.onnx'), '--calibration', fx('digits64.f32'), '--shape', '64,1,28,28', '--layout', 'channel', '--json');
    expect(c.status, c.stderr).toBe(0);
    const ce = JSON.parse(c.stdout).channel.error;
    expect(ce.perOutputSigma).toHaveLength(10);
    expect(ce.slopes).toMatch(/calibration input/);
    expect(ce.maxBound).toBeCloseTo(6 * ce.maxSigma, 12);
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

  it('infer encrypted (automatic layout, one image) equals the simulation', () => {
    const one = join(tmp, 'one.f32');
    writeFileSync(one, readFileSync(fx('digits64.f32')).subarray(0, 784 * 4));
    const calib = fx('digits64.f32');
    // --layout auto (the default): every layout is predicted for one image, the fastest that fits runs
    const a = run('infer', fx('mnist_square.onnx'), '--input', one, '--shape', '1,1,28,28', '--calibration', calib, '--calibration-shape', '64,1,28,28', '--out', join(tmp, 'enc.json'));
    expect(a.status, a.stderr).toBe(0);
    expect(a.stderr).toMatch(/[→ ] channel: 1 run\(s\) × .* for 1 image\(s\), memory/);
    expect(a.stderr).toMatch(/[→ ] batch: 1 run\(s\) × /);
    expect(a.stderr).toMatch(/[→ ] packed: 1 run\(s\) × /);
    expect(a.stderr).toMatch(/layout: (channel|packed) \(fastest predicted that fits in memory/);
    expect(a.stderr).toMatch(/inference on ciphertexts \[.*\]: 100%.* elapsed, done/);
    const b = run('infer', fx('mnist_square.onnx'), '--input', one, '--shape', '1,1,28,28', '--calibration', calib, '--calibration-shape', '64,1,28,28', '--simulate', '--out', join(tmp, 'sim1.json'));
    expect(b.status, b.stderr).toBe(0);
    const enc = JSON.parse(readFileSync(join(tmp, 'enc.json'), 'utf8'));
    const sim = JSON.parse(readFileSync(join(tmp, 'sim1.json'), 'utf8'));
    expect(enc.mode).toBe('encrypted');
    const [ch, ba, pa] = enc.layout_choice.estimates;
    expect([ch.layout, ba.layout, pa.layout]).toEqual(['channel', 'batch', 'packed']);
    expect(ba.seconds).toBeGreaterThan(ch.seconds);
    // one image: batch is never the fastest; the choice is the faster of channel and packed
    expect(enc.layout_choice.choice).toBe(pa.seconds < ch.seconds ? 'packed' : 'channel');
    expect(enc.layout).toBe(enc.layout_choice.choice);
    expect(enc.predicted_server_s).toBeGreaterThan(0);
    expect(enc.predictions).toEqual(sim.predictions);
    // the chosen parameters have Δ ≈ 2^25.5 at N = 2^13: allow 2% of the largest logit
    const big = Math.max(...sim.logits[0].map(Math.abs));
    for (let k = 0; k < 10; k++) expect(Math.abs(enc.logits[0][k] - sim.logits[0][k])).toBeLessThan(0.02 * big);
    expect(enc.timings.server_s).toBeGreaterThan(0);
    expect(enc.params.insecure).toBe(false);
  }, 300_000);

  it('inspect --layout packed: parameters, key set, predicted time per layer, memory, slot use, levels (text and --json)', () => {
    const r = run('inspect', fx('mnist_square.onnx'), '--layout', 'packed');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/== packed layout: depth 5, CKKS N=2\^13/);
    expect(r.stdout).toMatch(/Galois keys: \d+ × [\d.]+ MiB \+ relinearization key = [\d.]+ MiB \(capped at the level each is used at: [\d.]+ MiB\)/);
    expect(r.stdout).toMatch(/predicted server time .* per image \(1 thread\(s\)\), after encoding the diagonals once \(.*, kept across images\); per layer:/);
    expect(r.stdout).toMatch(/Dense \/fc1\/Gemm +level +3 .* slots 1\.6% \(3\.1% with replicas\) +double-hoisted: baby \d+ \+ giant \d+ rotations, diagonals 1549 \(kept over QP\)/);
    expect(r.stdout).toMatch(/memory: keys [\d.]+ MiB \(capped\), ciphertexts at peak [\d.]+ MiB, encoded diagonals [\d.]+ MiB \(kept\), total [\d.]+ MiB/);
    expect(r.stdout).not.toMatch(/== (batch|channel) layout/);
    expect(r.stdout).toMatch(/predicted error vs the float64 simulation: max per-output σ [\d.]+e-\d+, bound [\d.]+e-\d+ \(6σ; slopes over the activations' intervals, which without --calibration come from a zero input: pass --calibration\)/);
    const j = run('inspect', fx('mnist_square.onnx'), '--layout', 'packed', '--json');
    expect(j.status, j.stderr).toBe(0);
    const p = JSON.parse(j.stdout).packed;
    expect(p.params.logN).toBe(13);
    expect(p.keys.galoisKeys).toBe(p.keys.rotations.length);
    expect(p.keys.bytes).toBe((p.keys.galoisKeys + 1) * p.keys.bytesPerKey);
    expect(p.keys.cappedBytes).toBeLessThanOrEqual(p.keys.bytes);
    const layers = p.prediction.layers as { seconds: number; kind: string; slotUse: number; level: number }[];
    expect(layers.map((l) => l.kind)).toEqual(['transform', 'slotwise', 'relabel', 'transform', 'slotwise', 'transform']);
    expect(p.prediction.seconds).toBeCloseTo(layers.reduce((a, l) => a + l.seconds, 0), 9);
    expect(layers[0].level).toBe(5);
    expect(layers[0].slotUse).toBeCloseTo(845 / 4096, 9);
    expect(p.memory.total).toBe(p.memory.keysCapped + p.memory.peakCiphertexts + (p.memory.cached ? p.memory.diagonals : 0));
    expect(p.levels).toEqual({ top: 5, input: 5, output: 0, depth: 5 });
    expect(p.error.perOutputSigma).toHaveLength(10);
    expect(p.error.maxBound).toBeCloseTo(6 * p.error.maxSigma, 12);
    expect(p.error.maxSigma).toBe(Math.max(...p.error.perOutputSigma));
  }, 120_000);

  it('inspect --layout packed|channel --bootstrap: where bootstraps go, how many, their time and key bytes (text and --json)', () => {
    const args = ['inspect', fx('mnist_relu_res.onnx'), '--calibration', fx('digits64.f32'), '--shape', '64,1,28,28', '--layout', 'packed', '--degrees', 'uniform:63', '--bootstrap', 'N16-BOOT'];
    const r = run(...args);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/== packed layout with bootstrapping \(N16-BOOT: N = 2\^16, 32768 slots, 9 user levels, 128-bit\)/);
    expect(r.stdout).toMatch(/depth 51 > 9: 6 bootstrap\(s\)/);
    expect(r.stdout).toMatch(/predicted bootstrapping time 4 min 41 s per image on 1 thread\(s\) \(46\.80 s each, measured/);
    expect(r.stdout).toMatch(/keys added: bootstrapping 53 Galois keys \+ relinearization \+ encapsulation = [\d.]+ MiB in memory/);
    expect(r.stdout).toMatch(/after Add \/layer1\/Add +level +2 → 9 +for Poly \/layer1\/act2\/Relu \(7 levels\) +\|x\| ≤ [\d.]+, s = \d+/);
    const j = run(...args, '--json');
    expect(j.status, j.stderr).toBe(0);
    const b = JSON.parse(j.stdout).packedBootstrap;
    expect(b.depth).toBe(51);
    expect(b.bootstraps).toBe(6);
    expect(b.points).toHaveLength(6);
    expect(b.prediction.seconds).toBeCloseTo(6 * 46.8, 6);
    for (const p of b.points) {
      expect(p.levelAfter).toBe(9);
      expect(p.scale).toBeGreaterThanOrEqual(2 * p.bound);
    }
    expect(b.keys.total).toBe(b.keys.bootstrap.memory + b.keys.network.memory);
    // the channel layout: refreshes pack channels into bootstraps, and unpacking takes a level
    const cj = run(...args.map((x) => (x === 'packed' ? 'channel' : x)), '--json');
    expect(cj.status, cj.stderr).toBe(0);
    const c = JSON.parse(cj.stdout).channelBootstrap;
    expect(c.layout).toBe('channel');
    expect(c.depth).toBeGreaterThan(9);
    expect(c.refreshes).toBe(c.points.length);
    expect(c.bootstraps).toBe(c.points.reduce((a: number, p: { bootstraps: number }) => a + p.bootstraps, 0));
    expect(c.bootstraps).toBeGreaterThanOrEqual(c.refreshes);
    expect(c.prediction.seconds).toBeCloseTo(c.bootstraps * 46.8, 6);
    for (const p of c.points) expect(p.levelAfter).toBe(8);
    // --bootstrap needs the packed or channel layout and a known preset
    const bad = run('inspect', fx('mnist_square.onnx'), '--bootstrap', 'N16-BOOT');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/--bootstrap places bootstraps in the packed or the channel layout\. Fix: add --layout packed/);
    const unknown = run('inspect', fx('mnist_square.onnx'), '--layout', 'packed', '--bootstrap', 'N17');
    expect(unknown.stderr).toMatch(/unknown bootstrapping preset 'N17'\. Fix: use --bootstrap N16-BOOT/);
  }, 120_000);

  it('infer --layout packed runs N images one after another; a one-image shape on a many-image file is refused before any work', () => {
    const two = join(tmp, 'two.f32');
    writeFileSync(two, readFileSync(fx('digits64.f32')).subarray(0, 2 * 784 * 4));
    const calib = ['--calibration', fx('digits64.f32'), '--calibration-shape', '64,1,28,28'];
    const r = run('infer', fx('mnist_square.onnx'), '--input', two, '--shape', '2,1,28,28', ...calib, '--layout', 'packed', '--out', join(tmp, 'packed.json'));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/layout packed, depth 5, predicted memory [\d.]+ MiB, predicted server time .* \(2 run\(s\)\)/);
    expect(r.stderr).toMatch(/inference on ciphertexts \[.*, run 2\/2\]/);
    const s = run('infer', fx('mnist_square.onnx'), '--input', two, '--shape', '2,1,28,28', ...calib, '--simulate', '--out', join(tmp, 'packed-sim.json'));
    expect(s.status, s.stderr).toBe(0);
    const enc = JSON.parse(readFileSync(join(tmp, 'packed.json'), 'utf8'));
    const sim = JSON.parse(readFileSync(join(tmp, 'packed-sim.json'), 'utf8'));
    expect(enc.layout).toBe('packed');
    expect(enc.predictions).toEqual(sim.predictions);
    for (let i = 0; i < 2; i++) {
      const big = Math.max(...sim.logits[i].map(Math.abs));
      for (let k = 0; k < 10; k++) expect(Math.abs(enc.logits[i][k] - sim.logits[i][k])).toBeLessThan(0.02 * big);
    }
    expect(enc.packed.prediction.seconds).toBeGreaterThan(0);
    expect(enc.predicted_server_s).toBeCloseTo(2 * enc.packed.prediction.seconds, 9);
    expect(enc.memory_predicted.total).toBe(enc.packed.memory.total);
    expect(enc.timings.server_setup_s).toBeGreaterThan(0);
    const t = performance.now();
    const bad = run('infer', fx('mnist_relu_bn.onnx'), '--input', fx('digits64.f32'), '--shape', '1,1,28,28', '--layout', 'packed', '--out', join(tmp, 'x.json'));
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/CliError: \S+digits64\.f32 holds 64 input\(s\) of \[1,28,28\], --shape says 1\. Fix: pass --shape 64,1,28,28 \(the channel and packed layouts run the images one after another\)/);
    expect(bad.stderr).not.toMatch(/compiling/);
    expect(performance.now() - t).toBeLessThan(5000);
  }, 300_000);

  it('infer --layout packed --bootstrap runs the bootstraps and reports each one; bad combinations are typed errors', () => {
    const one = join(tmp, 'boot-one.f32');
    writeFileSync(one, readFileSync(fx('digits64.f32')).subarray(0, 784 * 4));
    const calib = ['--calibration', fx('digits64.f32'), '--calibration-shape', '64,1,28,28'];
    // mnist_square has depth 5 in the packed layout; N12-BOOT-T (insecure test ring) leaves 2 user levels
    const r = run('infer', fx('mnist_square.onnx'), '--input', one, '--shape', '1,1,28,28', ...calib, '--layout', 'packed', '--bootstrap', 'N12-BOOT-T', '--out', join(tmp, 'boot.json'));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/2 bootstrap\(s\) at 2 user levels \(depth 5\); predicted bootstrapping time [\d.]+ s per image \(1\.46 s each, measured\)/);
    expect(r.stderr).toMatch(/image 1: 2 bootstrap\(s\), [\d.]+ s, [\d.]+ s/);
    const s = run('infer', fx('mnist_square.onnx'), '--input', one, '--shape', '1,1,28,28', ...calib, '--simulate', '--out', join(tmp, 'boot-sim.json'));
    expect(s.status, s.stderr).toBe(0);
    const enc = JSON.parse(readFileSync(join(tmp, 'boot.json'), 'utf8'));
    const sim = JSON.parse(readFileSync(join(tmp, 'boot-sim.json'), 'utf8'));
    expect(enc.layout).toBe('packed');
    expect(enc.params.insecure).toBe(true);
    expect(enc.predictions).toEqual(sim.predictions);
    const big = Math.max(...sim.logits[0].map(Math.abs));
    let err = 0;
    for (let k = 0; k < 10; k++) err = Math.max(err, Math.abs(enc.logits[0][k] - sim.logits[0][k]));
    expect(Math.log2(big / err)).toBeGreaterThan(12); // 20 bits measured
    const b = enc.bootstrap;
    expect(b.preset).toBe('N12-BOOT-T');
    expect(b.bootstraps).toBe(2);
    expect(b.points.map((p: { levelBefore: number }) => p.levelBefore)).toEqual([0, 0]);
    expect(b.measured.count).toBe(2);
    expect(b.measured.secondsEach).toHaveLength(2);
    expect(b.measured.secondsEach.every((x: number) => x > 0)).toBe(true);
    expect(enc.timings.bootstrap_s).toEqual([b.measured.secondsEach]);
    expect(enc.memory_predicted.keys).toBe(b.keys.total);
    expect(enc.predicted_server_s).toBeUndefined();
    // bad combinations: refused before any work
    const base = ['infer', fx('mnist_square.onnx'), '--input', one, '--shape', '1,1,28,28', '--out', join(tmp, 'x.json')];
    const cases: [string[], RegExp][] = [
      [[...base, '--bootstrap', 'N12-BOOT-T'], /CliError: --bootstrap places bootstraps in the packed or the channel layout\. Fix: add --layout packed/],
      [[...base, '--layout', 'batch', '--bootstrap', 'N12-BOOT-T'], /--bootstrap places bootstraps in the packed or the channel layout/],
      [[...base, '--layout', 'packed', '--bootstrap', 'N17'], /unknown bootstrapping preset 'N17'\. Fix: use --bootstrap N16-BOOT/],
      [[...base, '--layout', 'packed', '--bootstrap', 'N12-BOOT-T', '--simulate'], /--bootstrap runs encrypted inference; --simulate does not encrypt/],
      [[...base, '--layout', 'packed', '--bootstrap', 'N12-BOOT-T', '--plain'], /--plain does not encrypt/],
    ];
    for (const [args, re] of cases) {
      const q = run(...args);
      expect(q.status, args.join(' ')).toBe(1);
      expect(q.stderr).toMatch(re);
      expect(q.stderr).not.toMatch(/compiling/);
    }
    // the channel layout keeps a level for unpacking: N12-BOOT-T's 2 user levels cannot hold this network there
    const ch = run(...base, ...calib, '--layout', 'channel', '--bootstrap', 'N12-BOOT-T');
    expect(ch.status).toBe(1);
    expect(ch.stderr).toMatch(/BootstrapPlacementError: .*the channel layout keeps 1 of the 2 user levels for unpacking\)\. Fix: .*or the packed layout/);
  }, 120_000);

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

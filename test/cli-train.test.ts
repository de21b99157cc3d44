/**
 * `veil train`: a run on a tiny synthetic set writes a model that `veil inspect` and `veil infer`
 * read exactly (plain = simulated predictions, depth of one level per quadratic), a JSON report
 * and a progress bar on stderr; bad command lines are typed errors with a fix, exit code 1.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeOnnx } from '../src/nn/index.js';
import { Network, fit } from '../src/train/index.js';
import { smallNet, syntheticSet } from './train-helpers.js';

const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'dist/src/cli/veil.js');
const tmp = mkdtempSync(join(tmpdir(), 'veil-train-'));
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: root });
const built = existsSync(cli);
const f = (n: string) => join(tmp, n);

describe.runIf(built)('veil train', () => {
  beforeAll(async () => {
    const d = syntheticSet(448, 21);
    const net = new Network(smallNet());
    await fit(net, d, { epochs: 5, batchSize: 32, lr: 0.01, seed: 3 });
    writeFileSync(f('relu.onnx'), writeOnnx(net.toGraph()));
    writeFileSync(f('x.f32'), new Uint8Array(d.x.buffer));
    writeFileSync(f('y.u8'), d.labels);
    writeFileSync(f('x16.f32'), new Uint8Array(d.x.buffer, 0, 16 * 64 * 4));
  });

  it('trains, writes the model and a report; inspect and infer read it exactly', () => {
    const r = run('train', f('relu.onnx'), '--data', f('x.f32'), '--labels', f('y.u8'), '--recipe', 'paper', '--epochs', '3', '--validation', '64',
      '--out', f('poly.onnx'), '--report', f('report.json'));
    expect(r.stderr).toMatch(/\[veil\] paper: epoch 3\/3 .* loss [\d.]+ acc [\d.]+% val [\d.]+% .* left/);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/poly\.onnx: paper, degree 2; validation [\d.]+ % \(ReLU model [\d.]+ %\)/);
    const rep = JSON.parse(readFileSync(f('report.json'), 'utf8'));
    expect(rep.recipe).toBe('paper');
    expect(rep.history).toHaveLength(3);
    expect(Math.abs(rep.written_validation - rep.validation)).toBeLessThanOrEqual(1 / 64 + 1e-12);
    const ins = run('inspect', f('poly.onnx'), '--layout', 'batch', '--json');
    expect(ins.status).toBe(0);
    const rep2 = JSON.parse(ins.stdout);
    expect(JSON.stringify(rep2)).toMatch(/"depth":5/);
    const plain = run('infer', f('poly.onnx'), '--input', f('x16.f32'), '--shape', '16,1,8,8', '--plain', '--out', f('plain.json'));
    const sim = run('infer', f('poly.onnx'), '--input', f('x16.f32'), '--shape', '16,1,8,8', '--simulate', '--layout', 'batch', '--out', f('sim.json'));
    expect(plain.status).toBe(0);
    expect(sim.status).toBe(0);
    const a = JSON.parse(readFileSync(f('plain.json'), 'utf8'));
    const b = JSON.parse(readFileSync(f('sim.json'), 'utf8'));
    expect(b.predictions).toEqual(a.predictions);
  });

  it('bad command lines: typed errors with a fix, exit code 1', () => {
    const base = ['train', f('relu.onnx'), '--data', f('x.f32'), '--labels', f('y.u8')];
    const cases: [string[], RegExp][] = [
      [base, /needs --recipe/],
      [[...base, '--recipe', 'relu'], /--recipe relu is not a recipe\. Fix: use --recipe paper, smartpaf or beaa/],
      [[...base, '--recipe', 'paper', '--form', 'f1'], /--form applies to --recipe smartpaf only/],
      [[...base, '--recipe', 'smartpaf', '--form', 'f9'], /--form f9 is not a SmartPAF form/],
      [[...base, '--recipe', 'paper', '--validation', '448'], /leaves no training data/],
      [['train', f('relu.onnx'), '--data', f('x.f32'), '--labels', f('x16.f32'), '--recipe', 'paper'], /labels for 448 images/],
      [['train', f('relu.onnx'), '--data', f('missing.f32'), '--labels', f('y.u8'), '--recipe', 'paper'], /does not exist/],
      [[...base, '--recipe', 'beaa', '--degree', '3'], /BEAA trains quadratics/],
      [[...base, '--recipe', 'beaa', '--clip', 'auto'], /--clip applies to --recipe paper only/],
      [[...base, '--recipe', 'paper', '--clip', '-1'], /--clip -1 is neither a positive number nor auto/],
      [[...base, '--recipe', 'paper', '--clip', 'auto:0'], /--clip auto:0 is neither/],
      [[...base, '--recipe', 'smartpaf', '--zeta', '0.1'], /--zeta applies to --recipe paper only/],
      [[...base, '--recipe', 'beaa', '--static-epochs', '1'], /--static-epochs applies to --recipe smartpaf only/],
      [[...base, '--recipe', 'paper', '--lr', '0'], /--lr 0 is not a learning rate/],
      [[...base, '--recipe', 'paper', '--step-epochs', '1'], /--step-epochs applies to --recipe smartpaf and beaa/],
    ];
    for (const [args, msg] of cases) {
      const r = run(...args);
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).toMatch(/Fix: /);
    }
    expect(run('train', '--help').stdout).toMatch(/--recipe paper {5}quadratic per layer/);
  });
});

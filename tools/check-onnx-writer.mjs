// Writes models with Veil's ONNX writer and checks that other runtimes run them:
//   node tools/check-onnx-writer.mjs [OUT_DIR] [extra.onnx ...]
// For each model it writes OUT_DIR/<name>.onnx and OUT_DIR/<name>.json (8 inputs and Veil's float64
// logits of the re-imported model), runs the file in onnxruntime (float32) and compares, then runs
// tools/check_onnx.py (onnx.checker + a PyTorch float64 interpreter) on the directory.
// Needs `npm run build`, and onnxruntime-node installed outside the repository:
//   npm install --no-save --ignore-scripts --prefix /tmp/ort onnxruntime-node@1.30.0
// (--ignore-scripts: its install script fetches optional GPU binaries; the CPU one ships in the package).
// Not part of npm test.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { compileModel, importOnnx, runReference, writeOnnx } from '../dist/src/nn/index.js';

const out = process.argv[2] ?? '/tmp/veil-onnx-check';
const extra = process.argv.slice(3);
mkdirSync(out, { recursive: true });
const ortPath = process.env.VEIL_ORT ?? '/tmp/ort/node_modules/onnxruntime-node';
const ort = createRequire(import.meta.url)(ortPath);
const fx = (f) => new Uint8Array(readFileSync(new URL(`../fixtures/${f}`, import.meta.url)));

function digits(n, offset = 0) {
  const u8 = fx('mnist_test_2000.u8').subarray(offset * 784, (offset + n) * 784);
  return { shape: [n, 1, 28, 28], data: Float64Array.from(u8, (v) => Math.fround(v / 255)) };
}

/** A copy of g whose activations are quadratics with coefficients per layer, channel or element. */
function withQuadratics(g, grain, seed) {
  let s = seed;
  const rnd = (lo, hi) => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return Math.fround(lo + ((hi - lo) * s) / 2147483648);
  };
  return {
    ...g,
    nodes: g.nodes.map((n) => {
      if (n.op !== 'Relu') return n;
      const shape = grain === 'layer' ? n.outShape.map(() => 1) : grain === 'channel' ? n.outShape.map((d, i) => (i === 0 ? d : 1)) : [...n.outShape];
      const per = shape.reduce((a, b) => a * b, 1);
      const cs = [[0.15, 0.25], [0.45, 0.55], [0.1, 0.3]].map(([lo, hi]) => Float64Array.from({ length: per }, () => rnd(lo, hi)));
      const data = new Float64Array(3 * per);
      cs.forEach((c, k) => data.set(c, k * per));
      const poly = {
        ...n, op: 'Poly', replaces: 'Polynomial', mapScale: new Float64Array(n.outShape[0]).fill(1), mapShift: new Float64Array(n.outShape[0]),
        mapFolded: false, basis: 'power', interval: [-1, 1],
      };
      if (per === 1) poly.coeffs = Float64Array.from(cs, (c) => c[0]);
      else {
        poly.coeffs = new Float64Array(3).fill(NaN);
        poly.coeffTensor = { shape: [3, ...shape], data };
      }
      return poly;
    }),
  };
}

const models = [];
for (const f of ['mnist_square', 'mnist_relu_bn', 'mnist_relu_bnfolded', 'mnist_gelu_res']) models.push([f, importOnnx(fx(`${f}.onnx`))]);
const relu = importOnnx(fx('mnist_relu_bn.onnx'));
for (const grain of ['layer', 'channel', 'element']) models.push([`relu_bn_quadratic_${grain}`, withQuadratics(relu, grain, 7)]);
models.push(['relu_bn_compiled_deg5', compileModel(relu, digits(100), { degrees: { kind: 'uniform', degree: 5 } }).graph]);
for (const f of extra) models.push([basename(f).replace(/\.onnx$/, ''), importOnnx(new Uint8Array(readFileSync(f)))]);

let ok = true;
const x = digits(8, 700);
for (const [name, g] of models) {
  const bytes = writeOnnx(g, { docString: `check-onnx-writer: ${name}` });
  const back = importOnnx(bytes);
  const veil = runReference(back, x).data;
  writeFileSync(join(out, `${name}.onnx`), bytes);
  writeFileSync(join(out, `${name}.json`), JSON.stringify({ shape: x.shape, input: Array.from(x.data), logits: Array.from(veil) }));
  const sess = await ort.InferenceSession.create(bytes);
  const res = await sess.run({ [sess.inputNames[0]]: new ort.Tensor('float32', Float32Array.from(x.data), x.shape) });
  const y = res[sess.outputNames[0]].data;
  let scale = 0;
  let err = 0;
  for (let i = 0; i < veil.length; i++) {
    scale = Math.max(scale, Math.abs(veil[i]));
    err = Math.max(err, Math.abs(veil[i] - y[i]));
  }
  const rel = err / (1 + scale);
  const good = rel < 1e-4 && y.length === veil.length;
  ok &&= good;
  console.log(`${good ? 'ok  ' : 'FAIL'} ${name}: onnxruntime float32 vs Veil max rel diff ${rel.toExponential(2)} (${bytes.length} bytes)`);
}
const py = spawnSync('/usr/bin/python3', [new URL('./check_onnx.py', import.meta.url).pathname, out], { stdio: 'inherit' });
if (py.status !== 0) ok = false;
process.exit(ok ? 0 : 1);

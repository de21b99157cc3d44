/**
 * Encrypted polynomial evaluation benchmark (issue: polynomial activations): Chebyshev series of
 * degree 3, 7, 15, 31, 63 on [−1, 1], the f1²∘g1² composite sign and its ReLU, at logN 14
 * (preset N14-L10, Δ ≈ 2^30), one thread.
 *
 *   npm run bench:poly [-- --json] [--logN=14] [--budget=MS]
 * JSON lines: {"kind":"time","op":"poly_eval","degree":…,"depth":…,"ct_mults":…,"median_us":…}
 */
import os from 'node:os';
import { type Ciphertext, CkksContext, Decryptor, Encoder, Encryptor, Evaluator, KeyGenerator, PRESETS, precisionStats } from '../src/index.js';
import {
  CkksPolyBackend, clenshaw, compositeDepth, compositeRelu, compositeSign, cost, evalChebyshev, evalComposite, evalCompositeRelu,
  polyDepth, smartpafForm,
} from '../src/approx/index.js';
import { args, fmtUs, measure } from './measure.js';

const A = args();
const JSON_MODE = A.flag('json');
const LOGN = Number(A.opt('logN', '14'));
const BUDGET = Number(A.opt('budget', '3000'));
const out = (s = '') => { if (!JSON_MODE) process.stdout.write(s + '\n'); };
const emit = (o: Record<string, unknown>) => { if (JSON_MODE) process.stdout.write(JSON.stringify(o) + '\n'); };

const lit = LOGN === 14 ? PRESETS['N14-L10'] : LOGN === 13 ? { logN: 13, levels: 6, insecure: true } : PRESETS['N15-L24'];
const ctx = new CkksContext(lit);
const P = ctx.params;
const enc = new Encoder(ctx);
const kg = new KeyGenerator(ctx);
const sk = kg.genSecretKey();
const ev = new Evaluator(ctx, { relin: kg.genRelinKey(sk) });
const encr = new Encryptor(ctx, kg.genPublicKey(sk));
const dec = new Decryptor(ctx, sk);
const x = Float64Array.from({ length: P.slots }, () => Math.random() * 2 - 1);
const ct = encr.encrypt(enc.encode(x));

emit({ kind: 'meta', impl: 'veil-fhe', suite: 'poly', node: process.version, cpu: os.cpus()[0]?.model, date: new Date().toISOString(), params: P.describe() });
out(`# encrypted polynomial evaluation, ${P.toString()}`);
out(`${'case'.padEnd(22)}${'depth'.padStart(6)}${'ct×ct'.padStart(7)}${'median'.padStart(12)}${'min'.padStart(12)}${'bits'.padStart(7)}`);

const cases: { name: string; degree: number | string; depth: number; ctMults: number; run: () => { out: Ciphertext; b: CkksPolyBackend }; want: (t: number) => number }[] = [];
for (const d of [3, 7, 15, 31, 63]) {
  const c = Float64Array.from({ length: d + 1 }, (_, i) => (i % 2 ? 1 : -1) / (i + 1));
  cases.push({
    name: `chebyshev d=${d}`, degree: d, depth: polyDepth(d), ctMults: cost(d).ctMults,
    run: () => { const b = new CkksPolyBackend(ev, enc, ct); return { out: evalChebyshev(b, ct, c), b }; },
    want: (t) => clenshaw(c, t),
  });
}
const f1g1 = smartpafForm('f1^2∘g1^2', 1);
cases.push({
  name: 'f1²∘g1² sign', degree: 'f1^2∘g1^2', depth: compositeDepth(f1g1), ctMults: -1,
  run: () => { const b = new CkksPolyBackend(ev, enc, ct); return { out: evalComposite(b, ct, f1g1), b }; },
  want: (t) => compositeSign(f1g1, t),
});
cases.push({
  name: 'f1²∘g1² ReLU', degree: 'relu(f1^2∘g1^2)', depth: compositeDepth(f1g1) + 1, ctMults: -1,
  run: () => { const b = new CkksPolyBackend(ev, enc, ct); return { out: evalCompositeRelu(b, ct, f1g1), b }; },
  want: (t) => compositeRelu(f1g1, t),
});

for (const c of cases) {
  const probe = c.run();
  const depth = ct.level - probe.out.level;
  const mults = probe.b.ctMults;
  const st = precisionStats(x.map(c.want), enc.decode(dec.decrypt(probe.out)));
  const r = measure(LOGN, { fn: () => { c.run(); } }, BUDGET);
  emit({
    kind: 'time', op: 'poly_eval', logN: LOGN, degree: c.degree, depth, ct_mults: mults, median_us: +r.median_us.toFixed(1),
    min_us: +r.min_us.toFixed(1), samples: r.samples, mean_err_bits: +st.meanBits.toFixed(2), other_load: r.other_load, impl: 'veil-fhe', threads: 1,
  });
  out(`${c.name.padEnd(22)}${String(depth).padStart(6)}${String(mults).padStart(7)}${fmtUs(r.median_us).padStart(12)}${fmtUs(r.min_us).padStart(12)}${st.meanBits.toFixed(1).padStart(7)}`);
}

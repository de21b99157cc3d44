/**
 * Engine benchmark: the node-seal peer's ops at its three parameter shapes (logN 13, 14, 15 with
 * 2, 7, 16 levels), here at Veil's neural-network grade (one 30-bit limb per level, Δ ≈ 2^30).
 *
 *   npm run bench                      human-readable table
 *   npm run bench -- --json            JSON lines on stdout (progress on stderr)
 *   options: --logN=13,14,15  --op=relin,rotate_1  --budget=MS (per op, default 2500)
 *            --levels=two      two-limb levels (Δ ≈ 2^58) instead of one (precision mode)
 *            --threads=N       N > 1: evaluator and key generator use a WorkerPool of N threads
 *            --heap=CALLS      heap growth over CALLS mul_relin_rescale calls (default 1000, two-limb 0 = skip)
 * Bootstrapping (only when asked: it needs several GB at N = 2^16 and minutes per run):
 *   npm run bench -- --op=bootstrap [--bootstrap=N16-BOOT] [--log-slots=S] [--arcsine=D] [--runs=3] [--threads=N] [--json]
 * (`--log-slots` below logN − 1: sparse slots, 2^S complex slots with SubSum before CoeffsToSlots;
 * `--arcsine=3`: the inverse-sine correction, two more levels in the chain)
 * one warm-up bootstrap, then `runs` timed ones (tinybench): the `bootstrap` row has the median,
 * the stage times of the median run, the precision (mean bits against the input's decryption, and
 * both the input and the output against the encoded values),
 * the key bytes (seeded on the wire, in memory) and the DFT plaintexts' bytes.
 * Extra rows: `ntt` (forward NTT of one limb, ns per butterfly) and `ntt_plain` (the same radix-4
 * loop with additions only: the limit of a plain JS loop over this access pattern); `add_plain`
 * (the residues of `add` summed without the modular reduction, unrolled as `addVec`: not an add,
 * the floor any element-wise add over int32 residues pays in a plain JS loop on this machine).
 */
import os from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  CkksContext, Decryptor, Encoder, Encryptor, Evaluator, KeyGenerator, Parameters, PRESETS, type PresetName, WorkerPool, type Ciphertext, type Plaintext,
  precisionStats,
} from '../src/index.js';
import { Bootstrapper, bootstrapKeyBytes, bootstrapPreset, genBootstrapKeys } from '../src/bootstrap/index.js';
import { Bench, hrtimeNow } from 'tinybench';
import { nttForward, nttPlainLoop } from '../src/ring/ntt.js';
import { args, fmtUs, measure, type Spec } from './measure.js';

const A = args();
const JSON_MODE = A.flag('json');
const LOGNS = A.opt('logN', '13,14,15').split(',').map(Number);
const OPS = A.opt('op', '').split(',').filter(Boolean);
const BUDGET = Number(A.opt('budget', '2500'));
const TWO_LIMB = A.opt('levels', 'one') === 'two';
const THREADS = Number(A.opt('threads', '1'));
const HEAP_CALLS = Number(A.opt('heap', TWO_LIMB ? '0' : '1000'));

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const out = (s = '') => {
  if (!JSON_MODE) process.stdout.write(s + '\n');
};
const progress = (s: string) => process.stderr.write(s + '\n');
const emit = (o: Record<string, unknown>) => {
  if (JSON_MODE) process.stdout.write(JSON.stringify(o) + '\n');
};

/**
 * Veil's parameters for the peer's shape at logN (depth 2, 7, 16). Two-limb mode (the peer's
 * precision): Δ ≈ 2^58 per two-limb level over a 60-bit base; 128-bit secure only at logN 13
 * (logQP is reported): with primes below 2^30, 2N | p − 1 leaves too few primes near 2^20 for
 * 40-bit levels at N = 2^15, and 60-bit levels exceed the budget at depth 7 and 16.
 */
function benchParameters(logN: number, twoLimb = false): Parameters {
  const depth: Record<number, number> = { 13: 2, 14: 7, 15: 16 };
  if (!(logN in depth)) throw new Error(`no bench shape for logN=${logN} (use 13, 14, 15)`);
  if (!twoLimb) return new Parameters(PRESETS[`N${logN}-D${depth[logN]}` as PresetName]);
  const shape: Record<number, { specialLimbs: number; digitLimbs: number }> = {
    13: { specialLimbs: 1, digitLimbs: 1 }, 14: { specialLimbs: 4, digitLimbs: 4 }, 15: { specialLimbs: 6, digitLimbs: 6 },
  };
  const lit = { logN, levels: depth[logN], limbsPerLevel: 2 as const, baseLimbs: 2, ...shape[logN] };
  const secure = new Parameters({ ...lit, insecure: true }).logQP <= (logN === 13 ? 218 : logN === 14 ? 438 : 881);
  return new Parameters({ ...lit, insecure: !secure });
}

const randomReals = (n: number) => Float64Array.from({ length: n }, () => Math.random() * 2 - 1);

// `bootstrap` runs only when asked for (--op=bootstrap)
const ALL_OPS = [
  'keygen_sk_pk', 'keygen_relin', 'keygen_galois_1', 'encode', 'decode', 'encrypt_pk', 'decrypt', 'add', 'mul_plain',
  'mul', 'relin', 'rescale', 'rotate_1', 'mul_relin_rescale', 'ntt', 'ntt_plain', 'add_plain',
];

/**
 * out[i] = a[i] + b[i] (wrapping, no reduction) on [s, e), unrolled by 16 like `addVec`: the
 * bench's floor for an element-wise add over the same residues (two loads, one add, one store).
 */
function addPlainLoop(a: Int32Array, b: Int32Array, out: Int32Array, s: number, e: number): void {
  let i = s;
  for (const e16 = e - 15; i < e16; i += 16) {
    out[i] = (a[i] + b[i]) | 0;
    out[i + 1] = (a[i + 1] + b[i + 1]) | 0;
    out[i + 2] = (a[i + 2] + b[i + 2]) | 0;
    out[i + 3] = (a[i + 3] + b[i + 3]) | 0;
    out[i + 4] = (a[i + 4] + b[i + 4]) | 0;
    out[i + 5] = (a[i + 5] + b[i + 5]) | 0;
    out[i + 6] = (a[i + 6] + b[i + 6]) | 0;
    out[i + 7] = (a[i + 7] + b[i + 7]) | 0;
    out[i + 8] = (a[i + 8] + b[i + 8]) | 0;
    out[i + 9] = (a[i + 9] + b[i + 9]) | 0;
    out[i + 10] = (a[i + 10] + b[i + 10]) | 0;
    out[i + 11] = (a[i + 11] + b[i + 11]) | 0;
    out[i + 12] = (a[i + 12] + b[i + 12]) | 0;
    out[i + 13] = (a[i + 13] + b[i + 13]) | 0;
    out[i + 14] = (a[i + 14] + b[i + 14]) | 0;
    out[i + 15] = (a[i + 15] + b[i + 15]) | 0;
  }
  for (; i < e; i++) out[i] = (a[i] + b[i]) | 0;
}

emit({
  kind: 'meta', impl: 'veil-fhe', node: process.version, v8: process.versions.v8, cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length, date: new Date().toISOString(), budget_ms: BUDGET, levels: TWO_LIMB ? 'two-limb' : 'one-limb', threads: THREADS,
});
out(`# Veil CKKS engine benchmark (pure TypeScript, ${THREADS === 1 ? 'one thread' : `${THREADS} threads`})`);
out(`node ${process.version}, ${os.cpus()[0]?.model} x${os.cpus().length}, ${new Date().toISOString()}, budget ${BUDGET} ms/op`);

const summary: { op: string; logN: number; median_us: number; min_us: number }[] = [];
const tStart = performance.now();
const ONLY_BOOTSTRAP = OPS.length > 0 && OPS.every((o) => o === 'bootstrap');
for (const logN of ONLY_BOOTSTRAP ? [] : LOGNS) {
  const P = benchParameters(logN, TWO_LIMB);
  const ctx = new CkksContext(P);
  const pool = THREADS > 1 ? await WorkerPool.create(ctx, { threads: THREADS }) : undefined;
  const enc = new Encoder(ctx);
  const kg = new KeyGenerator(ctx, undefined, { pool });
  const sk = kg.genSecretKey();
  const pk = kg.genPublicKey(sk);
  const rk = kg.genRelinKey(sk);
  const gk = kg.genGaloisKeys(sk, [1]);
  const encr = new Encryptor(ctx, pk);
  const dec = new Decryptor(ctx, sk);
  const ev = new Evaluator(ctx, { relin: rk, galois: gk }, { pool });
  const slots = P.slots;
  const v1 = randomReals(slots);
  const v2 = randomReals(slots);
  const pt1 = enc.encode(v1);
  const pt2 = enc.encode(v2, { scale: P.levelModulus(P.levels) });
  const ct1 = encr.encrypt(pt1);
  const ct2 = encr.encrypt(enc.encode(v2));
  const ct3 = ev.mul(ct1, ct2);
  const ctRelin = ev.relinearize(ct3);
  const tmp = ev.mul(ct1, ct2); // reused destination (capacity for degree 2)
  const nttBuf = ctx.ringQ.newPoly(1);
  for (let i = 0; i < ctx.N; i++) nttBuf.coeffs[i] = (i * 7919) % P.q[0];
  const meta = {
    limbs: P.q.length, special_limbs: P.p.length, dnum: P.dnum, logQP: +P.logQP.toFixed(1),
    log_scale: +Math.log2(P.defaultScale).toFixed(2), secure128: !P.insecure, threads: THREADS,
  };
  out('');
  out(`== logN=${logN}: ${P.toString()}`);
  progress(`[veil] logN=${logN}: timing...`);
  let keep: unknown = null;
  const ptOut = enc.encode(v1);
  const specs: Record<string, () => Spec> = {
    keygen_sk_pk: () => ({ fn: () => { keep = kg.genPublicKey(kg.genSecretKey()); } }),
    keygen_relin: () => ({ fn: () => { keep = kg.genRelinKey(sk); } }),
    keygen_galois_1: () => ({ fn: () => { keep = kg.genGaloisKeys(sk, [1]); } }),
    // like the peer's bench: encode, encrypt and decrypt write into a reused destination
    encode: () => ({ fn: () => { enc.encodeInto(v1, ptOut); } }),
    decode: () => ({ fn: () => { keep = enc.decode(pt1); } }),
    encrypt_pk: () => ({ fn: () => { encr.encrypt(pt1, tmp); } }),
    decrypt: () => ({ fn: () => { dec.decrypt(ct1, ptOut); } }),
    add: () => ({ fn: () => { ev.add(ct1, ct2, tmp); } }),
    mul_plain: () => ({ fn: () => { ev.mulPlain(ct1, pt2 as Plaintext, tmp); } }),
    mul: () => ({ fn: () => { ev.mul(ct1, ct2, tmp); } }),
    relin: () => ({ fn: () => { ev.relinearize(ct3, tmp); } }),
    rescale: () => ({ fn: () => { ev.rescale(ctRelin, tmp); } }),
    rotate_1: () => ({ fn: () => { ev.rotate(ct1, 1, tmp); } }),
    mul_relin_rescale: () => ({ fn: () => { ev.mulRelinRescale(ct1, ct2, tmp); } }),
    ntt: () => ({ fn: () => nttForward(nttBuf.coeffs, 0, ctx.ringQ.tables[0]) }),
    ntt_plain: () => ({ fn: () => nttPlainLoop(nttBuf.coeffs, 0, ctx.N) }),
    add_plain: () => {
      // one range per limb, as `add` runs (same call count); into the reused destination
      const n = ct1.limbs;
      const dst = tmp;
      return {
        fn: () => {
          for (let k = 0; k < 2; k++) {
            const a = ct1.polys[k].coeffs;
            const b = ct2.polys[k].coeffs;
            const o = dst.polys[k].coeffs;
            for (let i = 0; i < n; i++) addPlainLoop(a, b, o, i * ctx.N, (i + 1) * ctx.N);
          }
        },
      };
    },
  };
  out(`${'op'.padEnd(22)}${'median_us'.padStart(12)}${'min_us'.padStart(12)}${'samples'.padStart(9)}${'other%'.padStart(8)}`);
  for (const op of ALL_OPS) {
    if (OPS.length && !OPS.includes(op)) continue;
    const r = measure(logN, specs[op](), BUDGET);
    const row: Record<string, unknown> = {
      kind: 'time', op, logN, median_us: +r.median_us.toFixed(2), min_us: +r.min_us.toFixed(2), mad_us: +r.mad_us.toFixed(2),
      samples: r.samples, other_load: r.other_load == null ? null : +r.other_load.toFixed(3), ...meta, impl: 'veil-fhe',
    };
    if (op === 'ntt' || op === 'ntt_plain') row.ns_per_butterfly = +((r.median_us * 1000) / ((ctx.N / 2) * logN)).toFixed(3);
    if (op === 'add' || op === 'add_plain') {
      const residues = 2 * ct1.limbs * ctx.N;
      row.residues = residues;
      row.ns_per_residue = +((r.median_us * 1000) / residues).toFixed(3);
    }
    emit(row);
    summary.push({ op, logN, median_us: r.median_us, min_us: r.min_us });
    const oth = r.other_load == null ? '-' : (100 * r.other_load).toFixed(0);
    out(`${op.padEnd(22)}${fmtUs(r.median_us).padStart(12)}${fmtUs(r.min_us).padStart(12)}${String(r.samples).padStart(9)}${oth.padStart(8)}` +
      (op.startsWith('ntt') ? `   (${row.ns_per_butterfly} ns/butterfly)` : '') + (op === 'add_plain' ? '   (no reduction: the loop floor of add)' : ''));
    if (op === 'ntt_plain') for (let i = 0; i < ctx.N; i++) nttBuf.coeffs[i] = (i * 7919) % P.q[0];
  }
  void keep;

  if (HEAP_CALLS > 0 && (!OPS.length || OPS.includes('heap'))) {
    // heap growth over many mul_relin_rescale calls into a reused destination (after full GCs)
    const warm = logN <= 13 ? 300 : logN === 14 ? 100 : 40; // past JIT tier-up (its code and feedback are heap too)
    for (let i = 0; i < warm; i++) ev.mulRelinRescale(ct1, ct2, tmp);
    gc();
    gc();
    const h0 = process.memoryUsage();
    for (let i = 0; i < HEAP_CALLS; i++) ev.mulRelinRescale(ct1, ct2, tmp);
    gc();
    gc();
    const h1 = process.memoryUsage();
    const row = {
      kind: 'heap', op: 'mul_relin_rescale', logN, calls: HEAP_CALLS, heap_growth_bytes: h1.heapUsed - h0.heapUsed,
      external_growth_bytes: h1.external - h0.external, array_buffers_growth_bytes: h1.arrayBuffers - h0.arrayBuffers, ...meta, impl: 'veil-fhe',
    };
    emit(row);
    out(`heap growth over ${HEAP_CALLS} mul_relin_rescale: heap ${row.heap_growth_bytes} B, external ${row.external_growth_bytes} B, array buffers ${row.array_buffers_growth_bytes} B`);
  }

  if (!OPS.length || OPS.some((o) => o.startsWith('precision'))) {
    progress(`[veil] logN=${logN}: precision...`);
    const trials = logN >= 15 ? 3 : 5;
    const run = (pipe: (a: Float64Array, b: Float64Array) => { ct: Ciphertext; want: (i: number) => number }) => {
      let worst = 0;
      let sumMean = 0;
      for (let t = 0; t < trials; t++) {
        const a = randomReals(slots);
        const b = randomReals(slots);
        const { ct, want } = pipe(a, b);
        const got = enc.decode(dec.decrypt(ct));
        let max = 0;
        let sum = 0;
        for (let i = 0; i < slots; i++) {
          const e = Math.abs(got[i] - want(i));
          if (e > max) max = e;
          sum += e;
        }
        worst = Math.max(worst, max);
        sumMean += sum / slots;
      }
      const mean = sumMean / trials;
      return { trials, max_abs_err: worst, mean_abs_err: mean, max_err_bits: +(-Math.log2(worst)).toFixed(2), mean_err_bits: +(-Math.log2(mean)).toFixed(2) };
    };
    const pipe = run((a, b) => {
      const c = ev.rotate(ev.mulRelinRescale(encr.encrypt(enc.encode(a)), encr.encrypt(enc.encode(b))), 1);
      return { ct: c, want: (i) => a[(i + 1) % slots] * b[(i + 1) % slots] };
    });
    const fresh = run((a) => ({ ct: encr.encrypt(enc.encode(a)), want: (i) => a[i] }));
    emit({ kind: 'precision', op: 'precision_mul_relin_rescale_rot1', logN, ...pipe, ...meta, impl: 'veil-fhe' });
    emit({ kind: 'precision', op: 'precision_encrypt_decrypt', logN, ...fresh, ...meta, impl: 'veil-fhe' });
    out(`precision: mul→relin→rescale→rot1 mean ${pipe.mean_err_bits} bits, worst ${pipe.max_err_bits} bits; fresh mean ${fresh.mean_err_bits} bits`);
  }
  emit({
    kind: 'size', logN, ciphertext_bytes: ct1.byteLength, relin_key_bytes: rk.key.byteLength, galois_key_bytes: gk.byteLength, ...meta, impl: 'veil-fhe',
  });
  await pool?.close();
}
if (OPS.includes('bootstrap')) await benchBootstrap();
out('');
out(`total ${((performance.now() - tStart) / 1000).toFixed(1)} s`);

/** The `bootstrap` row (see the module documentation). */
async function benchBootstrap(): Promise<void> {
  const name = A.opt('bootstrap', 'N16-BOOT');
  const runs = Number(A.opt('runs', '3'));
  const logSlots = A.opt('log-slots', '');
  const arcsine = A.opt('arcsine', '');
  const bp = bootstrapPreset(name, {
    ...(logSlots === '' ? {} : { logSlots: Number(logSlots) }),
    ...(arcsine === '' ? {} : { evalMod: { arcsineDegree: Number(arcsine) } }),
  });
  const P = bp.params;
  const ctx = new CkksContext(P);
  const pool = THREADS > 1 ? await WorkerPool.create(ctx, { threads: THREADS }) : undefined;
  out('');
  out(`== bootstrap ${name}: ${P.toString()}`);
  progress(`[veil] bootstrap ${name}: keys...`);
  let t0 = performance.now();
  const kg = new KeyGenerator(ctx, undefined, { pool });
  const sk = kg.genSecretKey();
  const keys = genBootstrapKeys(kg, sk, bp);
  const keygenMs = performance.now() - t0;
  const enc = new Encoder(ctx);
  const ev = new Evaluator(ctx, keys, { pool });
  progress(`[veil] bootstrap ${name}: encoding the DFT factors...`);
  t0 = performance.now();
  const boot = new Bootstrapper(ctx, bp, ev, enc, keys);
  const setupMs = performance.now() - t0;
  const encr = new Encryptor(ctx, kg.genPublicKey(sk));
  const dec = new Decryptor(ctx, sk);
  const n = bp.slots;
  const msg = () => ({ re: randomReals(n), im: randomReals(n) });
  const values = Array.from({ length: runs + 1 }, msg);
  const inputs = values.map((v) => encr.encrypt(enc.encode(v, { level: 0, fill: 'repeat' })));
  const outs: [Ciphertext, Ciphertext][] = [];
  const stages: Record<string, number>[] = [];
  progress(`[veil] bootstrap ${name}: warm-up and ${runs} timed runs...`);
  outs.push([inputs[0], boot.bootstrap(inputs[0])]);
  let i = 1;
  const bench = new Bench({ now: hrtimeNow, time: 0, iterations: runs, warmup: false, throws: true });
  const cpuMs: number[] = []; // CPU time of this process (all threads): a load-independent figure beside the wall time
  bench.add('bootstrap', () => {
    const x = inputs[i++ % inputs.length];
    const c0 = process.cpuUsage();
    outs.push([x, boot.bootstrap(x)]);
    const c = process.cpuUsage(c0);
    cpuMs.push((c.user + c.system) / 1000);
    stages.push({ ...boot.lastTimings });
  });
  bench.runSync();
  const lat = (bench.tasks[0].result as unknown as { latency: { p50: number; min: number; samplesCount: number } }).latency;
  // precision of every run against its input's decryption (complex slots)
  const bits = outs.map(([x, o]) => {
    const a = enc.decodeComplex(dec.decrypt(x));
    const b = enc.decodeComplex(dec.decrypt(o));
    return Math.min(precisionStats(a.re, b.re, n).meanBits, precisionStats(a.im, b.im, n).meanBits);
  });
  // and against the encoded values: with sparse slots SubSum averages away part of the input's own
  // encryption noise, so the output can be closer to the values than decrypt(input) is
  const bitsVs = (v: { re: Float64Array; im: Float64Array }, ct: Ciphertext): number => {
    const d = enc.decodeComplex(dec.decrypt(ct));
    return Math.min(precisionStats(v.re, d.re, n).meanBits, precisionStats(v.im, d.im, n).meanBits);
  };
  const inputBits = outs.map(([x]) => bitsVs(values[inputs.indexOf(x)], x));
  const outputBits = outs.map(([x, o]) => bitsVs(values[inputs.indexOf(x)], o));
  const mean = (a: number[]) => +(a.reduce((u, w) => u + w, 0) / a.length).toFixed(2);
  const totals = stages.map((s) => s.total);
  const mid = totals.indexOf([...totals].sort((a, b) => a - b)[totals.length >> 1]);
  const kb = bootstrapKeyBytes(ctx, keys.galois.keys.size);
  const pts = boot.plaintextFootprint;
  const row = {
    kind: 'time', op: 'bootstrap', preset: name, logN: P.logN, slots: n, threads: THREADS,
    median_ms: +lat.p50.toFixed(0), min_ms: +lat.min.toFixed(0), runs: lat.samplesCount,
    cpu_median_ms: +[...cpuMs].sort((a, b) => a - b)[cpuMs.length >> 1].toFixed(0), load1: +os.loadavg()[0].toFixed(2),
    stages_ms: Object.fromEntries(Object.entries(stages[mid]).map(([k, v]) => [k, +v.toFixed(0)])),
    mean_bits: +(bits.reduce((a, b) => a + b, 0) / bits.length).toFixed(2), min_run_bits: +Math.min(...bits).toFixed(2),
    input_bits_vs_values: mean(inputBits), output_bits_vs_values: mean(outputBits),
    levels_for_user: bp.userLevels, output_log_scale: +Math.log2(bp.outputScale).toFixed(2), failure_log2: +bp.failureLog2.toFixed(1),
    galois_keys: kb.galoisKeys, key_bytes_seeded: kb.wire.total, key_bytes_memory: kb.memory,
    plaintexts: pts.count, plaintext_bytes: pts.bytes, keygen_ms: +keygenMs.toFixed(0), setup_ms: +setupMs.toFixed(0),
    logQP: +P.logQP.toFixed(1), secure128: !P.insecure, rss_bytes: process.memoryUsage().rss, impl: 'veil-fhe',
  };
  emit(row);
  out(`bootstrap: median ${(row.median_ms / 1000).toFixed(2)} s (min ${(row.min_ms / 1000).toFixed(2)} s, ${row.runs} runs, ${THREADS} thread(s)), ` +
    `precision ${row.mean_bits} bits mean, ${bp.userLevels} levels left`);
  out(`  stages (median run, ms): ${JSON.stringify(row.stages_ms)}`);
  out(`  keys: ${kb.galoisKeys} Galois keys, ${(kb.wire.total / 2 ** 30).toFixed(2)} GiB seeded, ${(kb.memory / 2 ** 30).toFixed(2)} GiB in memory; ` +
    `DFT plaintexts ${pts.count}, ${(pts.bytes / 2 ** 30).toFixed(2)} GiB; keygen ${(keygenMs / 1000).toFixed(1)} s, setup ${(setupMs / 1000).toFixed(1)} s`);
  await pool?.close();
}

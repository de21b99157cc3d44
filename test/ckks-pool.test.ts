/**
 * Worker pool: with 2 threads, relinearization, rotations (single and hoisted), rescaling,
 * mulRelinRescale and key generation give bit-for-bit the 1-thread results; a custom task module
 * runs on 2 workers; the pool closes cleanly; the platform backend is chosen as documented (the
 * browser backend itself runs in test/browser.test.ts).
 *
 * Workers cannot load TypeScript, so the engine sources are transpiled (typescript.transpileModule,
 * no type check) into a temporary directory and the pool is pointed at that copy (`workerUrl`).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Ciphertext, CkksContext, Decryptor, Encoder, Encryptor, Evaluator, KeyGenerator, LinearTransform, WorkerPool, precisionStats,
} from '../src/index.js';
import type { DoubleHoistedSpec } from '../src/ckks/index.js';
import { ChaCha20 } from '../src/ring/prng.js';
import { primesBelow } from '../src/ring/primes.js';
import { randomVector } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'veil-pool-'));
function transpileEngine(): void {
  // the engine, and the leaf modules it imports from src/ (errors.ts, fixes.ts)
  for (const sub of ['ring', 'ckks', join('ckks', 'pool'), join('ckks', 'keyswitch'), join('ckks', 'linear'), join('ckks', 'serialize'), '']) {
    const src = join(__dirname, '..', 'src', sub);
    mkdirSync(join(dir, 'src', sub), { recursive: true });
    for (const f of readdirSync(src).filter((x) => x.endsWith('.ts') && (sub !== '' || x === 'errors.ts' || x === 'fixes.ts'))) {
      const out = ts.transpileModule(readFileSync(join(src, f), 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      }).outputText;
      writeFileSync(join(dir, 'src', sub, f.replace(/\.ts$/, '.js')), out);
    }
  }
  // the package's private import of the Node-only backend, as in package.json
  const imports = { '#pool-node': { node: './src/ckks/pool/node.js', default: './src/ckks/pool/node-absent.js' } };
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module', imports }));
  // a task module: sums ciphertexts given as shared descriptors, and doubles one with the pool's keys
  writeFileSync(join(dir, 'tasks.js'), `
import { registerTask } from './src/ckks/pool/protocol.js';
registerTask('sum', (env, descs) => {
  let acc = env.fromShared(descs[0]);
  for (let i = 1; i < descs.length; i++) acc = env.evaluator.add(acc, env.fromShared(descs[i]));
  return env.toShared(acc);
});
registerTask('square', (env, d) => env.toShared(env.evaluator.mulRelinRescale(env.fromShared(d), env.fromShared(d))));
registerTask('whoami', (env) => env.worker);
`);
}

const lit = { logN: 11, levels: 3, insecure: true, specialLimbs: 2, digitLimbs: 2 } as const;
const ctx = new CkksContext(lit);
const N = ctx.N;
let pool: WorkerPool;

beforeAll(async () => {
  transpileEngine();
  pool = await WorkerPool.create(ctx, {
    threads: 2,
    workerUrl: pathToFileURL(join(dir, 'src', 'ckks', 'pool', 'worker.js')),
    modules: [pathToFileURL(join(dir, 'tasks.js')).href],
  });
}, 60_000);

afterAll(async () => {
  await pool?.close();
  rmSync(dir, { recursive: true, force: true });
});

const same = (a: Ciphertext, b: Ciphertext) => {
  expect(b.level).toBe(a.level);
  expect(b.scale).toBe(a.scale);
  expect(b.polys.length).toBe(a.polys.length);
  a.polys.forEach((p, i) => {
    expect(b.polys[i].limbs).toBe(p.limbs);
    expect(Array.from(b.polys[i].coeffs.subarray(0, p.limbs * N))).toEqual(Array.from(p.coeffs.subarray(0, p.limbs * N)));
  });
};

describe('worker pool (2 threads) = 1 thread, bit for bit', () => {
  const seed = new Uint8Array(32).fill(42);

  it('key generation with a supplied RandomSource gives identical keys', () => {
    const kg1 = new KeyGenerator(ctx, new ChaCha20(seed));
    const kg2 = new KeyGenerator(ctx, new ChaCha20(seed), { pool });
    const sk1 = kg1.genSecretKey();
    const sk2 = kg2.genSecretKey();
    expect(Array.from(sk2.sQ.coeffs)).toEqual(Array.from(sk1.sQ.coeffs));
    expect(Array.from(sk2.sP.coeffs)).toEqual(Array.from(sk1.sP.coeffs));
    const pk1 = kg1.genPublicKey(sk1);
    const pk2 = kg2.genPublicKey(sk2);
    for (const k of ['bQ', 'bP', 'aQ', 'aP'] as const) expect(Array.from(pk2[k].coeffs)).toEqual(Array.from(pk1[k].coeffs));
    const r1 = kg1.genRelinKey(sk1).key.packed();
    const r2 = kg2.genRelinKey(sk2).key.packed();
    expect(Array.from(r2.b)).toEqual(Array.from(r1.b));
    expect(Array.from(r2.a)).toEqual(Array.from(r1.a));
    const g1 = kg1.genGaloisKeys(sk1, [1, 5], { conjugate: true });
    const g2 = kg2.genGaloisKeys(sk2, [1, 5], { conjugate: true });
    for (const g of g1.elements()) expect(Array.from(g2.keys.get(g)!.packed().b)).toEqual(Array.from(g1.keys.get(g)!.packed().b));
  });

  it('relinearize, rotate, conjugate, rotateHoisted, rescale, mulRelinRescale', () => {
    const kg = new KeyGenerator(ctx);
    const sk = kg.genSecretKey();
    const keys = { relin: kg.genRelinKey(sk), galois: kg.genGaloisKeys(sk, [1, 3, -2], { conjugate: true }) };
    const enc = new Encoder(ctx);
    const encr = new Encryptor(ctx, kg.genPublicKey(sk));
    const e1 = new Evaluator(ctx, keys);
    const e2 = new Evaluator(ctx, keys, { pool });
    const a = encr.encrypt(enc.encode(randomVector(ctx.params.slots, 1)));
    const b = encr.encrypt(enc.encode(randomVector(ctx.params.slots, 2)));
    const c3 = e1.mul(a, b);
    same(e1.relinearize(c3), e2.relinearize(c3));
    same(e1.rotate(a, 1), e2.rotate(a, 1));
    same(e1.rotate(a, -2), e2.rotate(a, -2));
    same(e1.conjugate(a), e2.conjugate(a));
    const h1 = e1.rotateHoisted(a, [1, 3, 0, -2]);
    const h2 = e2.rotateHoisted(a, [1, 3, 0, -2]);
    h1.forEach((c, i) => same(c, h2[i]));
    const r = e1.relinearize(c3);
    same(e1.rescale(r), e2.rescale(r));
    same(e1.rescale(c3), e2.rescale(c3)); // degree 2
    same(e1.mulRelinRescale(a, b), e2.mulRelinRescale(a, b));
    // in place, twice in a row (scratch reuse)
    const x1 = e1.mulRelinRescale(a, b);
    const x2 = e2.mulRelinRescale(a, b);
    e1.rotate(x1, 1, x1);
    e2.rotate(x2, 1, x2);
    e1.rescaleInPlace(e1.mul(x1, x1, x1));
    e2.rescaleInPlace(e2.mul(x2, x2, x2));
    same(x1, x2);
  });

  it('double-hoisted linear transforms (values, cached over QP, several accumulator chunks)', () => {
    const kg = new KeyGenerator(ctx);
    const sk = kg.genSecretKey();
    const slots = ctx.params.slots;
    const diags = new Map<number, Float64Array>();
    for (const k of [0, 1, 3, 8, 11, 64, 65, 200, 513, slots - 1]) diags.set(k, randomVector(slots, 300 + k));
    const level = ctx.params.levels;
    const scale = ctx.params.scales[level];
    const probe = new LinearTransform(ctx, new Encoder(ctx), diags, { level, scale, hoisting: 'double' });
    const keys = { galois: kg.genGaloisKeys(sk, probe.rotations) };
    const enc = new Encoder(ctx);
    const encr = new Encryptor(ctx, kg.genPublicKey(sk));
    const e1 = new Evaluator(ctx, keys);
    const e2 = new Evaluator(ctx, keys, { pool });
    const a = encr.encrypt(enc.encode(randomVector(slots, 3)));
    const lt = new LinearTransform(ctx, enc, diags, { level, scale, hoisting: 'double', cache: true });
    const want = lt.evaluate(e1, a); // encodes in the run
    same(want, new LinearTransform(ctx, enc, diags, { level, scale, hoisting: 'double' }).evaluate(e2, a));
    same(want, lt.evaluate(e2, a)); // cached over QP
    // one giant-step accumulator at a time (the input re-decomposed per chunk)
    const spec = (lt as unknown as { doubleHoistedSpec(): DoubleHoistedSpec }).doubleHoistedSpec();
    same(want, e2.evaluateDoubleHoisted(a, { ...spec, chunk: 1 }, enc));
    same(want, e1.evaluateDoubleHoisted(a, { ...spec, chunk: 2 }, enc));
  });

  it('on a mixed chain (levels of one and two limbs): rescale, mulRelinRescale, rotate', async () => {
    const primes = primesBelow(30, 1 << 10, 11);
    const mctx = new CkksContext({
      logN: 10, levels: 4, levelLimbs: [1, 2, 1, 2], baseLimbs: 2, q: primes.slice(0, 8), p: primes.slice(8), defaultScale: 2 ** 45, insecure: true,
    });
    const mpool = await WorkerPool.create(mctx, { threads: 2, workerUrl: pathToFileURL(join(dir, 'src', 'ckks', 'pool', 'worker.js')) });
    try {
      const kg = new KeyGenerator(mctx);
      const sk = kg.genSecretKey();
      const keys = { relin: kg.genRelinKey(sk), galois: kg.genGaloisKeys(sk, [1]) };
      const enc = new Encoder(mctx);
      const encr = new Encryptor(mctx, kg.genPublicKey(sk));
      const e1 = new Evaluator(mctx, keys);
      const e2 = new Evaluator(mctx, keys, { pool: mpool });
      for (const level of [4, 3]) {
        const a = encr.encrypt(enc.encode(randomVector(mctx.params.slots, level), { level, scale: 2 ** 40 }));
        const b = encr.encrypt(enc.encode(randomVector(mctx.params.slots, 9), { level, scale: 2 ** 40 }));
        same(e1.mulRelinRescale(a, b), e2.mulRelinRescale(a, b));
        same(e1.rescale(e1.mul(a, b)), e2.rescale(e2.mul(a, b)));
        same(e1.rotate(a, 1), e2.rotate(a, 1));
      }
    } finally {
      await mpool.close();
    }
  });
});

describe('coarse tasks', () => {
  it('a custom task module sums ciphertexts on 2 workers (shared descriptors, no copies)', async () => {
    const kg = new KeyGenerator(ctx);
    const sk = kg.genSecretKey();
    const relin = kg.genRelinKey(sk);
    await pool.setKeys({ relin });
    const enc = new Encoder(ctx);
    const encr = new Encryptor(ctx, kg.genPublicKey(sk));
    const dec = new Decryptor(ctx, sk);
    const n = ctx.params.slots;
    const vs = [0, 1, 2, 3].map((i) => randomVector(n, 10 + i, -0.5, 0.5));
    const cts = vs.map((v) => encr.encrypt(enc.encode(v)));
    const [s01, s23] = await pool.runAll([
      { name: 'sum', payload: [pool.toShared(cts[0]), pool.toShared(cts[1])] },
      { name: 'sum', payload: [pool.toShared(cts[2]), pool.toShared(cts[3])] },
    ]);
    const total = await pool.run('sum', [s01, s23]);
    const got = enc.decode(dec.decrypt(pool.fromShared(total as never)));
    const want = vs[0].map((_, i) => vs[0][i] + vs[1][i] + vs[2][i] + vs[3][i]);
    expect(precisionStats(want, got).meanBits).toBeGreaterThan(10);
    const sq = pool.fromShared(await pool.run('square', pool.toShared(cts[0])));
    expect(precisionStats(vs[0].map((x) => x * x), enc.decode(dec.decrypt(sq))).meanBits).toBeGreaterThan(8);
    const who = await pool.runAll(Array.from({ length: 4 }, () => ({ name: 'whoami' })));
    expect(new Set(who).size).toBe(2);
    await expect(pool.run('nope')).rejects.toThrow(/unknown task/);
  });
});

describe('platform backends', () => {
  it('uses worker_threads under Node; elsewhere it needs Web Workers and cross-origin isolation', async () => {
    const { selectBackend, threadCanBlock, WorkerPoolUnavailableError } = await import('../src/ckks/pool/backend.js');
    expect((await selectBackend()).canBlock).toBe(true);
    expect(threadCanBlock()).toBe(true);
    // as a browser page would see it: no `process`; first without Worker, then without isolation
    const g = globalThis as Record<string, unknown>;
    const saved = Object.getOwnPropertyDescriptor(globalThis, 'process')!;
    const savedWorker = Object.getOwnPropertyDescriptor(globalThis, 'Worker');
    const tries: Promise<unknown>[] = [];
    Object.defineProperty(globalThis, 'process', { value: undefined, configurable: true, writable: true });
    try {
      tries.push(selectBackend()); // the checks run before the first await
      g.Worker = class {};
      tries.push(selectBackend());
    } finally {
      delete g.Worker;
      if (savedWorker) Object.defineProperty(globalThis, 'Worker', savedWorker);
      Object.defineProperty(globalThis, 'process', saved);
    }
    await expect(tries[0]).rejects.toThrow(/neither Node worker_threads nor Web Workers/);
    await expect(tries[1]).rejects.toBeInstanceOf(WorkerPoolUnavailableError);
    await expect(tries[1]).rejects.toThrow(/Cross-Origin-Opener-Policy: same-origin.*Cross-Origin-Embedder-Policy: require-corp/);
  });
});

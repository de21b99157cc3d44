/**
 * The built package as a user's tools see it (needs `npm run build`):
 *  - CommonJS: a child Node process `require`s `veil-fhe` and `veil-fhe/nn` by the package name
 *    (a temporary node_modules symlink to this checkout) and runs a CKKS round trip;
 *  - bundlers: esbuild bundles the package entry for the browser with no flags (the Node-only worker
 *    backend is behind the `#pool-node` import condition) and, for Node, keeps worker_threads;
 *  - the shipped browser bundle (dist/browser/veil.js + pool-worker.js) has no `node:` import and
 *    computes correctly when loaded as a plain ES module (here by Node; in a browser by the web
 *    demo's test, test/web-demo.test.ts).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';

/** An import of a Node built-in, static or dynamic, in bundled code (excerpt, or null). */
const nodeImport = (js: string) => /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)["']node:[^"']*["']/.exec(js)?.[0] ?? null;

const root = new URL('..', import.meta.url).pathname;
const built = existsSync(join(root, 'dist/src/index.js')) && existsSync(join(root, 'dist/browser/veil.js'));
if (!built && process.env.CI === 'true') throw new Error('dist/ is not built: run npm run build');
const tmp = mkdtempSync(join(tmpdir(), 'veil-pkg-'));
mkdirSync(join(tmp, 'node_modules'));
symlinkSync(root, join(tmp, 'node_modules', 'veil-fhe'), 'dir');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.runIf(built)('the built package', () => {
  it('loads with require() from CommonJS by its package name and computes', () => {
    const script = `
const veil = require('veil-fhe');
const nn = require('veil-fhe/nn');
const { CkksContext, Encoder, KeyGenerator, Encryptor, Decryptor } = veil;
const ctx = new CkksContext({ logN: 11, levels: 1, insecure: true });
const enc = new Encoder(ctx), kg = new KeyGenerator(ctx), sk = kg.genSecretKey();
const x = Float64Array.from({ length: ctx.params.slots }, (_, i) => Math.sin(i));
const y = enc.decode(new Decryptor(ctx, sk).decrypt(new Encryptor(ctx, kg.genPublicKey(sk)).encrypt(enc.encode(x))));
let err = 0; for (let i = 0; i < x.length; i++) err = Math.max(err, Math.abs(x[i] - y[i]));
console.log(JSON.stringify({ err, model: typeof veil.Model, importOnnx: typeof nn.importOnnx }));`;
    writeFileSync(join(tmp, 'use.cjs'), script);
    const r = spawnSync(process.execPath, [join(tmp, 'use.cjs')], { cwd: tmp, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim()) as { err: number; model: string; importOnnx: string };
    expect(out.model).toBe('function');
    expect(out.importOnnx).toBe('function');
    // fresh encryption at Δ ≈ 2^30 is accurate to far better than 2^-10
    expect(out.err).toBeLessThan(2 ** -10);
  });

  it('bundles for the browser with esbuild and no flags; for Node it keeps worker_threads', async () => {
    writeFileSync(join(tmp, 'entry.js'), "export * from 'veil-fhe';\nexport * as nn from 'veil-fhe/nn';\nexport * as approx from 'veil-fhe/approx';\n");
    const web = await build({ entryPoints: [join(tmp, 'entry.js')], bundle: true, platform: 'browser', format: 'esm', write: false, logLevel: 'silent' });
    expect(web.errors).toEqual([]);
    const webText = web.outputFiles[0].text;
    expect(nodeImport(webText)).toBeNull();
    expect(webText.includes('this build of Veil was bundled for browsers')).toBe(true);
    const node = await build({ entryPoints: [join(tmp, 'entry.js')], bundle: true, platform: 'node', format: 'esm', write: false, logLevel: 'silent' });
    expect(node.errors).toEqual([]);
    expect(nodeImport(node.outputFiles[0].text)).toMatch(/node:worker_threads/);
  });

  it('ships a browser bundle with no node: imports that runs as a plain ES module', async () => {
    for (const f of ['veil.js', 'pool-worker.js']) {
      const text = readFileSync(join(root, 'dist/browser', f), 'utf8');
      expect(nodeImport(text)).toBeNull();
    }
    const veil = (await import(pathToFileURL(join(root, 'dist/browser/veil.js')).href)) as typeof import('../src/index.js');
    const ctx = new veil.CkksContext({ logN: 11, levels: 2, insecure: true });
    const enc = new veil.Encoder(ctx);
    const kg = new veil.KeyGenerator(ctx);
    const sk = kg.genSecretKey();
    const ev = new veil.Evaluator(ctx, { relin: kg.genRelinKey(sk) });
    const e = new veil.Encryptor(ctx, kg.genPublicKey(sk));
    const n = ctx.params.slots;
    const a = Float64Array.from({ length: n }, (_, i) => Math.sin(i));
    const b = Float64Array.from({ length: n }, (_, i) => Math.cos(3 * i));
    const got = enc.decode(new veil.Decryptor(ctx, sk).decrypt(ev.mulRelinRescale(e.encrypt(enc.encode(a)), e.encrypt(enc.encode(b)))));
    // reference: the float64 product
    let err = 0;
    for (let i = 0; i < n; i++) err = Math.max(err, Math.abs(a[i] * b[i] - got[i]));
    expect(err).toBeLessThan(2 ** -10);
    // the worker pool from a browser bundle under Node refuses with a typed error naming the fix
    await expect(veil.WorkerPool.create(ctx, { threads: 2 })).rejects.toMatchObject({ name: 'WorkerPoolUnavailableError', fix: expect.stringMatching(/import the package itself/) });
  });
});

/**
 * What a user sees of the engine's objects and types: `util.inspect` / `console.log` give one short
 * line per object (never residues, tables or secret coefficients), and the published declaration
 * files (dist/, built with stripInternal) contain no `@internal` symbol.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CkksContext, Encoder, Encryptor, Evaluator, KeyGenerator } from '../src/index.js';

describe('util.inspect forms', () => {
  const ctx = new CkksContext({ logN: 11, levels: 2, insecure: true });
  const kg = new KeyGenerator(ctx);
  const sk = kg.genSecretKey();
  const pk = kg.genPublicKey(sk);
  const relin = kg.genRelinKey(sk);
  const galois = kg.genGaloisKeys(sk, [1, 2]);
  const ev = new Evaluator(ctx, { relin, galois });
  const enc = new Encoder(ctx);
  const pt = enc.encode(new Float64Array(4).fill(0.5));
  const ct = new Encryptor(ctx, pk).encrypt(pt);
  const scale = `2^${Math.log2(ctx.params.defaultScale).toFixed(1)}`;
  const h = ctx.params.hash;

  it('gives one short line per object', () => {
    expect(inspect(ct)).toBe(`Ciphertext { level: 2, scale: ${scale}, degree: 1, N: 2048 }`);
    expect(inspect(ev.mul(ct, ct))).toMatch(/^Ciphertext \{ level: 2, scale: 2\^\d+\.\d, degree: 2, N: 2048 \}$/);
    expect(inspect(pt)).toBe(`Plaintext { level: 2, scale: ${scale}, N: 2048 }`);
    expect(inspect(sk)).toBe(`SecretKey { N: 2048, params: ${h} }`);
    expect(inspect(pk)).toBe(`PublicKey { N: 2048, params: ${h} }`);
    expect(inspect(relin)).toBe(`RelinKey { N: 2048, params: ${h} }`);
    expect(inspect(galois)).toBe(`GaloisKeys { keys: 2, N: 2048, params: ${h} }`);
    expect(inspect(ctx)).toBe(`CkksContext { N: 2048, levels: 2, params: ${h} }`);
    expect(inspect(ctx.params)).toBe(`Parameters { N: 2^11, levels: 2, scale: ${scale}, logQP: ${ctx.params.logQP.toFixed(1)}, insecure: true, hash: ${h} }`);
    expect(inspect(ev)).toBe('Evaluator { N: 2048, relin: true, galoisKeys: 2, pool: false }');
    // nested in other values too (console.log of an object holding a ciphertext)
    expect(inspect({ ct })).toBe(`{ ct: Ciphertext { level: 2, scale: ${scale}, degree: 1, N: 2048 } }`);
  });
});

describe('published declarations', () => {
  const dist = new URL('../dist/src/', import.meta.url).pathname;
  const dts: string[] = [];
  const walk = (d: string) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (f.endsWith('.d.ts')) dts.push(p);
    }
  };
  try {
    walk(dist);
  } catch {
    /* not built */
  }

  it.runIf(dts.length > 0)('contain no @internal symbol (stripInternal)', () => {
    const sources = readdirSync(new URL('../src/ckks/', import.meta.url).pathname).filter((f) => f.endsWith('.ts')).map((f) => readFileSync(new URL(`../src/ckks/${f}`, import.meta.url), 'utf8'));
    // the sources do mark internals, so this checks the build strips them
    expect(sources.some((s) => s.includes('@internal'))).toBe(true);
    const leaks = dts.filter((f) => readFileSync(f, 'utf8').includes('@internal'));
    expect(leaks).toEqual([]);
  });
});

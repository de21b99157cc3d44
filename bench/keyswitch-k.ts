/**
 * The number of special limbs K of a deep chain at N = 2^16 (hybrid key switching, Han–Ki eprint
 * 2019/688 §3: dnum = ⌈ℓ/α⌉ digits, α = K): key bytes 2·dnum·(ℓ + K)·N·4 and the time of one
 * rotation and of one extra hoisted rotation (inner product + ModDown), at a few levels, for each K.
 * This is the measurement behind the packed layout's K in `src/nn/plan/params.ts`.
 *
 *   node dist/bench/keyswitch-k.js [--json] [--levels=39] [--ks=6,10,15] [--at=38,19,5]
 * JSON lines: {"kind":"keyswitch-k","K":…,"dnum":…,"level":…,"limbs":…,"key_mb":…,"rotate_ms":…,
 *   "hoisted_extra_ms":…,"other_load":…}
 */
import os from 'node:os';
import { CkksContext, Encoder, Encryptor, Evaluator, KeyGenerator, Parameters } from '../src/index.js';
import { args, cpuSnap, otherLoad } from './measure.js';

const A = args();
const levels = Number(A.opt('levels', '39'));
const Ks = A.opt('ks', '6,10,15').split(',').map(Number);
const at = A.opt('at', '38,19,5').split(',').map(Number);
const json = A.flag('json');
const reps = Number(A.opt('reps', '3'));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

for (const K of Ks) {
  const P = new Parameters({ logN: 16, levels, specialLimbs: K });
  const ctx = new CkksContext(P);
  const kg = new KeyGenerator(ctx);
  const sk = kg.genSecretKey();
  const enc = new Encoder(ctx);
  const encr = new Encryptor(ctx, sk);
  for (const level of at) {
    const galois = kg.genGaloisKeys(sk, [1, 2, 3, 4, 5, 6, 7, 8], { maxLevel: level });
    const ev = new Evaluator(ctx, { galois });
    const ct = encr.encrypt(enc.encode(new Float64Array(P.slots).fill(0.5), { level, scale: P.scales[level] }));
    ev.rotate(ct, 1); // warm-up
    const s0 = cpuSnap();
    const one: number[] = [];
    const hoist: number[] = [];
    for (let r = 0; r < reps; r++) {
      let t = performance.now();
      ev.rotate(ct, 1);
      one.push(performance.now() - t);
      t = performance.now();
      ev.rotateHoisted(ct, [1, 2, 3, 4, 5, 6, 7, 8]);
      hoist.push(performance.now() - t);
    }
    const key = galois.keys.get(ctx.galoisElement(1))!;
    const rot = median(one);
    const row = {
      kind: 'keyswitch-k', logN: 16, K, alpha: P.digitLimbs, dnum: key.dnum, level, limbs: P.limbsAt(level),
      logQP: Math.round(P.logQP), key_mb: +(key.byteLength / 2 ** 20).toFixed(1), rotate_ms: +rot.toFixed(1),
      hoisted_extra_ms: +((median(hoist) - rot) / 7).toFixed(1), other_load: otherLoad(s0, cpuSnap()), loadavg: os.loadavg()[0],
    };
    if (json) console.log(JSON.stringify(row));
    else console.log(`K=${K} dnum=${row.dnum} level=${level} (${row.limbs} limbs): key ${row.key_mb} MB, rotate ${row.rotate_ms} ms, +${row.hoisted_extra_ms} ms per hoisted rotation`);
  }
}

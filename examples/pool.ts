/**
 * Both cores: the CKKS engine on a worker pool. Keys are generated and a multiply → relinearize →
 * rescale → rotate is evaluated on two threads (this one and one `worker_threads` worker over
 * SharedArrayBuffers), and the result is compared, byte for byte, with one thread's.
 *
 *   npm run example:pool          (node dist/examples/pool.js)
 *
 * Everything from the first import on is the README's worker-pool snippet, unchanged.
 */
import { CkksContext, Decryptor, Encoder, Encryptor, Evaluator, KeyGenerator, WorkerPool, preset, serializeCiphertext } from 'veil-fhe';

const ctx = new CkksContext(preset('N14-L10'));
const pool = await WorkerPool.create(ctx.params, { threads: 2 });   // this thread + one worker
const kg = new KeyGenerator(ctx, undefined, { pool });               // key generation split by digits
const sk = kg.genSecretKey();
const keys = { relin: kg.genRelinKey(sk), galois: kg.genGaloisKeys(sk, [1]) };
const one = new Evaluator(ctx, keys);                                // one thread
const two = new Evaluator(ctx, keys, { pool });                      // relin, rotate, rescale split by limbs

const enc = new Encoder(ctx);
const encryptor = new Encryptor(ctx, sk);
const a = encryptor.encrypt(enc.encode([0.5, -0.25, 0.125]));
const b = encryptor.encrypt(enc.encode([2, 4, 8]));
const run = (ev: Evaluator) => {                                     // median of 5 timed runs
  const ms: number[] = [];
  let c = ev.rotate(ev.mulRelinRescale(a, b), 1);
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    c = ev.rotate(ev.mulRelinRescale(a, b), 1);
    ms.push(performance.now() - t);
  }
  return { c, bytes: serializeCiphertext(c), ms: ms.sort((x, y) => x - y)[2] };
};
const r1 = run(one);
const r2 = run(two);
console.log(`mulRelinRescale + rotate: 1 thread ${r1.ms.toFixed(1)} ms, 2 threads ${r2.ms.toFixed(1)} ms`);
console.log(`same ciphertext bytes: ${Buffer.compare(r1.bytes, r2.bytes) === 0}`);
console.log(enc.decode(new Decryptor(ctx, sk).decrypt(r2.c)).slice(0, 3).join(', '));   // ≈ -1, 1, 0
await pool.close();

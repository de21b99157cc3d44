/**
 * CKKS in fifteen lines: a context from a preset, keys, two encrypted vectors, a multiplication
 * with relinearization and rescaling, a rotation, decryption.
 *
 *   npm run example:ckks          (node dist/examples/quickstart-ckks.js)
 *
 * Everything from the first import on is the README's "Fifteen lines of CKKS" snippet, unchanged.
 * The decrypted values are approximate (CKKS): at Δ = 2^30 and N = 2^14 a slot's error is about
 * 2^-16 (2^-13.6 the worst of 96 measured).
 */
import { CkksContext, Decryptor, Encoder, Encryptor, Evaluator, KeyGenerator, preset } from 'veil-fhe';

const ctx = new CkksContext(preset('N14-L10'));          // N = 2^14, 10 levels, 128-bit secure
const enc = new Encoder(ctx);
const kg = new KeyGenerator(ctx);
const sk = kg.genSecretKey();
const ev = new Evaluator(ctx, { relin: kg.genRelinKey(sk), galois: kg.genGaloisKeys(sk, [1]) });
const encryptor = new Encryptor(ctx, kg.genPublicKey(sk));

const a = encryptor.encrypt(enc.encode([0.5, -0.25, 0.125]));
const b = encryptor.encrypt(enc.encode([2, 4, 8]));
const c = ev.rotate(ev.mulRelinRescale(a, b), 1);        // (a·b) rotated left by one slot
const out = enc.decode(new Decryptor(ctx, sk).decrypt(c));
console.log(out.slice(0, 3).join(', '));                 // ≈ -1, 1, 0

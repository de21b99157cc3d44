/**
 * Bootstrapping: a ciphertext at the last level is refreshed to the top user level, so a network
 * deeper than the modulus chain can go on. This example runs the small test set `N12-BOOT-T`
 * (N = 2^12, NOT secure, a few seconds); the 128-bit set is `N16-BOOT` (N = 2^16, 9 user levels,
 * about 45 s and several GB of keys per process; see docs/bootstrapping.md).
 *
 *   npm run example:bootstrap     (node dist/examples/bootstrap.js)
 *
 * Everything from the first import on is the README's bootstrapping snippet, unchanged.
 */
import { CkksContext, Decryptor, Encoder, Encryptor, Evaluator, KeyGenerator, precisionStats } from 'veil-fhe';
import { Bootstrapper, bootstrapPreset, genBootstrapKeys } from 'veil-fhe/bootstrap';

const bp = bootstrapPreset('N12-BOOT-T');                 // use 'N16-BOOT' for 128-bit security
const ctx = new CkksContext(bp.params);
const enc = new Encoder(ctx);
const kg = new KeyGenerator(ctx);
const sk = kg.genSecretKey();
const keys = genBootstrapKeys(kg, sk, bp);                // relinearization, DFT rotations, encapsulation
const ev = new Evaluator(ctx, keys);
const boot = new Bootstrapper(ctx, bp, ev, enc, keys);

const x = Array.from({ length: bp.slots }, (_, i) => Math.sin(i));
const ct = new Encryptor(ctx, sk).encrypt(enc.encode(x, { level: 0 }));   // no levels left
const fresh = boot.bootstrap(ct);                          // back at the top user level
const y = enc.decode(new Decryptor(ctx, sk).decrypt(fresh));
console.log(`level ${ct.level} -> ${fresh.level}, precision ${precisionStats(x, y).meanBits.toFixed(1)} bits`);

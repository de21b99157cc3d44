/**
 * @module fixes
 * The code that error fixes show, in one place. A fix that shows code takes it from here, so the
 * test suite (`test/errors.test.ts`) can compile every snippet against the real API, with these
 * names in scope: `ctx` (CkksContext), `keygen` (KeyGenerator), `sk` (SecretKey), `evaluator`
 * (Evaluator), `ct` (Ciphertext), `model` (Model), `client` (Client), `x` (Tensor), `bytes`
 * (Uint8Array). Snippets are TypeScript expressions; each is returned between backquotes.
 * This module imports nothing (like `errors.ts`).
 */

const q = (code: string): string => `\`${code}\``;

/** Code snippets used in `fix` texts. Every entry returns one backquoted TypeScript expression. */
export const fixCode = {
  /** Galois keys for the given rotation steps. */
  galoisKeys: (steps: readonly number[]): string => q(`keygen.genGaloisKeys(sk, [${steps.join(', ')}])`),
  /** Galois keys capped at a level (`GaloisKeyOptions.maxLevel`). */
  galoisKeysAtLevel: (steps: readonly number[], level: number): string => q(`keygen.genGaloisKeys(sk, [${steps.join(', ')}], { maxLevel: ${level} })`),
  /** Drop a ciphertext to a level. */
  dropToLevel: (level: number): string => q(`evaluator.dropToLevel(ct, ${level})`),
  /** The conjugation key. */
  conjugationKey: (): string => q('keygen.genGaloisKeys(sk, [], { conjugate: true })'),
  /** The Galois element of a rotation by one slot. */
  galoisElement: (): string => q('ctx.galoisElement(1)'),
  /** An evaluator with a relinearization key. */
  evaluatorWithRelin: (): string => q('new Evaluator(ctx, { relin: keygen.genRelinKey(sk) })'),
  /** Bring a ciphertext to an exact scale (one level). */
  setScale: (scale: number): string => q(`evaluator.setScale(ct, ${scale})`),
  /** Serialize a ciphertext without the seed form. */
  serializeUnseeded: (): string => q('serializeCiphertext(ct)'),
  /** Compare two parameter sets. */
  compareParams: (): string => q('ctx.params.hash'),
  /** Parameters for tests at a small ring degree. */
  insecureParams: (logN: number, levels: number): string => q(`new Parameters({ logN: ${logN}, levels: ${levels}, insecure: true })`),
  /** Evaluation keys and ciphertexts from one client. */
  sameClient: (): string => q('new Server(model, client.evaluationKeys())'),
  /** A fresh plan from the compiled model. */
  freshPlan: (): string => q('new Client(model.plan)'),
  /** Encrypt one image (channel layout). */
  encryptOne: (): string => q('client.encrypt({ shape: [1, ...x.shape.slice(1)], data: x.data.subarray(0, x.data.length / x.shape[0]) })'),
  /** Divide 0–255 pixels by 255. */
  normalise255: (): string => q('({ shape: x.shape, data: x.data.map((v) => v / 255) })'),
  /** The client's evaluation keys. */
  evaluationKeys: (): string => q('client.evaluationKeys()'),
  /** The client's encryption of an input. */
  encryptCall: (): string => q('client.encrypt(x)'),
  /** Decrypt with the client that encrypted. */
  decryptSameClient: (): string => q('client.decrypt(bytes)'),
} as const;

/**
 * @module ckks/ciphertext
 * Plaintexts and ciphertexts: RNS polynomials in the NTT domain with their level and exact scale
 * (Lattigo `rlwe.MetaData`: the scale is tracked as a float64 per object, not assumed to be Δ).
 */
import { Poly } from '../ring/poly.js';
import type { CkksContext } from './context.js';
import { inspectCustom, log2Form, shortForm } from './inspect.js';

/** An encoded message: one polynomial (NTT domain) at a level, with its scale. */
export class Plaintext {
  constructor(
    readonly ctx: CkksContext,
    readonly poly: Poly,
    public level: number,
    public scale: number,
  ) {}

  /** Number of Q limbs. */
  get limbs(): number {
    return this.poly.limbs;
  }

  /** `Plaintext { level: 5, scale: 2^30.0, N: 8192 }` for console.log. */
  [inspectCustom](): string {
    return shortForm('Plaintext', { level: this.level, scale: log2Form(this.scale), N: this.ctx.N });
  }
}

/**
 * A ciphertext (c0, c1[, c2]) in the NTT domain: decrypts to c0 + c1·s (+ c2·s²). Degree 2
 * ciphertexts come from `mul` before relinearization.
 */
export class Ciphertext {
  /**
   * Id of the secret key this ciphertext is under (16 hex digits), when known: set by the
   * encryptor and by deserialization, carried through evaluator operations. It catches mixing
   * objects of different clients (`KeyMismatchError`); it is not authenticated.
   */
  keyId: string | undefined = undefined;

  constructor(
    readonly ctx: CkksContext,
    readonly polys: Poly[],
    public level: number,
    public scale: number,
  ) {}

  /** 1 for a normal ciphertext, 2 after a multiplication without relinearization. */
  get degree(): number {
    return this.polys.length - 1;
  }

  /** Number of Q limbs. */
  get limbs(): number {
    return this.polys[0].limbs;
  }

  /** A deep copy (buffers trimmed to the active limbs). */
  clone(): Ciphertext {
    const c = new Ciphertext(this.ctx, this.polys.map((p) => p.clone()), this.level, this.scale);
    c.keyId = this.keyId;
    return c;
  }

  /** Bytes held by the residues. */
  get byteLength(): number {
    return this.polys.reduce((s, p) => s + p.limbs * p.N * 4, 0);
  }

  /** `Ciphertext { level: 5, scale: 2^30.0, degree: 1, N: 8192 }` for console.log. */
  [inspectCustom](): string {
    return shortForm('Ciphertext', { level: this.level, scale: log2Form(this.scale), degree: this.degree, N: this.ctx.N });
  }
}

/** Polynomials taken off reused outputs when their degree dropped (kept for when it grows again). */
const spares = new WeakMap<Ciphertext, Poly[]>();

/**
 * An output ciphertext of `degree` at `level`/`scale` with `limbs` active limbs: `out` reused
 * (its buffers kept when large enough, so a loop writing into one destination allocates nothing),
 * or a new one. The caller overwrites every active limb.
 */
export function ciphertextInto(ctx: CkksContext, degree: number, limbs: number, level: number, scale: number, out?: Ciphertext): Ciphertext {
  const N = ctx.N;
  if (!out) {
    const polys: Poly[] = [];
    for (let i = 0; i <= degree; i++) polys.push(new Poly(N, limbs));
    return new Ciphertext(ctx, polys, level, scale);
  }
  ctx.check(out, 'output ciphertext');
  if (out.polys.length !== degree + 1) {
    let sp = spares.get(out);
    if (out.polys.length > degree + 1) {
      if (!sp) spares.set(out, (sp = []));
      sp.push(...out.polys.splice(degree + 1));
    }
    while (out.polys.length < degree + 1) out.polys.push(sp?.pop() ?? new Poly(N, limbs));
  }
  for (let i = 0; i <= degree; i++) {
    if (out.polys[i].coeffs.length < limbs * N) out.polys[i] = new Poly(N, limbs);
    out.polys[i].limbs = limbs;
  }
  out.level = level;
  out.scale = scale;
  return out;
}

/** A plaintext with `limbs` active limbs at `level`/`scale`: `out` reused (buffer kept when large enough) or new. */
export function plaintextInto(ctx: CkksContext, limbs: number, level: number, scale: number, out?: Plaintext): Plaintext {
  if (!out) return new Plaintext(ctx, new Poly(ctx.N, limbs), level, scale);
  ctx.check(out, 'output plaintext');
  if (out.poly.coeffs.length < limbs * ctx.N) out.poly.rebind(new Int32Array(limbs * ctx.N));
  out.poly.limbs = limbs;
  out.level = level;
  out.scale = scale;
  return out;
}

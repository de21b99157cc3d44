/**
 * @module approx/eval/counting
 *
 * A float64 {@link PolyBackend}: values are slot vectors, every operation is applied slot-wise, and
 * the level rules of `backend.ts` are enforced and tallied. It lets the encrypted evaluation
 * algorithm (`evaluator.ts`) run in plaintext so its values, depth and operation counts can be
 * checked (digest §6 item 16: test the evaluator against plaintext before CKKS exists).
 */

import { type Coef, type PolyBackend } from './backend.js';
import { ApproxError, InsufficientLevelsError } from '../errors.js';

/** A plaintext stand-in for a ciphertext: slot values and levels left. */
export interface CountingValue {
  readonly values: Float64Array;
  readonly level: number;
}

/** Operation counters of a {@link CountingBackend}. */
export interface OperationCounts {
  ctMults: number;
  constMults: number;
  adds: number;
  constAdds: number;
  intMults: number;
}

/**
 * Float64 backend that computes values and counts operations. Levels follow the CKKS rules:
 * mul and linear return min(input levels) − 1; going below 0 throws {@link InsufficientLevelsError}.
 */
export class CountingBackend implements PolyBackend<CountingValue> {
  readonly counts: OperationCounts = { ctMults: 0, constMults: 0, adds: 0, constAdds: 0, intMults: 0 };

  /** @param slots number of slots of every value. */
  constructor(readonly slots: number) {
    if (!Number.isInteger(slots) || slots < 1) {
      throw new ApproxError(`slot count ${slots} is invalid`, `pass a positive integer`);
    }
  }

  /** A fresh value ("encryption") at `level`. */
  encrypt(values: ArrayLike<number>, level: number): CountingValue {
    if (values.length !== this.slots) {
      throw new ApproxError(`expected ${this.slots} slot values, got ${values.length}`, 'pass one value per slot');
    }
    return { values: Float64Array.from(values), level };
  }

  /** Reset all counters to 0. */
  reset(): void {
    this.counts.ctMults = 0;
    this.counts.constMults = 0;
    this.counts.adds = 0;
    this.counts.constAdds = 0;
    this.counts.intMults = 0;
  }

  level(x: CountingValue): number {
    return x.level;
  }

  mul(x: CountingValue, y: CountingValue): CountingValue {
    const level = this.dropLevel(Math.min(x.level, y.level), 'mul');
    this.counts.ctMults++;
    const v = new Float64Array(this.slots);
    for (let i = 0; i < this.slots; i++) v[i] = x.values[i]! * y.values[i]!;
    return { values: v, level };
  }

  add(x: CountingValue, y: CountingValue): CountingValue {
    this.counts.adds++;
    const v = new Float64Array(this.slots);
    for (let i = 0; i < this.slots; i++) v[i] = x.values[i]! + y.values[i]!;
    return { values: v, level: Math.min(x.level, y.level) };
  }

  sub(x: CountingValue, y: CountingValue): CountingValue {
    this.counts.adds++;
    const v = new Float64Array(this.slots);
    for (let i = 0; i < this.slots; i++) v[i] = x.values[i]! - y.values[i]!;
    return { values: v, level: Math.min(x.level, y.level) };
  }

  addConst(x: CountingValue, c: Coef): CountingValue {
    this.counts.constAdds++;
    const v = new Float64Array(this.slots);
    for (let i = 0; i < this.slots; i++) v[i] = x.values[i]! + this.slot(c, i);
    return { values: v, level: x.level };
  }

  mulInt(x: CountingValue, k: number): CountingValue {
    if (!Number.isInteger(k)) throw new ApproxError(`mulInt needs an integer, got ${k}`, `use linear()`);
    this.counts.intMults++;
    const v = new Float64Array(this.slots);
    for (let i = 0; i < this.slots; i++) v[i] = x.values[i]! * k;
    return { values: v, level: x.level };
  }

  linear(xs: CountingValue[], cs: Coef[], c0: Coef): CountingValue {
    if (xs.length === 0 || xs.length !== cs.length) {
      throw new ApproxError(`linear() needs matching non-empty xs and cs (got ${xs.length} and ${cs.length})`, 'pass one coefficient per term, at least one term');
    }
    let lvl = Infinity;
    for (const x of xs) lvl = Math.min(lvl, x.level);
    const level = this.dropLevel(lvl, 'linear');
    const v = new Float64Array(this.slots);
    let terms = 0;
    for (let j = 0; j < xs.length; j++) {
      const c = cs[j]!;
      if (typeof c === 'number' && c === 0) continue;
      terms++;
      const xv = xs[j]!.values;
      for (let i = 0; i < this.slots; i++) v[i] = v[i]! + this.slot(c, i) * xv[i]!;
    }
    for (let i = 0; i < this.slots; i++) v[i] = v[i]! + this.slot(c0, i);
    this.counts.constMults += terms;
    this.counts.adds += Math.max(0, terms - 1);
    return { values: v, level };
  }

  private slot(c: Coef, i: number): number {
    if (typeof c === 'number') return c;
    if (c.length !== this.slots) {
      throw new ApproxError(`per-slot coefficient has ${c.length} entries for ${this.slots} slots`, 'give one coefficient per slot');
    }
    return c[i]!;
  }

  private dropLevel(level: number, op: string): number {
    if (level < 1) throw new InsufficientLevelsError(1, level, op);
    return level - 1;
  }
}

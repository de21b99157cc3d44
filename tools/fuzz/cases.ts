/**
 * Deterministic case streams: case i of a target under a campaign seed is always the same mutation
 * (fast-check samples chunks of 256 from the target's arbitrary with a seed derived from the
 * campaign seed, the target name and the chunk index), so any case can be replayed alone.
 */
import fc from 'fast-check';
import { fnv64 } from '../../src/ckks/params.js';
import { type InputKind, type Mutation, mutationArb } from './mutate.js';

const CHUNK = 256;

/** The mutations of one target under one campaign seed, by case index. */
export class CaseStream {
  private chunk = -1;
  private cache: Mutation[] = [];
  private readonly arb: fc.Arbitrary<Mutation>;
  private readonly base: number;

  constructor(kind: InputKind, readonly target: string, readonly seed: number) {
    this.arb = mutationArb(kind);
    this.base = parseInt(fnv64(new TextEncoder().encode(`${target}:${seed}`)).slice(0, 8), 16) | 0;
  }

  /** Case i (0-based). */
  get(i: number): Mutation {
    const c = Math.floor(i / CHUNK);
    if (c !== this.chunk) {
      this.cache = fc.sample(this.arb, { seed: (this.base + Math.imul(c, 0x9e3779b1)) | 0, numRuns: CHUNK });
      this.chunk = c;
    }
    return this.cache[i % CHUNK];
  }
}

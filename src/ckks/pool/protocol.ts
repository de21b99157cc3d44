/**
 * @module ckks/pool/protocol
 * What the main thread and the pool's workers share: the layout of the control block (one
 * Int32Array on a SharedArrayBuffer), operation codes, the barrier, ciphertext descriptors, and
 * the task registry. See `pool.ts` for the design.
 *
 * Fine-grained operations (one engine operation split by limbs) are driven through the control
 * block only: the main thread writes the operation and its arguments, bumps `SEQ` and notifies;
 * helpers run their part of the same phase program (`phases.ts`) and meet the main thread at
 * barriers (Atomics.wait/notify, a short spin first). postMessage is used only to register shared
 * buffers (drained synchronously by the helper before it runs an operation) and for coarse tasks.
 */
import { InvalidArgumentError, VeilError, type VeilErrorOptions } from '../../errors.js';
import { Poly } from '../../ring/poly.js';
import { Ciphertext } from '../ciphertext.js';
import type { CkksContext } from '../context.js';
import type { Team } from '../phases.js';

/** Int32 slots of the control block. */
export const CTRL_INTS = 256;
/** Fine-grained command sequence number (incremented by the main thread). */
export const C_SEQ = 0;
/** Operation code of the current command. */
export const C_OP = 1;
/** Helpers that finished the current command. */
export const C_DONE = 2;
/** Barrier arrivals and generation. */
export const C_BAR_COUNT = 3;
export const C_BAR_GEN = 4;
/** Non-zero when a participant failed: every waiter gives up. */
export const C_ERR = 5;
/** Set when the pool is closing. */
export const C_CLOSING = 6;
/** Number of participants (main + helpers) of the current command. */
export const C_PARTIES = 7;
/** Next unit to claim in the current phase (reset by the last thread arriving at a barrier). */
export const C_WORK = 8;
/** Registration messages posted to each helper (index C_MAIL + helper): drained before a command. */
export const C_MAIL = 16;
/** Arguments of the current command. */
export const C_ARGS = 64;
export const MAX_ARGS = CTRL_INTS - C_ARGS;

/** Operation codes of fine-grained commands. */
export const enum Op {
  KeySwitch = 1,
  MulRelinRescale = 2,
  Rescale = 3,
  RotateHoisted = 4,
  SecretKey = 5,
  PublicKey = 6,
  SwitchingKey = 7,
  DoubleHoisted = 8,
}

/**
 * Spins this many loads (≈ 0.2–0.4 ms) before blocking in Atomics.wait: on the 2-vCPU VM a blocked
 * thread halts its vCPU and waking it costs 50–200 µs; measured: 20 000 → 200 000 loads moved the
 * 2-thread rotate_1 median at N = 2^13 from 2.2–2.5 ms to 2.2–2.3 ms.
 */
const SPIN = 200000;
/** Wait slices, so a failure elsewhere is noticed. */
const WAIT_SLICE_MS = 200;

/** Thrown on every participant when one of them failed during a fine-grained operation. */
export class PoolOperationError extends VeilError {
  static override readonly code: string = 'POOL_OPERATION';

  constructor(message: string, fix = 'the pool cannot be used any more: close it and create a new one (the error of the failing thread is in the message)', options: VeilErrorOptions = {}) {
    super(message, fix, options);
  }
}

/**
 * Blocks until ctrl[i] !== v (spin, then Atomics.wait in slices), throwing if an error is flagged.
 * `canBlock` is false on a browser main thread (Atomics.wait is not allowed there): spin only.
 */
export function waitWhileEqual(ctrl: Int32Array, i: number, v: number, canBlock = true): void {
  for (let s = 0; s < SPIN; s++) if (Atomics.load(ctrl, i) !== v) return;
  while (Atomics.load(ctrl, i) === v) {
    if (Atomics.load(ctrl, C_ERR) !== 0) throw new PoolOperationError('a pool thread failed during the operation');
    if (canBlock) Atomics.wait(ctrl, i, v, WAIT_SLICE_MS);
  }
}

/**
 * The team of the current command (see `phases.ts`): units are claimed from the shared counter
 * `C_WORK`; the barrier is a generation barrier over `C_PARTIES` threads whose last arriver resets
 * the counter for the next phase (every thread has stopped claiming by then).
 */
export function makeTeam(ctrl: Int32Array, canBlock = true): Team {
  return {
    get size() {
      return Atomics.load(ctrl, C_PARTIES);
    },
    claim(n: number): number {
      const u = Atomics.add(ctrl, C_WORK, 1);
      return u < n ? u : -1;
    },
    barrier(): void {
      const parties = Atomics.load(ctrl, C_PARTIES);
      const gen = Atomics.load(ctrl, C_BAR_GEN);
      if (Atomics.add(ctrl, C_BAR_COUNT, 1) === parties - 1) {
        Atomics.store(ctrl, C_BAR_COUNT, 0);
        Atomics.store(ctrl, C_WORK, 0);
        Atomics.add(ctrl, C_BAR_GEN, 1);
        Atomics.notify(ctrl, C_BAR_GEN);
        return;
      }
      waitWhileEqual(ctrl, C_BAR_GEN, gen, canBlock);
    },
  };
}

// ----------------------------------------------------------------------------- descriptors

/** A ciphertext whose polynomials live in SharedArrayBuffers: crosses threads without copying. */
export interface CiphertextDescriptor {
  readonly kind: 'veil.ciphertext';
  readonly polys: readonly { readonly data: Int32Array; readonly limbs: number }[];
  readonly level: number;
  readonly scale: number;
  /** `Ciphertext.keyId`. */
  readonly keyId?: string;
}

/** Moves a polynomial's residues into a SharedArrayBuffer (one copy; no-op if already shared). */
export function sharePoly(p: Poly): Poly {
  if (typeof SharedArrayBuffer !== 'undefined' && p.coeffs.buffer instanceof SharedArrayBuffer) return p;
  const n = p.limbs * p.N;
  const a = new Int32Array(new SharedArrayBuffer(4 * n));
  a.set(p.coeffs.subarray(0, n));
  return p.rebind(a);
}

/** The descriptor of a ciphertext, moving its buffers to shared memory first if needed. */
export function toShared(ct: Ciphertext): CiphertextDescriptor {
  return {
    kind: 'veil.ciphertext',
    polys: ct.polys.map((p) => {
      sharePoly(p);
      return { data: p.coeffs, limbs: p.limbs };
    }),
    level: ct.level,
    scale: ct.scale,
    ...(ct.keyId !== undefined ? { keyId: ct.keyId } : {}),
  };
}

/** A ciphertext over the descriptor's shared buffers (no copy). */
export function fromShared(ctx: CkksContext, d: CiphertextDescriptor): Ciphertext {
  if (!d || d.kind !== 'veil.ciphertext') throw new InvalidArgumentError('fromShared: not a ciphertext descriptor', 'pass a descriptor made by toShared (a task payload field)');
  const ct = new Ciphertext(ctx, d.polys.map((p) => new Poly(ctx.N, p.limbs, p.data)), d.level, d.scale);
  ct.keyId = d.keyId;
  return ct;
}

// ----------------------------------------------------------------------------- tasks

/** What a coarse task handler receives in its worker (see `WorkerPool.run`). */
export interface TaskEnv {
  /** The worker's context (same parameters as the pool). */
  readonly ctx: CkksContext;
  /** An evaluator (single-threaded, inside the worker) holding the keys given to `pool.setKeys`. */
  readonly evaluator: import('../evaluator.js').Evaluator;
  /** An encoder for the worker's context. */
  readonly encoder: import('../encoder.js').Encoder;
  /** Index of this worker in the pool. */
  readonly worker: number;
  /** Rebuilds a ciphertext over a descriptor's shared buffers. */
  fromShared(d: CiphertextDescriptor): Ciphertext;
  /** Describes a ciphertext (moving it to shared memory) to return it or pass it on. */
  toShared(ct: Ciphertext): CiphertextDescriptor;
}

/** A task handler: runs in a worker; its result is posted back (structured clone). */
export type TaskHandler = (env: TaskEnv, payload: unknown) => unknown | Promise<unknown>;

const REGISTRY = Symbol.for('veil-fhe.pool.tasks');

/** The task registry of the current thread (shared by every copy of this module in the thread). */
export function taskRegistry(): Map<string, TaskHandler> {
  const g = globalThis as unknown as Record<symbol, Map<string, TaskHandler> | undefined>;
  return (g[REGISTRY] ??= new Map());
}

/**
 * Registers a coarse task handler in the current worker. Call it at the top level of a module
 * listed in `WorkerPool.create(params, { modules })`; the main thread then runs it with
 * `pool.run(name, payload)`.
 */
export function registerTask(name: string, handler: TaskHandler): void {
  if (typeof name !== 'string' || !name) throw new InvalidArgumentError('registerTask: the task name is not a non-empty string', 'name the task with a non-empty string');
  if (typeof handler !== 'function') throw new InvalidArgumentError(`registerTask('${name}'): the handler is not a function`, 'pass a function (env, payload) => result');
  taskRegistry().set(name, handler);
}

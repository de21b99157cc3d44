/**
 * @module ckks/pool/pool
 * A pool of worker threads for the CKKS engine, over SharedArrayBuffers: Node `worker_threads`, or
 * module Web Workers in a cross-origin-isolated browser page (COOP `same-origin` + COEP
 * `require-corp`), chosen automatically (`backend.ts`). On a page's main thread, which may
 * not block, the calling thread spins at barriers instead of waiting in Atomics.wait.
 *
 * Two uses, one pool:
 *  - **Fine-grained, inside the engine.** `new Evaluator(ctx, keys, { pool })` and
 *    `new KeyGenerator(ctx, rng, { pool })` split relinearization, rotations, rescaling,
 *    mulRelinRescale and key generation by limbs (or digits) between the calling thread and
 *    `threads − 1` helper workers. Each operation is a phase program (`phases.ts`,
 *    `keygen-phases.ts`) that every participant runs on its own limbs, meeting at barriers
 *    (Atomics.wait/notify on a control block, after a short spin): one or two synchronisations per
 *    operation, no postMessage on the hot path, results bit-for-bit those of one thread. Operands are
 *    copied into shared staging buffers (memcpy, negligible next to the operation); evaluation keys
 *    are moved into shared memory once.
 *  - **Coarse tasks, for other modules.** `WorkerPool.create(params, { modules })` imports ES
 *    modules in every worker; they register handlers with `registerTask(name, (env, payload) =>
 *    result)`. `pool.run(name, payload)` runs one on the least-busy worker and resolves with its
 *    result; `runAll` runs many. A handler gets `env.evaluator` (holding the keys given to
 *    `pool.setKeys`, shared, not copied per task), `env.encoder`, `env.ctx`, and `fromShared` /
 *    `toShared` to pass ciphertexts as descriptors of shared buffers (no copy).
 *
 * A helper busy with a coarse task joins a fine-grained operation only when the task ends, so
 * mixing both on a small pool serialises them (correct, not faster).
 *
 * @example
 * ```ts
 * const pool = await WorkerPool.create(ctx.params, { threads: 2, modules: [new URL('./my-tasks.js', import.meta.url).href] });
 * const ev = new Evaluator(ctx, { relin, galois }, { pool });   // ops split over 2 threads
 * pool.setKeys({ relin, galois });
 * const sum = pool.fromShared(await pool.run('sum', [pool.toShared(a), pool.toShared(b)]));
 * await pool.close();
 * ```
 */
import { ContextMismatchError, InternalError, InvalidArgumentError, VeilError } from '../errors.js';
import { Poly, allocInt32 } from '../../ring/poly.js';
import { Ciphertext, Plaintext } from '../ciphertext.js';
import { CkksContext } from '../context.js';
import type { EvaluatorPool, EvaluatorPoolLink } from '../evaluator.js';
import { DownMode, type KeySwitcher, type PackedKey } from '../keyswitch/switcher.js';
import { type KeyKind, publicKeyProgram, secretKeyProgram, switchingKeyProgram } from '../keygen-phases.js';
import {
  GaloisKeys, type KeyGenPool, type KeyGenPoolLink, PublicKey, RelinKey, SecretKey, SwitchingKey, type EvaluationKeys,
} from '../keys.js';
import { Parameters } from '../params.js';
import { type Team, keySwitchProgram, mulRelinRescaleProgram, rescaleProgram, rotateHoistedProgram } from '../phases.js';
import { type DhScratch, type DhSource, dhScratchSizes, doubleHoistedProgram } from '../linear/hoisted.js';
import { type BackendWorker, type WorkerBackend, selectBackend } from './backend.js';
import { Stage, type Registration, seedTo, stage } from './engine.js';
import type { WorkerInit } from './host.js';
import {
  C_ARGS, C_BAR_COUNT, C_BAR_GEN, C_CLOSING, C_DONE, C_ERR, C_MAIL, C_OP, C_PARTIES, C_SEQ, CTRL_INTS, type CiphertextDescriptor,
  C_WORK, MAX_ARGS, Op, PoolOperationError, fromShared, makeTeam, sharePoly, toShared, waitWhileEqual,
} from './protocol.js';

export { type BackendWorker, type WorkerBackend, WorkerPoolUnavailableError } from './backend.js';
export { registerTask, type TaskEnv, type TaskHandler, type CiphertextDescriptor, PoolOperationError } from './protocol.js';

/** Options of `WorkerPool.create`. */
export interface WorkerPoolOptions {
  /**
   * Parallelism. Engine operations run on the calling thread plus `threads − 1` helper workers;
   * coarse tasks run on `threads` workers (the calling thread stays free to await them).
   */
  threads: number;
  /** ES module URLs (absolute, e.g. `new URL('./tasks.js', import.meta.url).href`) imported in every worker. */
  modules?: readonly (string | URL)[];
  /**
   * Worker entry (default: `worker.js` next to this module, i.e. `new URL('./worker.js',
   * import.meta.url)`). For tests and bundlers; a relative string is resolved against the page.
   */
  workerUrl?: string | URL;
}

/** One coarse task for `runAll`. */
export interface PoolTask {
  name: string;
  payload?: unknown;
  /** Objects to transfer (not copy) with the payload. */
  transfer?: readonly Transferable[];
}

let nextId = 1;

/** Shared copies of plaintext arrays that were not allocated in shared memory (made once per array). */
const sharedCopies = new WeakMap<ArrayBufferView, Int32Array | Float64Array>();

function sharedArray<T extends Int32Array | Float64Array>(a: T): T {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  let c = sharedCopies.get(a) as T | undefined;
  if (!c) {
    c = (a instanceof Int32Array ? new Int32Array(new SharedArrayBuffer(a.byteLength)) : new Float64Array(new SharedArrayBuffer(a.byteLength))) as T;
    c.set(a as never);
    sharedCopies.set(a, c);
  }
  return c;
}

/**
 * A double-hoisting plaintext source whose arrays helpers can read (a source not allocated in shared
 * memory is copied once; its `keep` buffer is then dropped, as helpers' writes would not reach it).
 */
function sharedSource(src: DhSource): DhSource {
  if (src.kind === 'qp') return { kind: 'qp', pt: sharedArray(src.pt) };
  const keep = src.keep && src.keep.buffer instanceof SharedArrayBuffer ? src.keep : undefined;
  return { kind: 'values', re: sharedArray(src.re), im: src.im ? sharedArray(src.im) : null, shift: src.shift, keep };
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  worker: number;
  done: Promise<unknown>;
}

/**
 * A pool of worker threads (see the module documentation). Create with `WorkerPool.create`;
 * `close()` when done (an unclosed pool does not keep the process alive).
 */
export class WorkerPool implements EvaluatorPool, KeyGenPool {
  /** Parallelism given at creation. */
  readonly threads: number;
  readonly params: Parameters;
  /** The pool's main-thread context (used by `fromShared`). */
  readonly ctx: CkksContext;
  private readonly backend: WorkerBackend;
  private readonly workers: BackendWorker[] = [];
  private readonly sync: { send(m: unknown): void }[] = [];
  private readonly ctrl: Int32Array;
  private readonly tasks: Int32Array;
  private readonly errText: SharedArrayBuffer;
  private readonly team: Team;
  private readonly pending = new Map<number, Pending>();
  private readonly load: number[];
  private readonly keyIds = new WeakMap<Int32Array, number>();
  /** Frees helpers' registrations of keys and evaluators that were garbage-collected on this thread. */
  private readonly finalizer = new FinalizationRegistry<number>((id) => {
    if (!this.closed) this.register({ t: 'free', ids: [id] });
  });
  private inOp = false;
  private closed = false;
  private fatal?: Error;

  private constructor(params: Parameters, ctx: CkksContext, threads: number, backend: WorkerBackend) {
    this.params = params;
    this.ctx = ctx;
    this.threads = threads;
    this.backend = backend;
    this.ctrl = new Int32Array(new SharedArrayBuffer(4 * CTRL_INTS));
    this.tasks = new Int32Array(new SharedArrayBuffer(4 * Math.max(1, threads)));
    this.errText = new SharedArrayBuffer(4096);
    this.team = makeTeam(this.ctrl, backend.canBlock);
    this.load = new Array<number>(threads).fill(0);
  }

  /**
   * Starts `threads` workers for the given parameters (or a context, whose parameters are used and
   * which becomes `pool.ctx`), imports `modules` in each, and resolves when all are ready. Workers
   * are Node `worker_threads` under Node, module Web Workers in a browser; a page must be
   * cross-origin isolated (else `WorkerPoolUnavailableError`, which says which headers to send).
   */
  static async create(params: Parameters | CkksContext, opts: WorkerPoolOptions): Promise<WorkerPool> {
    const threads = opts.threads;
    if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw new InvalidArgumentError(`threads = ${threads}`, 'use an integer in 1..256');
    const backend = await selectBackend();
    const ctx = params instanceof CkksContext ? params : new CkksContext(params);
    const pool = new WorkerPool(ctx.params, ctx, threads, backend);
    const base = (globalThis as { location?: { href: string } }).location?.href;
    const url = opts.workerUrl ? new URL(String(opts.workerUrl), base) : backend.defaultWorkerUrl();
    const modules = (opts.modules ?? []).map((m) => String(m));
    const ready: Promise<void>[] = [];
    for (let w = 0; w < threads; w++) {
      const helper = w < threads - 1;
      const ch = helper ? backend.channel() : undefined;
      const init: WorkerInit = {
        lit: ctx.params.toLiteral(), index: w, helper, ctrl: pool.ctrl.buffer as SharedArrayBuffer, errText: pool.errText,
        tasks: pool.tasks.buffer as SharedArrayBuffer, modules, syncPort: ch?.workerEnd,
      };
      const worker = backend.spawn(url, init, ch ? [ch.workerEnd] : []);
      pool.workers.push(worker);
      if (ch) pool.sync.push(ch);
      ready.push(new Promise<void>((resolve, reject) => {
        worker.onError((cause) => {
          const e = cause instanceof VeilError ? cause
            : new PoolOperationError(`pool worker ${w} failed: ${cause instanceof Error ? cause.message : String(cause)}`, undefined, { cause });
          pool.fatal = e;
          reject(e);
          for (const p of pool.pending.values()) p.reject(e);
          pool.pending.clear();
        });
        worker.onMessage((m) => {
          const msg = m as { t: string; id?: number; value?: unknown; message?: string };
          if (msg.t === 'ready') resolve();
          else if (msg.t === 'fatal') reject(new PoolOperationError(`pool worker ${w} failed to start: ${msg.message}`, 'check that the worker script and the modules passed to WorkerPool.create load in a worker'));
          else pool.settle(msg);
        });
      }));
    }
    try {
      await Promise.all(ready);
    } catch (e) {
      await pool.close();
      throw e;
    }
    for (const w of pool.workers) w.unref();
    return pool;
  }

  // ---------------------------------------------------------------------------- coarse tasks

  private settle(msg: { t: string; id?: number; value?: unknown; message?: string }): void {
    const p = msg.id === undefined ? undefined : this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id!);
    this.load[p.worker]--;
    if (this.pending.size === 0) for (const w of this.workers) w.unref();
    if (msg.t === 'result' || msg.t === 'ack') p.resolve(msg.value);
    else p.reject(new PoolOperationError(`pool task failed: ${msg.message}`, 'see the task\'s error in the message; the pool itself stays usable'));
  }

  private postTo(w: number, m: unknown, transfer?: readonly unknown[]): Promise<unknown> {
    if (this.closed) return Promise.reject(new PoolOperationError('the WorkerPool is closed', 'create a new pool with WorkerPool.create'));
    if (this.fatal) return Promise.reject(this.fatal);
    const id = nextId++;
    const msg = { ...(m as object), id };
    let entry!: Pending;
    const promise = new Promise((resolve, reject) => {
      entry = { resolve, reject, worker: w, done: undefined as never };
    });
    entry.done = promise.then(() => undefined, () => undefined);
    return this.dispatch(w, id, msg, entry, promise, transfer);
  }

  private dispatch(w: number, id: number, msg: unknown, entry: Pending, promise: Promise<unknown>, transfer?: readonly unknown[]): Promise<unknown> {
    {
      this.pending.set(id, entry);
      this.load[w]++;
      this.workers[w].ref();
      Atomics.add(this.tasks, w, 1);
      this.workers[w].post(msg, transfer);
      Atomics.notify(this.ctrl, C_SEQ); // wakes a helper blocked in its command wait
    }
    return promise;
  }

  /**
   * Runs the task `name` (registered with `registerTask` in a module given to `create`) on the
   * least-busy worker with `payload` (structured clone; `transfer` moves buffers instead; shared
   * buffers and ciphertext descriptors are not copied). Resolves with the handler's result.
   */
  run<T = unknown>(name: string, payload?: unknown, transfer?: readonly Transferable[]): Promise<T> {
    let w = this.workers.length - 1; // prefer non-helpers (the last worker is never a helper)
    for (let i = this.workers.length - 1; i >= 0; i--) if (this.load[i] < this.load[w]) w = i;
    return this.postTo(w, { t: 'task', name, payload }, transfer) as Promise<T>;
  }

  /** Runs several tasks, spread over the workers; resolves with their results in order. */
  runAll<T = unknown>(tasks: readonly PoolTask[]): Promise<T[]> {
    return Promise.all(tasks.map((t) => this.run<T>(t.name, t.payload, t.transfer)));
  }

  /**
   * Gives every worker's task evaluator these evaluation keys (moved to shared memory once; the
   * workers see the same memory, nothing is copied per task). Resolves when all workers have them.
   */
  setKeys(keys: EvaluationKeys): Promise<void> {
    const msg: { t: 'keys'; relin?: unknown; galois?: [number, unknown][] } = { t: 'keys' };
    if (keys.relin) {
      this.ctx.check(keys.relin, 'relinearization key');
      const k = keys.relin.key.packed(true);
      msg.relin = { b: k.b, a: k.a, dnum: k.dnum, limbs: k.limbs, seed: keys.relin.key.seed };
    }
    if (keys.galois) {
      this.ctx.check(keys.galois, 'Galois keys');
      msg.galois = [...keys.galois.keys].map(([g, k]) => {
        const p = k.packed(true);
        return [g, { b: p.b, a: p.a, dnum: p.dnum, limbs: p.limbs }] as [number, unknown];
      });
    }
    return Promise.all(this.workers.map((_, w) => this.postTo(w, msg))).then(() => undefined);
  }

  /** Describes a ciphertext for a task payload (moves its buffers to shared memory once). */
  toShared(ct: Ciphertext): CiphertextDescriptor {
    return toShared(ct);
  }

  /** A ciphertext over a descriptor's shared buffers (e.g. a task's result), in the pool's context. */
  fromShared(d: CiphertextDescriptor): Ciphertext {
    return fromShared(this.ctx, d);
  }

  /**
   * Moves an object's residues into shared memory in place (the object keeps its identity and
   * values): ciphertexts, plaintexts, polynomials, keys. Returns the object.
   */
  adopt<T extends Ciphertext | Plaintext | Poly | SecretKey | PublicKey | SwitchingKey | RelinKey | GaloisKeys>(obj: T): T {
    if (obj instanceof Poly) sharePoly(obj);
    else if (obj instanceof Ciphertext) obj.polys.forEach(sharePoly);
    else if (obj instanceof Plaintext) sharePoly(obj.poly);
    else if (obj instanceof SecretKey) [obj.sQ, obj.sP].forEach(sharePoly);
    else if (obj instanceof PublicKey) [obj.bQ, obj.bP, obj.aQ, obj.aP].forEach(sharePoly);
    else if (obj instanceof SwitchingKey) obj.packed(true);
    else if (obj instanceof RelinKey) obj.key.packed(true);
    else if (obj instanceof GaloisKeys) for (const k of obj.keys.values()) k.packed(true);
    return obj;
  }

  /** Waits for running tasks, then stops the workers. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.pending.values()].map((p) => p.done));
    Atomics.store(this.ctrl, C_CLOSING, 1);
    Atomics.notify(this.ctrl, C_SEQ);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  // ---------------------------------------------------------------------------- fine-grained

  /** Posts a registration to every helper (drained by the helper before its next command). */
  private register(r: Registration): void {
    for (let h = 0; h < this.sync.length; h++) {
      Atomics.add(this.ctrl, C_MAIL + h, 1);
      this.sync[h].send(r);
    }
  }

  /**
   * Runs a command: helpers run their share through `EngineState.runCommand`, the calling thread
   * runs `main(team)`; returns when all are done. Throws if any thread failed.
   */
  private exec(op: Op, args: readonly number[], main: (team: Team) => void, seed?: Uint8Array): void {
    if (this.closed) throw new PoolOperationError('the WorkerPool is closed', 'create a new pool with WorkerPool.create');
    if (this.inOp) throw new PoolOperationError('WorkerPool: an engine operation was started while another runs (the pool is not re-entrant)', 'run one engine operation at a time per pool (await each, or use one pool per concurrent user)');
    if (args.length > 8 + (seed ? 0 : MAX_ARGS - 8)) throw new InternalError(`pool command with ${args.length} arguments`);
    const ctrl = this.ctrl;
    const helpers = this.sync.length;
    const parts = helpers + 1;
    this.inOp = true;
    try {
      for (let i = 0; i < args.length; i++) ctrl[C_ARGS + i] = args[i];
      if (seed) seedTo(ctrl, C_ARGS + 8, seed);
      ctrl[C_OP] = op;
      Atomics.store(ctrl, C_PARTIES, parts);
      Atomics.store(ctrl, C_DONE, 0);
      Atomics.store(ctrl, C_ERR, 0);
      Atomics.store(ctrl, C_BAR_COUNT, 0);
      Atomics.store(ctrl, C_WORK, 0);
      Atomics.add(ctrl, C_SEQ, 1);
      Atomics.notify(ctrl, C_SEQ);
      let err: unknown;
      try {
        main(this.team);
      } catch (e) {
        err = e;
        Atomics.store(ctrl, C_ERR, 1);
        Atomics.notify(ctrl, C_BAR_GEN);
      }
      for (;;) {
        const d = Atomics.load(ctrl, C_DONE);
        if (d >= helpers) break;
        try {
          waitWhileEqual(ctrl, C_DONE, d, this.backend.canBlock);
        } catch {
          // an error is flagged: keep waiting until every helper has left the command
          if (this.backend.canBlock) Atomics.wait(ctrl, C_DONE, d, 50);
        }
      }
      if (err && !(err instanceof PoolOperationError)) throw err;
      if (Atomics.load(ctrl, C_ERR) !== 0) {
        const n = new DataView(this.errText).getInt32(0, true);
        const text = n > 0 ? new TextDecoder().decode(new Uint8Array(this.errText, 4, n).slice()) : 'unknown error';
        throw new PoolOperationError(`engine operation failed on a pool thread: ${text}`);
      }
    } finally {
      this.inOp = false;
    }
  }

  /**
   * The shared packed form of a switching key, registered with the helpers once; the registration
   * is dropped when the key's buffer is garbage-collected here.
   */
  private keyId(key: PackedKey): number {
    let id = this.keyIds.get(key.b);
    if (id === undefined) {
      id = nextId++;
      this.keyIds.set(key.b, id);
      this.register({ t: 'key', id, b: key.b, a: key.a, dnum: key.dnum, limbs: key.limbs });
      this.finalizer.register(key.b, id);
    }
    return id;
  }

  /**
   * Registers a secret key (moved to shared memory) for one key-generation operation, then frees
   * the registration: helpers never retain secrets between operations.
   */
  private withSecret(sk: SecretKey, f: (skId: number) => void): void {
    sharePoly(sk.sQ);
    sharePoly(sk.sP);
    const id = nextId++;
    this.register({ t: 'sk', id, sQ: sk.sQ.coeffs, sP: sk.sP.coeffs });
    try {
      f(id);
    } finally {
      this.register({ t: 'free', ids: [id] });
    }
  }

  /** @internal Links an evaluator's key switcher (built on shared buffers) to the pool. */
  attachEvaluator(ctx: CkksContext, ks: KeySwitcher): EvaluatorPoolLink {
    if (ctx.params.hash !== this.params.hash) throw new ContextMismatchError('the evaluator (for a WorkerPool of other parameters)');
    const N = ctx.N;
    const nQN = ctx.ringQ.size * N;
    const io = allocInt32(Stage.Count * nQN, true);
    const evId = nextId++;
    this.register({ t: 'ev', id: evId, ks: ks.buf, io });
    this.finalizer.register(ks, evId);
    const s = (k: number) => stage(io, k, nQN);
    let hoist = allocInt32(0, true);
    let dh: DhScratch | undefined;
    const pool = this;
    const copyIn = (ins: readonly Poly[], limbs: number, first = Stage.In0) => {
      for (let k = 0; k < ins.length; k++) io.set(ins[k].coeffs.subarray(0, limbs * N), (first + k) * nQN);
    };
    const copyOut = (outs: readonly Poly[], limbs: number, from: Int32Array[]) => {
      for (let k = 0; k < outs.length; k++) outs[k].coeffs.set(from[k].subarray(0, limbs * N));
    };
    return {
      packKey: (key) => key.packed(true),
      keySwitch(key, limbs, mode, ins, outs, g) {
        const keyId = pool.keyId(key);
        copyIn(ins, limbs);
        const rotate = mode === DownMode.Rotate;
        const idx = rotate ? ctx.galoisIndex(g) : undefined;
        pool.exec(Op.KeySwitch, [evId, keyId, limbs, mode, g], (team) =>
          keySwitchProgram(ks, key, limbs, mode, s(rotate ? Stage.In1 : Stage.In2), s(Stage.In0), rotate ? undefined : s(Stage.In1),
            s(Stage.Out0), s(Stage.Out1), idx, team));
        copyOut(outs.slice(0, 2), ks.downLimbs(limbs, mode), [s(Stage.Out0), s(Stage.Out1)]);
      },
      mulRelinRescale(key, limbs, ins, outs) {
        const keyId = pool.keyId(key);
        copyIn(ins, limbs);
        pool.exec(Op.MulRelinRescale, [evId, keyId, limbs], (team) =>
          mulRelinRescaleProgram(ctx, ks, key, limbs, s(Stage.In0), s(Stage.In1), s(Stage.In2), s(Stage.In3),
            s(Stage.D0), s(Stage.D1), s(Stage.D2), s(Stage.Out0), s(Stage.Out1), team));
        copyOut(outs.slice(0, 2), ks.downLimbs(limbs, DownMode.AddRescale), [s(Stage.Out0), s(Stage.Out1)]);
      },
      rescale(limbs, ins, outs) {
        copyIn(ins, limbs);
        const polys = ins.length;
        const inA = Array.from({ length: polys }, (_, k) => s(Stage.In0 + k));
        const outA = Array.from({ length: polys }, (_, k) => s(Stage.Out0 + k));
        pool.exec(Op.Rescale, [evId, limbs, polys], (team) =>
          rescaleProgram(ctx, limbs, inA, outA, io.subarray(Stage.D0 * nQN, (Stage.D0 + 3) * nQN), team));
        copyOut(outs, limbs - ctx.params.dropAt(limbs), outA);
      },
      rotateHoisted(keys, gs, limbs, ins, outs) {
        const count = keys.length;
        if (3 + 2 * count > MAX_ARGS) throw new InvalidArgumentError(`rotateHoisted with a pool and ${count} steps`, `split the steps into calls of at most ${(MAX_ARGS - 3) >> 1}`);
        const ids = keys.map((k) => pool.keyId(k));
        if (hoist.length < 2 * count * nQN) {
          hoist = allocInt32(2 * count * nQN, true);
          pool.register({ t: 'hoist', id: evId, buf: hoist });
        }
        copyIn(ins, limbs);
        const outsA = Array.from({ length: count }, (_, r) => [stage(hoist, 2 * r, nQN), stage(hoist, 2 * r + 1, nQN)] as const);
        const idx = gs.map((g) => ctx.galoisIndex(g));
        pool.exec(Op.RotateHoisted, [evId, limbs, count, ...ids, ...gs], (team) =>
          rotateHoistedProgram(ks, keys, idx, limbs, s(Stage.In0), s(Stage.In1), outsA, team));
        for (let r = 0; r < count; r++) copyOut(outs[r].slice(0, 2), limbs, [outsA[r][0], outsA[r][1]]);
      },
      doubleHoisted(job, gs, valueSlots, enc, ins, outs) {
        const limbs = job.limbs;
        const sz = dhScratchSizes(ks, job.chunk, valueSlots);
        if (!dh || dh.acc.length < sz.acc || dh.coef.length < sz.coef) {
          const accLen = Math.max(sz.acc, dh?.acc.length ?? 0);
          const coefLen = Math.max(sz.coef, dh?.coef.length ?? 0);
          dh = undefined;
          dh = {
            lazy0: allocInt32(sz.qp, true), lazy1: allocInt32(sz.qp, true), acc: allocInt32(accLen, true), c1: allocInt32(sz.q, true),
            g0: allocInt32(sz.qp, true), g1: allocInt32(sz.qp, true), sum0: allocInt32(sz.qp, true), sum1: allocInt32(sz.qp, true),
            coef: new Float64Array(new SharedArrayBuffer(8 * coefLen)),
          };
        }
        const steps = [...job.babies, ...job.giants];
        const keyIds = steps.map((st) => (st.key ? pool.keyId(st.key) : 0));
        const sources = job.sources.map(sharedSource);
        copyIn(ins, limbs);
        const id = nextId++;
        pool.register({ t: 'dh', id, limbs, scale: job.scale, chunk: job.chunk, babies: job.babies.length, keyIds, gs: [...gs], terms: job.terms, sources, scratch: dh });
        try {
          const scratch = dh;
          pool.exec(Op.DoubleHoisted, [evId, id], (team) =>
            doubleHoistedProgram(ks, enc, { ...job, sources }, s(Stage.In0), s(Stage.In1), scratch, s(Stage.Out0), s(Stage.Out1), team));
        } finally {
          pool.register({ t: 'free', ids: [id] });
        }
        copyOut(outs.slice(0, 2), limbs, [s(Stage.Out0), s(Stage.Out1)]);
      },
    };
  }

  /** @internal Links a key generator to the pool. */
  attachKeyGenerator(ctx: CkksContext): KeyGenPoolLink {
    if (ctx.params.hash !== this.params.hash) throw new ContextMismatchError('the key generator (for a WorkerPool of other parameters)');
    const N = ctx.N;
    const dnumMax = Math.ceil(ctx.ringQ.size / ctx.params.digitLimbs);
    const small = allocInt32(N, true);
    const E = allocInt32(dnumMax * N, true);
    const kgId = nextId++;
    this.register({ t: 'kg', id: kgId, small, E });
    this.finalizer.register(small, kgId);
    const pool = this;
    const withOutputs = (arrays: Int32Array[], f: (outId: number) => void) => {
      const outId = nextId++;
      pool.register({ t: 'out', id: outId, arrays });
      try {
        f(outId);
      } finally {
        pool.register({ t: 'free', ids: [outId] });
      }
    };
    return {
      small,
      E,
      secretKey(sQ, sP) {
        withOutputs([sQ, sP], (outId) => pool.exec(Op.SecretKey, [kgId, outId], (team) => secretKeyProgram(ctx, small, sQ, sP, team)));
      },
      publicKey(sk, seed, out) {
        pool.withSecret(sk, (skId) => withOutputs([...out], (outId) => pool.exec(Op.PublicKey, [kgId, skId, outId], (team) =>
          publicKeyProgram(ctx, seed, small, sk.sQ.coeffs, sk.sP.coeffs, out[0], out[1], out[2], out[3], team), seed)));
      },
      switchingKey(sk, kind: KeyKind, g, seed, dnum, b, a, qLimbs) {
        pool.withSecret(sk, (skId) => withOutputs([b, a], (outId) => pool.exec(Op.SwitchingKey, [kgId, skId, outId, kind, g, dnum, qLimbs], (team) =>
          switchingKeyProgram(ctx, kind, g, seed, E, dnum, sk.sQ.coeffs, sk.sP.coeffs, b, a, team, qLimbs), seed)));
      },
    };
  }
}

/**
 * @module ckks/pool/worker
 * Entry point of a pool worker (Node `worker_threads` or a browser module Web Worker; see `pool.ts`;
 * the platform is behind `WorkerHost`, `host.ts`, so this file has no `node:` imports). Builds
 * its own `CkksContext` from the pool's parameters, imports the task modules, then:
 *  - helpers (workers 0..threads−2) wait on the control block and run their part of fine-grained
 *    operations, yielding to the event loop when a coarse task message is pending (and, in a
 *    browser, when a registration has not been delivered yet);
 *  - every worker runs coarse tasks posted with `pool.run`.
 */
import { InvalidArgumentError } from '../../errors.js';
import { CkksContext } from '../context.js';
import { Encoder } from '../encoder.js';
import { Evaluator } from '../evaluator.js';
import { GaloisKeys, RelinKey, SwitchingKey } from '../keys.js';
import { Parameters } from '../params.js';
import { EngineState, type Registration } from './engine.js';
import { type WorkerHost, workerHost } from './host.js';
import {
  C_BAR_GEN, C_CLOSING, C_DONE, C_ERR, C_MAIL, C_OP, C_SEQ, type CiphertextDescriptor, type Op, type TaskEnv,
  fromShared, makeTeam, taskRegistry, toShared,
} from './protocol.js';

export type { WorkerInit } from './host.js';

/** Packed key as sent by `pool.setKeys`. */
interface KeyMsg {
  b: Int32Array;
  a: Int32Array;
  dnum: number;
  /** Q limbs held (capped keys; default all). */
  limbs?: number;
}

/** Runs the worker on its platform host (after `workerHost()` resolved). */
function run(host: WorkerHost): void {
  const init = host.init;
  const ctx = new CkksContext(new Parameters(init.lit));
  const engine = new EngineState(ctx);
  const ctrl = new Int32Array(init.ctrl);
  const taskCount = new Int32Array(init.tasks);
  const team = makeTeam(ctrl);
  let registered = 0;
  let tasksSeen = 0;
  let busy = 0;
  let evaluator = new Evaluator(ctx);
  const encoder = new Encoder(ctx);

  const env: TaskEnv = {
    ctx,
    get evaluator() {
      return evaluator;
    },
    encoder,
    worker: init.index,
    fromShared: (d: CiphertextDescriptor) => fromShared(ctx, d),
    toShared,
  };

  /**
   * Applies the registrations posted before the current command (synchronous receive). Returns false
   * if one has not been delivered yet and the host needs the event loop for it (browsers): the
   * caller yields and retries; those applied so far stay applied.
   */
  function drain(): boolean {
    const want = Atomics.load(ctrl, C_MAIL + init.index);
    while (registered < want) {
      const m = host.receiveSync();
      if (!m) {
        if (host.receiveNeedsYield) return false;
        continue; // Node: posted but not yet visible, spin briefly
      }
      engine.register(m.message as Registration);
      registered++;
    }
    return true;
  }

  function writeError(e: unknown): void {
    const text = new TextEncoder().encode(`worker ${init.index}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    const buf = new Uint8Array(init.errText);
    const n = Math.min(text.length, buf.length - 4);
    new DataView(init.errText).setInt32(0, n, true);
    buf.set(text.subarray(0, n), 4);
  }

  /** Runs this helper's part of the current command; false (nothing run) if registrations are still to be delivered. */
  function runFine(): boolean {
    let done = true;
    try {
      if (!drain()) {
        done = false;
        return false;
      }
      engine.runCommand(ctrl[C_OP] as Op, ctrl, team);
    } catch (e) {
      if (Atomics.compareExchange(ctrl, C_ERR, 0, 1) === 0) writeError(e);
      Atomics.notify(ctrl, C_BAR_GEN);
    } finally {
      if (done) {
        Atomics.add(ctrl, C_DONE, 1);
        Atomics.notify(ctrl, C_DONE);
      }
    }
    return true;
  }

  let lastSeq = Atomics.load(ctrl, C_SEQ);

  /**
   * Spins (loads of the command word) this long after a command before blocking: back-to-back
   * operations then start without a futex wake-up (≈ 20–60 µs measured on the 2-vCPU VM).
   */
  const SPIN_AFTER_MS = 0.5;

  /** Helper loop: serve commands; yield to the event loop for coarse tasks and periodically. */
  function idle(): void {
    let spinUntil = 0;
    for (;;) {
      if (Atomics.load(ctrl, C_CLOSING)) return;
      const seq = Atomics.load(ctrl, C_SEQ);
      if (seq !== lastSeq) {
        if (!runFine()) break; // a registration is still in the event loop's queue: yield, then retry
        lastSeq = seq;
        spinUntil = performance.now() + SPIN_AFTER_MS;
        continue;
      }
      if (busy > 0 || Atomics.load(taskCount, init.index) !== tasksSeen) break;
      if (performance.now() < spinUntil) continue;
      Atomics.wait(ctrl, C_SEQ, seq, 50);
      if (Atomics.load(ctrl, C_SEQ) === seq) break; // timed out or woken for a task: let the event loop run
    }
    if (busy > 0) setTimeout(idle, 0);
    else host.soon(idle);
  }

  function setKeys(m: { relin?: KeyMsg & { seed?: Uint8Array }; galois?: [number, KeyMsg][] }): void {
    const relin = m.relin ? new RelinKey(ctx, SwitchingKey.fromPacked(ctx, m.relin.b, m.relin.a, m.relin.dnum, m.relin.seed, m.relin.limbs)) : undefined;
    let galois: GaloisKeys | undefined;
    if (m.galois) {
      galois = new GaloisKeys(ctx);
      for (const [g, k] of m.galois) galois.keys.set(g, SwitchingKey.fromPacked(ctx, k.b, k.a, k.dnum, undefined, k.limbs));
    }
    evaluator = new Evaluator(ctx, { relin, galois });
  }

  host.onMessage((msg) => {
    const m = msg as { t: string; id?: number; name?: string; payload?: unknown; relin?: KeyMsg; galois?: [number, KeyMsg][] };
    if (m.t === 'keys') {
      tasksSeen++;
      setKeys(m as never);
      host.post({ t: 'ack', id: m.id });
      return;
    }
    if (m.t !== 'task') return;
    tasksSeen++;
    busy++;
    const done = (ok: boolean, value: unknown) => {
      busy--;
      try {
        host.post(ok ? { t: 'result', id: m.id, value } : { t: 'error', id: m.id, message: value instanceof Error ? (value.stack ?? value.message) : String(value) });
      } catch (e) {
        host.post({ t: 'error', id: m.id, message: `result could not be posted: ${e instanceof Error ? e.message : String(e)}` });
      }
    };
    try {
      const h = taskRegistry().get(m.name!);
      if (!h) throw new InvalidArgumentError(`unknown task '${m.name}' (registered: ${[...taskRegistry().keys()].join(', ') || 'none'})`, 'register the task in a module passed to WorkerPool.create({ modules })');
      Promise.resolve(h(env, m.payload)).then((v) => done(true, v), (e) => done(false, e));
    } catch (e) {
      done(false, e);
    }
  });

  async function start(): Promise<void> {
    for (const url of init.modules) {
      const mod = (await import(url)) as { register?: (r: typeof import('./protocol.js').registerTask) => void };
      if (typeof mod.register === 'function') mod.register((await import('./protocol.js')).registerTask);
    }
    host.post({ t: 'ready' });
    if (init.helper) host.soon(idle);
  }

  start().catch((e) => host.post({ t: 'fatal', message: e instanceof Error ? (e.stack ?? e.message) : String(e) }));
}

// no top-level await (the module stays loadable everywhere): the host is created synchronously up to
// its first await, so a browser host listens for its init message from the start. A failure to
// create it is rethrown outside the promise, where it reaches the pool as the worker's error event.
workerHost().then(run, (e: unknown) => {
  setTimeout(() => {
    throw e;
  }, 0);
});

/**
 * @module ckks/pool-worker
 * Entry point of a pool worker (Node `worker_threads`; see `pool.ts`). Builds its own
 * `CkksContext` from the pool's parameters, imports the task modules, then:
 *  - helpers (workers 0..threads−2) wait on the control block and run their part of fine-grained
 *    operations, yielding to the event loop when a coarse task message is pending;
 *  - every worker runs coarse tasks posted with `pool.run`.
 */
import { type MessagePort, parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { CkksContext } from './context.js';
import { Encoder } from './encoder.js';
import { Evaluator } from './evaluator.js';
import { GaloisKeys, RelinKey, SwitchingKey } from './keys.js';
import { Parameters, type ParametersLiteral } from './params.js';
import { EngineState, type Registration } from './pool-engine.js';
import {
  C_BAR_GEN, C_CLOSING, C_DONE, C_ERR, C_MAIL, C_OP, C_SEQ, type CiphertextDescriptor, type Op, type TaskEnv,
  fromShared, makeTeam, taskRegistry, toShared,
} from './pool-protocol.js';

/** What `WorkerPool.create` passes to each worker. */
export interface WorkerInit {
  lit: ParametersLiteral;
  index: number;
  helper: boolean;
  ctrl: SharedArrayBuffer;
  /** Shared text buffer for the error message of a failed fine-grained operation. */
  errText: SharedArrayBuffer;
  /** Coarse task messages posted to each worker (index C_TASKS + worker): a pending one makes a helper yield. */
  tasks: SharedArrayBuffer;
  modules: string[];
  syncPort?: MessagePort;
}

/** Packed key as sent by `pool.setKeys`. */
interface KeyMsg {
  b: Int32Array;
  a: Int32Array;
  dnum: number;
}

const init = workerData as WorkerInit;
const port = parentPort!;
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

/** Registrations posted before the current command (synchronous receive). */
function drain(): void {
  const want = Atomics.load(ctrl, C_MAIL + init.index);
  while (registered < want) {
    const m = receiveMessageOnPort(init.syncPort!);
    if (!m) continue; // posted but not yet visible: spin briefly
    engine.register(m.message as Registration);
    registered++;
  }
}

function writeError(e: unknown): void {
  const text = new TextEncoder().encode(`worker ${init.index}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  const buf = new Uint8Array(init.errText);
  const n = Math.min(text.length, buf.length - 4);
  new DataView(init.errText).setInt32(0, n, true);
  buf.set(text.subarray(0, n), 4);
}

function runFine(): void {
  try {
    drain();
    engine.runCommand(ctrl[C_OP] as Op, ctrl, team);
  } catch (e) {
    if (Atomics.compareExchange(ctrl, C_ERR, 0, 1) === 0) writeError(e);
    Atomics.notify(ctrl, C_BAR_GEN);
  } finally {
    Atomics.add(ctrl, C_DONE, 1);
    Atomics.notify(ctrl, C_DONE);
  }
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
      lastSeq = seq;
      runFine();
      spinUntil = performance.now() + SPIN_AFTER_MS;
      continue;
    }
    if (busy > 0 || Atomics.load(taskCount, init.index) !== tasksSeen) break;
    if (performance.now() < spinUntil) continue;
    Atomics.wait(ctrl, C_SEQ, seq, 50);
    if (Atomics.load(ctrl, C_SEQ) === seq) break; // timed out or woken for a task: let the event loop run
  }
  if (busy > 0) setTimeout(idle, 0);
  else setImmediate(idle);
}

function setKeys(m: { relin?: KeyMsg & { seed?: Uint8Array }; galois?: [number, KeyMsg][] }): void {
  const relin = m.relin ? new RelinKey(ctx, SwitchingKey.fromPacked(ctx, m.relin.b, m.relin.a, m.relin.dnum, m.relin.seed)) : undefined;
  let galois: GaloisKeys | undefined;
  if (m.galois) {
    galois = new GaloisKeys(ctx);
    for (const [g, k] of m.galois) galois.keys.set(g, SwitchingKey.fromPacked(ctx, k.b, k.a, k.dnum));
  }
  evaluator = new Evaluator(ctx, { relin, galois });
}

port.on('message', (m: { t: string; id?: number; name?: string; payload?: unknown; relin?: KeyMsg; galois?: [number, KeyMsg][] }) => {
  if (m.t === 'keys') {
    tasksSeen++;
    setKeys(m as never);
    port.postMessage({ t: 'ack', id: m.id });
    return;
  }
  if (m.t !== 'task') return;
  tasksSeen++;
  busy++;
  const done = (ok: boolean, value: unknown) => {
    busy--;
    try {
      port.postMessage(ok ? { t: 'result', id: m.id, value } : { t: 'error', id: m.id, message: value instanceof Error ? (value.stack ?? value.message) : String(value) });
    } catch (e) {
      port.postMessage({ t: 'error', id: m.id, message: `result could not be posted: ${e instanceof Error ? e.message : String(e)}` });
    }
  };
  try {
    const h = taskRegistry().get(m.name!);
    if (!h) throw new Error(`unknown task '${m.name}' (registered: ${[...taskRegistry().keys()].join(', ') || 'none'})`);
    Promise.resolve(h(env, m.payload)).then((v) => done(true, v), (e) => done(false, e));
  } catch (e) {
    done(false, e);
  }
});

async function start(): Promise<void> {
  for (const url of init.modules) {
    const mod = (await import(url)) as { register?: (r: typeof import('./pool-protocol.js').registerTask) => void };
    if (typeof mod.register === 'function') mod.register((await import('./pool-protocol.js')).registerTask);
  }
  port.postMessage({ t: 'ready' });
  if (init.helper) setImmediate(idle);
}

start().catch((e) => port.postMessage({ t: 'fatal', message: e instanceof Error ? (e.stack ?? e.message) : String(e) }));

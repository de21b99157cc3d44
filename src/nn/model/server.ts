/**
 * @module nn/model/server
 *
 * The server side of private inference (protocol in `model.ts`): it holds the model and the
 * client's evaluation keys, checks every bundle against the plan, and runs the layout's encrypted
 * runner (batch, channel or packed, with bootstraps where placed) on ciphertexts only.
 */
import {
  type Ciphertext, CkksContext, Encoder, Evaluator, GaloisKeys, KeyMismatchError, WorkerPool, RelinKey,
  deserializeCiphertext, deserializeGaloisKeys, deserializeParameters, deserializeRelinKey,
  serializeCiphertext,
} from '../../ckks/index.js';
import { InternalError, InvalidArgumentError, brief } from '../../errors.js';
import { fixCode } from '../../fixes.js';
import { type NodeTiming, type Progress, BatchRunner } from '../batch/runner.js';
import { type BundleSource, BundleError, openBundle, packBundle, unpackBundle } from './bundle.js';
import { ChannelRunner, type ChannelTensor } from '../channel/index.js';
import { sizeOf } from '../graph.js';
import { PackedRunner } from '../packed/index.js';
import {
  type BootstrapTiming, type Bootstrapper, type EncapsulationKeys, bootstrapRunner, makeBootstrapper,
  openBootstrapKeys,
} from './bootstrap.js';
import { isId, keyLevels, sameShape } from './wire.js';
import type { Model } from './model.js';

/** URL of the worker-side task module (the built .js next to this file, also when running from sources). */
function batchTasksUrl(): string {
  const here = new URL(import.meta.url);
  if (here.pathname.endsWith('.ts')) return here.href.replace(/\/src\/nn\/model\/server\.ts$/, '/dist/src/nn/batch/tasks.js');
  return new URL('../batch/tasks.js', here).href;
}

/**
 * Server: holds the model and the client's evaluation keys; sees only ciphertexts. Everything it
 * receives is checked against the model's plan before any work (see the module header).
 *
 * @example
 * ```ts
 * const server = new Server(model, keysFromClient);   // BundleError, KeyMismatchError, …
 * const output = server.infer(inputFromClient);        // bytes back to the client
 * ```
 */
export class Server {
  readonly model: Model;
  readonly ctx: CkksContext;
  readonly evaluator: Evaluator;
  readonly encoder: Encoder;
  timings: NodeTiming[] = [];
  /** Worker pool when created with `Server.create(…, { threads })`. */
  pool?: WorkerPool;
  /** Id of the client's secret key, from its evaluation keys; inputs must carry the same. */
  readonly keyId: string;
  /** One entry per bootstrap of the last `infer` (bootstrapped models): the value, its level, its divisor, ms. */
  bootstraps: BootstrapTiming[] = [];
  private keys: { relin: RelinKey; galois?: GaloisKeys };
  private encapsulation?: EncapsulationKeys;
  /** Built on the first bootstrapped `infer` (it encodes the DFT factors: large at N = 2^16). */
  private booter?: Bootstrapper;

  /**
   * A server using `threads` threads: the batch layout splits every layer's independent output
   * ciphertexts over a worker pool; the channel layout splits each key switch, rotation and
   * rescale by limbs. Call `close()` when done.
   *
   * @throws InvalidArgumentError if threads is not an integer in 1..256; as the constructor
   */
  static async create(model: Model, evaluationKeys: Uint8Array | BundleSource, opts: { threads?: number } = {}): Promise<Server> {
    const threads = opts.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw new InvalidArgumentError(`threads = ${brief(threads)}`, 'use an integer number of threads in 1..256 (2 uses both cores of a 2-core machine)');
    // keys are read straight into shared memory when a pool will use them (no second copy)
    const s = new Server(model, evaluationKeys, { shared: threads > 1 });
    if (threads > 1) {
      const pool = await WorkerPool.create(s.ctx.params, { threads, modules: model.layout === 'batch' ? [batchTasksUrl()] : [] });
      s.pool = pool;
      if (model.layout === 'batch') await pool.setKeys(s.keys);
      else (s as { evaluator: Evaluator }).evaluator = new Evaluator(s.ctx, s.keys, { pool });
    }
    return s;
  }

  /** Stops the worker pool, if any. */
  async close(): Promise<void> {
    await this.pool?.close();
  }

  /**
   * A server for `model` with a client's evaluation keys (the bytes of `Client.evaluationKeys`, or
   * a `BundleSource` over them, e.g. a file: then each key is read when it is loaded, and the
   * bundle is never one buffer). `shared`: load the keys into shared memory (for a worker pool).
   *
   * @throws BundleError if the bytes are not evaluation keys for this model (kind, layout, chunk
   *   count, parameters, Galois elements other than the plan's)
   * @throws KeyMismatchError if the keys inside carry different key ids
   * @throws SerializationError, FormatVersionError, ContextMismatchError for corrupted bytes,
   *   another format version, or keys made under other parameters
   */
  constructor(model: Model, evaluationKeys: Uint8Array | BundleSource, opts: { shared?: boolean } = {}) {
    this.model = model;
    const plan = model.plan;
    const shared = opts.shared ?? false;
    const bundle = openBundle(evaluationKeys);
    const header = bundle.header;
    if (header.kind !== 'evaluation-keys') throw new BundleError(`expected evaluation keys, got ${brief(header.kind)}`, `pass the bytes of ${fixCode.evaluationKeys()}`);
    if (header.layout !== plan.layout) throw new BundleError(`the keys were made for the ${brief(header.layout)} layout, the model runs ${plan.layout}`, `make the client from this model's plan: ${fixCode.freshPlan()}`);
    if (!isId(header.keyId)) throw new BundleError(`the keys' key id ${brief(header.keyId)} is not 16 hex digits`);
    const perKey = header.galois === 'per-key';
    if (header.galois !== undefined && !perKey) throw new BundleError(`unknown Galois key packing ${brief(header.galois)}`);
    if (header.chunks < 2) throw new BundleError(`the keys have ${header.chunks} parts, the plan needs at least 2 (parameters, relinearization key${plan.rotations.length ? ', Galois keys' : ''})`);
    const P = deserializeParameters(bundle.chunk(0));
    if (P.hash !== model.params.hash) throw new BundleError(`the keys were made for parameters ${P.hash}, the model uses ${model.params.hash}`, `make the client from this model's plan: ${fixCode.freshPlan()}`);
    this.ctx = new CkksContext(P);
    const bk = openBootstrapKeys(this.ctx, bundle, model.bootstrap && { bp: model.bootstrap.bp, preset: plan.bootstrap!.preset }, plan.rotations, shared);
    if (bk) {
      this.keyId = bk.keyId;
      this.keys = { relin: bk.relin, galois: bk.galois };
      this.encapsulation = bk.encapsulation;
      this.evaluator = new Evaluator(this.ctx, this.keys);
      this.encoder = new Encoder(this.ctx);
      return;
    }
    // exactly the Galois elements of the plan's rotations (with the level each runs at), checked
    // before any key is read
    const need = keyLevels(this.ctx, plan.rotations, plan.rotationLevels);
    const want = plan.rotations.length ? (perKey ? 2 + need.size : 3) : 2;
    if (header.chunks !== want) {
      throw new BundleError(`the keys have ${header.chunks} parts, the plan needs ${want} (parameters, relinearization key${want > 2 ? (perKey ? `, ${need.size} Galois keys` : ', Galois keys') : ''})`);
    }
    this.keyId = header.keyId;
    const relin: RelinKey = deserializeRelinKey(this.ctx, bundle.chunk(1), { shared });
    if (relin.keyId !== this.keyId) throw new KeyMismatchError('the relinearization key', relin.keyId ?? 'none', this.keyId, `send the bytes of one ${fixCode.evaluationKeys()} call unchanged`);
    let galois: GaloisKeys | undefined;
    if (want > 2) {
      const elements = [...need.keys()];
      if (perKey) {
        // one key per chunk, read one at a time (a chunk's bytes are dropped once its key is loaded)
        galois = new GaloisKeys(this.ctx, this.keyId);
        elements.forEach((g, i) => {
          const one = deserializeGaloisKeys(this.ctx, bundle.chunk(2 + i), { elements: [g], shared });
          if (one.keyId !== this.keyId) throw new KeyMismatchError(`Galois key ${i}`, one.keyId ?? 'none', this.keyId, `send the bytes of one ${fixCode.evaluationKeys()} call unchanged`);
          galois!.keys.set(g, one.keys.get(g)!);
        });
      } else {
        galois = deserializeGaloisKeys(this.ctx, bundle.chunk(2), { elements, shared });
        if (galois.keyId !== this.keyId) throw new KeyMismatchError('the Galois keys', galois.keyId ?? 'none', this.keyId, `send the bytes of one ${fixCode.evaluationKeys()} call unchanged`);
      }
      for (const [g, { step, level }] of need) {
        const k = galois.keys.get(g)!;
        if (k.maxLevel < level) {
          throw new BundleError(`the Galois key for rotation by ${step} is capped at level ${k.maxLevel}, the plan rotates by it at level ${level}`, `make the client from this model's plan: ${fixCode.freshPlan()}`);
        }
      }
    }
    this.keys = { relin, ...(galois ? { galois } : {}) };
    this.evaluator = new Evaluator(this.ctx, this.keys);
    this.encoder = new Encoder(this.ctx);
  }

  /** {@link infer}, using the worker pool when the server has one (batch layout). */
  async inferAsync(input: Uint8Array, onProgress?: Progress): Promise<Uint8Array> {
    if (!this.pool || this.model.layout !== 'batch') return this.infer(input, onProgress);
    const { cts, count, request } = this.openInput(input, true);
    const plan = this.model.plan;
    const runner = new BatchRunner(this.model.graph, this.evaluator, this.encoder, onProgress);
    const out = await runner.runParallel({ shape: [...plan.inputShape], cts, count }, this.pool);
    this.timings = runner.timings;
    return this.output(out.cts as Ciphertext[], count, request);
  }

  /** The output bundle: the plan's output shape, the input's count and request, this key id. */
  private output(cts: readonly Ciphertext[], count: number, request: string): Uint8Array {
    const plan = this.model.plan;
    if (cts.length !== plan.outputCiphertexts) throw new InternalError(`${cts.length} output ciphertexts, the plan has ${plan.outputCiphertexts}`);
    return packBundle({ kind: 'output', layout: plan.layout, shape: plan.outputShape, count, keyId: this.keyId, request },
      cts.map((c) => serializeCiphertext(c, { keyId: this.keyId })));
  }

  /**
   * The input bundle's ciphertexts (in shared memory for the worker pool when `shared`), after
   * checking the header and every ciphertext against the plan and the evaluation keys.
   */
  private openInput(input: Uint8Array, shared = false): { cts: Ciphertext[]; count: number; request: string } {
    const plan = this.model.plan;
    const P = this.ctx.params;
    const { header, chunks } = unpackBundle(input);
    if (header.kind !== 'input') throw new BundleError(`expected an input bundle, got ${brief(header.kind)}`, `pass the bytes of ${fixCode.encryptCall()}`);
    if (header.layout !== plan.layout) throw new BundleError(`input was encrypted for the ${brief(header.layout)} layout, the model runs ${plan.layout}`, `make the client from this model's plan: ${fixCode.freshPlan()}`);
    if (header.keyId !== this.keyId) {
      throw new KeyMismatchError('the input', isId(header.keyId) ? header.keyId : brief(header.keyId), this.keyId);
    }
    if (!isId(header.request)) throw new BundleError(`request id ${brief(header.request)} is not 16 hex digits`);
    if (!sameShape(header.shape, plan.inputShape)) throw new BundleError(`input shape ${brief(header.shape)} is not the plan's [${plan.inputShape}]`);
    const maxCount = plan.layout === 'batch' ? P.slots : 1;
    const count = header.count;
    if (!Number.isSafeInteger(count) || (count as number) < 1 || (count as number) > maxCount) throw new BundleError(`image count ${brief(count)} is not an integer in [1, ${maxCount}]`);
    const want = plan.layout === 'batch' ? sizeOf(plan.inputShape) : plan.layout === 'channel' ? plan.inputShape[0] : 1;
    if (chunks.length !== want) throw new BundleError(`input has ${chunks.length} ciphertexts, the plan needs ${want}`);
    // fresh inputs sit at the top level, or at the top user level U of a bootstrapped plan
    const top = plan.bootstrap?.inputLevel ?? P.levels;
    const cts = chunks.map((c, i) => {
      const ct = deserializeCiphertext(this.ctx, c, { shared });
      if (ct.keyId !== this.keyId) throw new KeyMismatchError(`input ciphertext ${i}`, ct.keyId ?? 'none', this.keyId);
      if (ct.level !== top || ct.degree !== 1 || Math.abs(ct.scale - P.scales[top]) > 1e-9 * P.scales[top]) {
        throw new BundleError(`input ciphertext ${i} is at level ${ct.level}, degree ${ct.degree}, scale 2^${Math.log2(ct.scale).toFixed(3)}; fresh inputs are at level ${top}, degree 1, scale 2^${Math.log2(P.scales[top]).toFixed(3)}`);
      }
      return ct;
    });
    return { cts, count: count as number, request: header.request };
  }

  /**
   * Runs the model on an encrypted input bundle; returns the encrypted output bundle.
   *
   * @throws BundleError if the input does not match the plan (kind, layout, shape, image count,
   *   ciphertext count, level or scale); KeyMismatchError if it is under another client's key;
   *   SerializationError, FormatVersionError, ContextMismatchError for corrupted or foreign bytes
   */
  infer(input: Uint8Array, onProgress?: Progress): Uint8Array {
    const { cts, count, request } = this.openInput(input);
    const plan = this.model.plan;
    const boot = this.model.bootstrap;
    if (boot) {
      const booter = () => (this.booter ??= makeBootstrapper(this.ctx, boot.bp, this.evaluator, this.encoder, this.encapsulation!));
      const run = bootstrapRunner(this.model.layout, this.model.graph, { packed: this.model.packedPlan, channelInput: plan.channelInput }, boot, booter, this.evaluator, this.encoder, onProgress)(cts);
      this.timings = run.timings;
      this.bootstraps = run.bootstraps;
      return this.output(run.outputs, 1, request);
    }
    if (this.model.layout === 'packed') {
      const runner = new PackedRunner(this.model.graph, this.model.packedPlan!, this.evaluator, this.encoder, onProgress);
      const out = runner.run(cts[0]);
      this.timings = runner.timings;
      return this.output([out], 1, request);
    }
    if (this.model.layout === 'channel') {
      const runner = new ChannelRunner(this.model.graph, this.evaluator, this.encoder, onProgress);
      const out: ChannelTensor = runner.run({ shape: [...plan.inputShape], cts, layout: plan.channelInput! });
      this.timings = runner.timings;
      return this.output(out.cts, 1, request);
    }
    const runner = new BatchRunner(this.model.graph, this.evaluator, this.encoder, onProgress);
    const out = runner.run({ shape: [...plan.inputShape], cts, count });
    this.timings = runner.timings;
    return this.output(out.cts as Ciphertext[], count, request);
  }
}

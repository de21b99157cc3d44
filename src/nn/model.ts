/**
 * @module nn/model
 * The private-inference API: compile an ONNX model once (server side, it holds the weights), give
 * the client a public plan (parameters, layout, shapes; no weights), and exchange only bytes:
 *   client: keys → evaluation keys (bytes) and encrypted input (bytes)
 *   server: encrypted input + evaluation keys → encrypted logits (bytes)
 *   client: decrypts the logits with the secret key, which never leaves it.
 */
import {
  type Ciphertext, CkksContext, Decryptor, Encoder, Encryptor, Evaluator, GaloisKeys, KeyGenerator, LevelError, Parameters, type ParametersLiteral,
  WorkerPool,
  RelinKey, type SecretKey, deserializeCiphertext, deserializeGaloisKeys, deserializeParameters, deserializeRelinKey, serializeCiphertext,
  serializeGaloisKeys, serializeParameters, serializeRelinKey,
} from '../ckks/index.js';
import type { RandomSource } from '../ring/prng.js';
import { type NodeTiming, type Progress, BatchRunner, decryptBatch, encryptBatchEach } from './batch.js';
import { BundleError, packBundle, unpackBundle } from './bundle.js';
import { ChannelRunner, type ChannelTensor, type SlotLayout, decryptChannels, encryptChannels, planChannel } from './channel.js';
import {
  type CompileOptions, type CompiledModel, type Layout, type ParallelOptions, compileModel, compileModelAsync, planLevels, simulate, simulateAsync,
} from './compile.js';
import { type IrGraph, type Tensor, sizeOf } from './graph.js';
import { importOnnx } from './onnx.js';
import { type PackedLayoutSpec, type PackedPlan, decryptPacked, encryptPacked, layoutFromSpec, layoutSpec, PackedRunner, planPacked } from './packed/index.js';
import { type ChooseOptions, type MemoryEstimate, chooseParameters, estimateMemory } from './params.js';

/** The public part of a compiled model: what a client needs, no weights. JSON-serializable. */
export interface ModelPlan {
  format: 'veil-plan/1';
  name: string;
  layout: Layout;
  params: ParametersLiteral;
  inputShape: number[];
  outputShape: number[];
  depth: number;
  /** Galois steps (channel layout). */
  rotations: number[];
  /** Input slot layout (channel layout). */
  channelInput?: SlotLayout;
  /** Input and output slot layouts (packed layout). */
  packedInput?: PackedLayoutSpec;
  packedOutput?: PackedLayoutSpec;
}

/** Options of {@link Model.compile}. */
export interface ModelOptions extends CompileOptions, ChooseOptions {
  layout?: Layout;
  /** Explicit CKKS parameters instead of the automatic choice. */
  params?: ParametersLiteral;
  /**
   * Tests and experiments only: run at this (small, insecure) ring degree with exactly the levels
   * the network needs. Never for real data.
   */
  insecureLogN?: number;
}

/** A compiled model with its parameters and plan (server side). */
export class Model {
  readonly compiled: CompiledModel;
  readonly params: Parameters;
  readonly plan: ModelPlan;
  readonly layout: Layout;
  /** The packed layout's plan (packed layout only). */
  readonly packedPlan?: PackedPlan;

  private constructor(compiled: CompiledModel, layout: Layout, opts: ModelOptions) {
    this.compiled = compiled;
    this.layout = layout;
    const g = compiled.graph;
    let depth = planLevels(g, layout).depth;
    let minLogN = opts.minLogN ?? 13;
    if (layout === 'packed') {
      // the depth does not depend on the ring; the largest layout period sets the smallest ring
      const probe = planPacked(g, 1 << 15);
      depth = probe.levels.depth;
      const period = Math.max(...[...probe.layouts.values()].map((l) => l.period));
      minLogN = Math.max(minLogN, Math.log2(period) + 1);
    }
    this.params = opts.params ? new Parameters(opts.params)
      : opts.insecureLogN ? new Parameters({ logN: opts.insecureLogN, levels: depth, insecure: true })
        : chooseParameters(depth, { ...opts, minLogN });
    if (this.params.levels < depth) throw new LevelError(depth, this.params.levels, `the compiled network in the ${layout} layout`);
    let rotations: number[] = [];
    let channelInput: SlotLayout | undefined;
    if (layout === 'channel') {
      const cp = planChannel(g, this.params.slots);
      rotations = cp.rotations;
      channelInput = cp.input;
    }
    let packed: { packedInput: PackedLayoutSpec; packedOutput: PackedLayoutSpec } | undefined;
    if (layout === 'packed') {
      this.packedPlan = planPacked(g, this.params.slots);
      rotations = this.packedPlan.rotations;
      packed = { packedInput: layoutSpec(this.packedPlan.input), packedOutput: layoutSpec(this.packedPlan.output) };
    }
    this.plan = {
      format: 'veil-plan/1', name: g.name, layout, params: this.params.toLiteral(), inputShape: [...g.input.shape],
      outputShape: [...g.output.shape], depth, rotations, ...(channelInput ? { channelInput } : {}), ...(packed ?? {}),
    };
  }

  /** Compiles an imported graph, calibrating on [N, ...input] data. */
  static compile(graph: IrGraph, calibration: Tensor, opts: ModelOptions = {}): Model {
    return new Model(compileModel(graph, calibration, opts), opts.layout ?? 'batch', opts);
  }

  /**
   * {@link compile} with the compilation's passes on worker threads (`threads`, or a shared `pool`);
   * the same model. `onProgress` reports each stage.
   *
   * @example
   * ```ts
   * const model = await Model.compileAsync(graph, calib, { threads: 2, onProgress: (s, d, t) => console.error(`${s} ${d}/${t}`) });
   * ```
   */
  static async compileAsync(graph: IrGraph, calibration: Tensor, opts: ModelOptions & ParallelOptions = {}): Promise<Model> {
    return new Model(await compileModelAsync(graph, calibration, opts), opts.layout ?? 'batch', opts);
  }

  /**
   * A model for another layout or parameter choice from an existing compilation (the compilation
   * does not depend on the layout, so nothing is recompiled).
   */
  static fromCompiled(compiled: CompiledModel, opts: ModelOptions = {}): Model {
    return new Model(compiled, opts.layout ?? 'batch', opts);
  }

  /** Imports ONNX bytes and compiles. */
  static fromOnnx(onnx: Uint8Array, calibration: Tensor, opts: ModelOptions = {}): Model {
    return Model.compile(importOnnx(onnx), calibration, opts);
  }

  get graph(): IrGraph {
    return this.compiled.graph;
  }

  /** Float64 simulation of the encrypted computation (polynomials, folded weights). */
  simulate(x: Tensor): Tensor {
    return simulate(this.compiled, x);
  }

  /** {@link simulate} on worker threads (`threads` or a shared `pool`); the same result. */
  simulateAsync(x: Tensor, opts: ParallelOptions = {}): Promise<Tensor> {
    return simulateAsync(this.compiled, x, opts);
  }

  /** Predicted memory of one run (ciphertexts + evaluation keys). */
  memory(): MemoryEstimate {
    return estimateMemory(this.graph, this.params, this.layout, this.plan.rotations.length);
  }

  /** Images per run: all slots in the batch layout, one in the channel layout. */
  get imagesPerRun(): number {
    return this.layout === 'batch' ? this.params.slots : 1;
  }
}

/** Client: holds the secret key; encrypts inputs and decrypts results. */
export class Client {
  readonly plan: ModelPlan;
  readonly ctx: CkksContext;
  readonly encoder: Encoder;
  private readonly sk: SecretKey;
  private readonly encryptor: Encryptor;
  private readonly decryptor: Decryptor;
  private readonly keygen: KeyGenerator;

  constructor(plan: ModelPlan, rng?: RandomSource) {
    if (plan.format !== 'veil-plan/1') throw new BundleError(`unknown plan format '${String(plan.format)}'`);
    this.plan = plan;
    this.ctx = new CkksContext(plan.params);
    this.encoder = new Encoder(this.ctx);
    this.keygen = new KeyGenerator(this.ctx, rng);
    this.sk = this.keygen.genSecretKey();
    // The client holds the secret key, so it encrypts with it: fresh noise is smaller than with the
    // public key, and each ciphertext can be sent as (c0, seed of c1), half the bytes.
    this.encryptor = new Encryptor(this.ctx, this.sk);
    this.decryptor = new Decryptor(this.ctx, this.sk);
  }

  /** Parameters, relinearization key and the plan's Galois keys, as bytes for the server. */
  evaluationKeys(): Uint8Array {
    const rk = this.keygen.genRelinKey(this.sk);
    const chunks = [serializeParameters(this.ctx.params), serializeRelinKey(rk)];
    if (this.plan.rotations.length) chunks.push(serializeGaloisKeys(this.keygen.genGaloisKeys(this.sk, this.plan.rotations)));
    return packBundle({ kind: 'evaluation-keys', layout: this.plan.layout }, chunks);
  }

  /** Encrypts a batch [n, ...input] (batch layout, n ≤ slots) or one image (channel layout). */
  encrypt(x: Tensor, onProgress?: (done: number, total: number) => void): Uint8Array {
    const want = this.plan.inputShape;
    const per = x.shape.slice(1);
    if (per.length !== want.length || per.some((d, i) => d !== want[i])) {
      throw new RangeError(`input shape [${x.shape}] does not match the model input [N,${want}]. Fix: reshape the input to [N,${want}]`);
    }
    if (this.plan.layout === 'packed') {
      if (x.shape[0] !== 1) throw new RangeError(`the packed layout encrypts one image, got ${x.shape[0]}. Fix: call encrypt once per image, or use the batch layout`);
      if (!this.plan.packedInput) throw new BundleError('packed plan without an input layout');
      const ct = encryptPacked(this.ctx, this.encoder, this.encryptor, layoutFromSpec(this.plan.packedInput, this.ctx.params.slots), x.data);
      return packBundle({ kind: 'input', layout: 'packed', shape: per, count: 1 }, [serializeCiphertext(ct, { seeded: true })]);
    }
    if (this.plan.layout === 'channel') {
      if (x.shape[0] !== 1) throw new RangeError(`the channel layout encrypts one image, got ${x.shape[0]}. Fix: call encrypt once per image, or use the batch layout`);
      if (!this.plan.channelInput) throw new BundleError('channel plan without an input layout');
      const t = encryptChannels(this.ctx, this.encoder, this.encryptor, this.plan.channelInput, x);
      return packBundle({ kind: 'input', layout: 'channel', shape: t.shape, count: 1 }, t.cts.map((c) => serializeCiphertext(c, { seeded: true })));
    }
    // serialized as they are made: the client holds bytes, never the whole encrypted tensor
    const chunks: Uint8Array[] = [];
    const t = encryptBatchEach(this.ctx, this.encoder, this.encryptor, x, (ct) => chunks.push(serializeCiphertext(ct, { seeded: true })), onProgress);
    return packBundle({ kind: 'input', layout: 'batch', shape: t.shape, count: t.count }, chunks);
  }

  /** Decrypts the server's output to [n, ...output]. */
  decrypt(bytes: Uint8Array): Tensor {
    const { header, chunks } = unpackBundle(bytes);
    if (header.kind !== 'output') throw new BundleError(`expected an output bundle, got '${String(header.kind)}'`);
    const cts = chunks.map((c) => deserializeCiphertext(this.ctx, c));
    const shape = header.shape as number[];
    if (header.layout === 'packed') {
      if (!this.plan.packedOutput) throw new BundleError('packed plan without an output layout');
      const values = decryptPacked(this.encoder, this.decryptor, layoutFromSpec(this.plan.packedOutput, this.ctx.params.slots), cts[0]);
      return { shape: [1, ...this.plan.outputShape], data: values };
    }
    if (header.layout === 'channel') {
      const layout = header.slotLayout as SlotLayout | undefined;
      return decryptChannels(this.encoder, this.decryptor, { shape, cts, ...(layout ? { layout } : {}) });
    }
    return decryptBatch(this.encoder, this.decryptor, { shape, cts, count: header.count as number });
  }
}

/** URL of the worker-side task module (the built .js next to this file, also when running from sources). */
function batchTasksUrl(): string {
  const here = new URL(import.meta.url);
  if (here.pathname.endsWith('.ts')) return here.href.replace(/\/src\/nn\/model\.ts$/, '/dist/src/nn/batch-tasks.js');
  return new URL('./batch-tasks.js', here).href;
}

/** Server: holds the model and the client's evaluation keys; sees only ciphertexts. */
export class Server {
  readonly model: Model;
  readonly ctx: CkksContext;
  readonly evaluator: Evaluator;
  readonly encoder: Encoder;
  timings: NodeTiming[] = [];
  /** Worker pool when created with `Server.create(…, { threads })`. */
  pool?: WorkerPool;
  private keys: { relin: RelinKey; galois?: GaloisKeys };

  /**
   * A server using `threads` threads: the batch layout splits every layer's independent output
   * ciphertexts over a worker pool; the channel layout splits each key switch, rotation and
   * rescale by limbs. Call `close()` when done.
   */
  static async create(model: Model, evaluationKeys: Uint8Array, opts: { threads?: number } = {}): Promise<Server> {
    const s = new Server(model, evaluationKeys);
    const threads = opts.threads ?? 1;
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

  constructor(model: Model, evaluationKeys: Uint8Array) {
    this.model = model;
    const { header, chunks } = unpackBundle(evaluationKeys);
    if (header.kind !== 'evaluation-keys') throw new BundleError(`expected evaluation keys, got '${String(header.kind)}'`);
    const P = deserializeParameters(chunks[0]);
    if (P.hash !== model.params.hash) throw new BundleError(`the keys were made for parameters ${P.hash}, the model uses ${model.params.hash}`);
    this.ctx = new CkksContext(P);
    const relin: RelinKey = deserializeRelinKey(this.ctx, chunks[1]);
    const galois: GaloisKeys | undefined = chunks[2] ? deserializeGaloisKeys(this.ctx, chunks[2]) : undefined;
    this.keys = { relin, ...(galois ? { galois } : {}) };
    this.evaluator = new Evaluator(this.ctx, this.keys);
    this.encoder = new Encoder(this.ctx);
  }

  /** {@link infer}, using the worker pool when the server has one (batch layout). */
  async inferAsync(input: Uint8Array, onProgress?: Progress): Promise<Uint8Array> {
    if (!this.pool || this.model.layout !== 'batch') return this.infer(input, onProgress);
    const { header, cts, shape } = this.openInput(input, true);
    const runner = new BatchRunner(this.model.graph, this.evaluator, this.encoder, onProgress);
    const out = await runner.runParallel({ shape, cts, count: header.count as number }, this.pool);
    this.timings = runner.timings;
    return packBundle({ kind: 'output', layout: 'batch', shape: out.shape, count: out.count }, out.cts.map((c) => serializeCiphertext(c!)));
  }

  /** The input bundle's ciphertexts (in shared memory for the worker pool when `shared`). */
  private openInput(input: Uint8Array, shared = false) {
    const { header, chunks } = unpackBundle(input);
    if (header.kind !== 'input') throw new BundleError(`expected an input bundle, got '${String(header.kind)}'`);
    if (header.layout !== this.model.layout) throw new BundleError(`input was encrypted for the ${String(header.layout)} layout, the model runs ${this.model.layout}`);
    const cts: Ciphertext[] = chunks.map((c) => deserializeCiphertext(this.ctx, c, { shared }));
    const shape = header.shape as number[];
    if (this.model.layout === 'batch' && cts.length !== sizeOf(shape)) throw new BundleError(`input has ${cts.length} ciphertexts for shape [${shape}]`);
    return { header, cts, shape };
  }

  /** Runs the model on an encrypted input bundle; returns the encrypted output bundle. */
  infer(input: Uint8Array, onProgress?: Progress): Uint8Array {
    const { header, cts, shape } = this.openInput(input);
    if (this.model.layout === 'packed') {
      const runner = new PackedRunner(this.model.graph, this.model.packedPlan!, this.evaluator, this.encoder, onProgress);
      const out = runner.run(cts[0]);
      this.timings = runner.timings;
      return packBundle({ kind: 'output', layout: 'packed', shape: [...this.model.plan.outputShape], count: 1 }, [serializeCiphertext(out)]);
    }
    if (this.model.layout === 'channel') {
      const plan = planChannel(this.model.graph, this.ctx.params.slots);
      const runner = new ChannelRunner(this.model.graph, this.evaluator, this.encoder, onProgress);
      const out: ChannelTensor = runner.run({ shape, cts, layout: plan.input });
      this.timings = runner.timings;
      return packBundle({ kind: 'output', layout: 'channel', shape: out.shape, count: 1, ...(out.layout ? { slotLayout: out.layout } : {}) }, out.cts.map((c) => serializeCiphertext(c)));
    }
    const runner = new BatchRunner(this.model.graph, this.evaluator, this.encoder, onProgress);
    const out = runner.run({ shape, cts, count: header.count as number });
    this.timings = runner.timings;
    return packBundle({ kind: 'output', layout: 'batch', shape: out.shape, count: out.count }, out.cts.map((c) => serializeCiphertext(c!)));
  }
}

/**
 * @module nn/model
 * The private-inference API: compile an ONNX model once (server side, it holds the weights), give
 * the client a public plan (parameters, layout, shapes, input range; no weights), and exchange
 * only bytes:
 *   client: keys → evaluation keys (bytes) and encrypted input (bytes)
 *   server: encrypted input + evaluation keys → encrypted logits (bytes)
 *   client: decrypts the logits with the secret key, which never leaves it.
 *
 * Both sides check what they receive against the plan before any work: the client checks inputs
 * (shape, finite values, calibrated range), the server checks bundles (kind, layout, shape, count,
 * ciphertext count, levels and scales, key id, Galois elements), the client checks outputs (kind,
 * layout, shape, the count of the request it answers, key id). Key ids (`SecretKey.id`, random
 * 64-bit) tie evaluation keys, inputs and outputs to one client; request ids (random 64-bit, in
 * the input and echoed in the output) tie an output to the input it answers.
 *
 * With `ModelOptions.bootstrap` the model runs on a bootstrapping set's parameters and refreshes
 * values between layers (`model-bootstrap.ts`: who holds what, the key bundle).
 */
import {
  type Ciphertext, CkksContext, Decryptor, Encoder, Encryptor, Evaluator, GaloisKeys, KeyGenerator, KeyMismatchError, LevelError, Parameters, type ParametersLiteral,
  WorkerPool,
  RelinKey, type SecretKey, deserializeCiphertext, deserializeGaloisKeys, deserializeParameters, deserializeRelinKey, serializeCiphertext,
  serializeGaloisKeys, serializeParameters, serializeRelinKey,
} from '../ckks/index.js';
import type { RandomSource } from '../ring/prng.js';
import { randomId64 } from '../ring/prng.js';
import { InternalError, InvalidArgumentError, brief } from '../errors.js';
import { fixCode } from '../fixes.js';
import { InputShapeError, type TensorLike, checkInputRange, validateTensor } from './io.js';
import { type NodeTiming, type Progress, BatchRunner, decryptBatch, encryptBatchEach } from './batch.js';
import { type BundleSource, BundleError, BundleWriter, openBundle, packBundle, unpackBundle } from './bundle.js';
import { type ChannelPlan, ChannelRunner, type ChannelTensor, type SlotLayout, decryptChannels, encryptChannels, planChannel } from './channel/index.js';
import {
  type CompileOptions, type CompiledModel, type Layout, type ParallelOptions, compileModel, compileModelAsync, planLevels, simulate, simulateAsync,
} from './compile.js';
import { type IrGraph, type Tensor, sizeOf } from './graph.js';
import { importOnnx } from './onnx.js';
import { type PackedPlan, decryptPacked, encryptPacked, layoutFromSpec, layoutSpec, PackedRunner, planPacked, rotationLevels } from './packed/index.js';
import { type ChooseOptions, type MemoryEstimate, chooseParameters, estimateMemory, keySwitchCost } from './params.js';
import { type ModelPlan, PLAN_FORMAT, validatePlan } from './plan.js';
import {
  type BootstrapOption, type BootstrapParameters, type BootstrapTiming, type ModelBootstraps, type Bootstrapper, type EncapsulationKeys, bootstrapRunner,
  bootstrapMemory, encryptPackedForBootstrap, makeBootstrapper, modelBootstrapOption, openBootstrapKeys, planBootstrapField, planBootstrapParameters, placeModelBootstraps, writeBootstrapKeys,
} from './model-bootstrap.js';

export type { ModelPlan } from './plan.js';

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
  /**
   * Bootstrapping set (`BOOTSTRAP_PRESETS` name or `{ preset, overrides }`; packed or channel layout): its
   * parameters, inputs at its top user level U, bootstraps wherever the network needs more than U
   * levels (none if it fits). Excludes `params` and `insecureLogN`.
   */
  bootstrap?: BootstrapOption;
  /** Calibration images [N, ...input] for the bootstrapped values' ranges (`fromCompiled` with `bootstrap`). */
  calibration?: Tensor;
}

/** A compiled model with its parameters and plan (server side). */
export class Model {
  readonly compiled: CompiledModel;
  readonly params: Parameters;
  readonly plan: ModelPlan;
  readonly layout: Layout;
  /** The packed layout's plan (packed layout only). */
  readonly packedPlan?: PackedPlan;
  /** The bootstrapping set and where the run bootstraps (with `ModelOptions.bootstrap`; never from a plan). */
  readonly bootstrap?: ModelBootstraps;

  private constructor(compiled: CompiledModel, layout: Layout, opts: ModelOptions, calibration?: Tensor) {
    const inputRange = compiled.inputRange;
    if (!inputRange) throw new InvalidArgumentError('the compilation records no calibrated input range', 'compile with compileModel or Model.compile (they record the calibration data\'s range)');
    this.compiled = compiled;
    this.layout = layout;
    const g = compiled.graph;
    let depth = planLevels(g, layout).depth;
    let minLogN = opts.minLogN ?? 13;
    let rotationDepths: number[] | undefined;
    let boot: ReturnType<typeof modelBootstrapOption> | undefined;
    if (opts.bootstrap !== undefined) {
      boot = modelBootstrapOption(opts);
      if (layout === 'packed') depth = planPacked(g, boot.bp.slots).levels.depth;
    } else if (layout === 'packed') {
      // the depth does not depend on the ring; the largest layout period sets the smallest ring
      const probe = planPacked(g, 1 << 15);
      depth = probe.levels.depth;
      const period = Math.max(...[...probe.layouts.values()].map((l) => l.period));
      minLogN = Math.max(minLogN, Math.log2(period) + 1);
      // many Galois keys, each capped at its level: K is chosen for the cheapest keys
      rotationDepths = probe.rotationDepths;
    }
    this.params = boot ? boot.bp.params : opts.params ? new Parameters(opts.params)
      : opts.insecureLogN ? new Parameters({ logN: opts.insecureLogN, levels: depth, insecure: true })
        : chooseParameters(depth, { ...opts, minLogN, ...(rotationDepths ? { rotationDepths } : {}) });
    if (!boot && this.params.levels < depth) throw new LevelError(depth, this.params.levels, `the compiled network in the ${layout} layout`);
    let rotations: number[] = [];
    let channelInput: SlotLayout | undefined;
    let channelOutput: SlotLayout | undefined;
    const outputSize = sizeOf(g.output.shape);
    let outputCiphertexts = outputSize;
    let channelPlan: ChannelPlan | undefined;
    if (layout === 'channel') {
      const cp = planChannel(g, this.params.slots);
      channelPlan = cp;
      rotations = cp.rotations;
      channelInput = cp.input;
      channelOutput = cp.vectors.has(g.output.name) ? undefined : cp.layouts.get(g.output.name);
      if (channelOutput) outputCiphertexts = outputSize / (channelOutput.H * channelOutput.W);
    }
    let packed: Pick<ModelPlan, 'packedInput' | 'packedOutput' | 'rotationLevels'> = {};
    if (layout === 'packed') {
      this.packedPlan = planPacked(g, this.params.slots);
      rotations = this.packedPlan.rotations;
      // inputs are encrypted at the top level: each key is capped at the level its step runs at;
      // bootstrapped, the network never rotates above the top user level U
      packed = {
        packedInput: layoutSpec(this.packedPlan.input), packedOutput: layoutSpec(this.packedPlan.output),
        rotationLevels: boot ? rotations.map(() => boot.bp.outputLevel) : rotationLevels(this.packedPlan, this.params.levels),
      };
      outputCiphertexts = 1;
    }
    if (boot) {
      this.bootstrap = placeModelBootstraps(layout, g, { packed: this.packedPlan, channel: channelPlan }, boot.bp, calibration ?? opts.calibration);
      // the channel layout's refreshes rotate channels into place and back: those keys too
      if (this.bootstrap.channel) rotations = [...new Set([...rotations, ...this.bootstrap.channel.rotations])].sort((a, b) => a - b);
    }
    this.plan = {
      format: PLAN_FORMAT, name: g.name, layout, params: this.params.toLiteral(), inputShape: [...g.input.shape],
      outputShape: [...g.output.shape], depth, rotations, ...(channelInput ? { channelInput } : {}),
      ...(channelOutput ? { channelOutput } : {}), ...packed, outputCiphertexts, inputRange,
      ...(boot && this.bootstrap ? { bootstrap: planBootstrapField(boot, this.bootstrap.calls) } : {}),
    };
  }

  /**
   * Compiles an imported graph, calibrating on [N, ...input] data. The calibration data's range
   * becomes the plan's input range: `Client.encrypt` refuses inputs far outside it.
   */
  static compile(graph: IrGraph, calibration: Tensor, opts: ModelOptions = {}): Model {
    return new Model(compileModel(graph, calibration, opts), opts.layout ?? 'batch', opts, calibration);
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
    return new Model(await compileModelAsync(graph, calibration, opts), opts.layout ?? 'batch', opts, calibration);
  }

  /**
   * A model for another layout or parameter choice from an existing compilation (the compilation
   * does not depend on the layout, so nothing is recompiled). With `bootstrap`, pass the
   * calibration images too (`calibration`): the bootstrapped values' ranges are taken over them.
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

  /** Predicted memory of one run (ciphertexts + evaluation keys; bootstrapped: the bootstrapping keys too). */
  memory(): MemoryEstimate {
    if (this.bootstrap) return bootstrapMemory(this.graph, this.params, this.layout, this.bootstrap.bp, this.plan.rotations);
    const depths = this.packedPlan?.rotationDepths;
    return estimateMemory(this.graph, this.params, this.layout, this.plan.rotations.length, depths ? keySwitchCost(this.params, depths).bytes : undefined);
  }

  /** Images per run: all slots in the batch layout, one in the channel layout. */
  get imagesPerRun(): number {
    return this.layout === 'batch' ? this.params.slots : 1;
  }
}

/**
 * Galois element → a step of it and the highest level any of its steps runs at, in increasing
 * element order (the order of per-key chunks). Steps without a level run at the top.
 */
function keyLevels(ctx: CkksContext, rotations: readonly number[], levels?: readonly number[]): Map<number, { step: number; level: number }> {
  const m = new Map<number, { step: number; level: number }>();
  rotations.forEach((step, i) => {
    const g = ctx.galoisElement(step);
    if (g === 1) return;
    const level = levels?.[i] ?? ctx.params.levels;
    const e = m.get(g);
    if (!e || e.level < level) m.set(g, { step, level });
  });
  return new Map([...m].sort((a, b) => a[0] - b[0]));
}

/** Requests a client remembers (id → image count) to check the outputs that answer them. */
const MAX_REQUESTS = 1 << 16;

const sameShape = (a: unknown, b: readonly number[]): boolean => Array.isArray(a) && a.length === b.length && a.every((d, i) => d === b[i]);
const isId = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{16}$/.test(v);

/**
 * Client: holds the secret key; encrypts inputs and decrypts results.
 *
 * @example
 * ```ts
 * const client = new Client(model.plan);              // or parsePlan(json) from the server
 * const server = new Server(model, client.evaluationKeys());
 * const logits = client.decrypt(server.infer(client.encrypt(x)));
 * ```
 */
export class Client {
  readonly plan: ModelPlan;
  readonly ctx: CkksContext;
  readonly encoder: Encoder;
  private readonly sk: SecretKey;
  private readonly encryptor: Encryptor;
  private readonly decryptor: Decryptor;
  private readonly keygen: KeyGenerator;
  private readonly rng?: RandomSource;
  /** The plan's bootstrapping set (bootstrapped plans). */
  private readonly bp?: BootstrapParameters;
  /** Image count of every request this client encrypted (the most recent MAX_REQUESTS). */
  private readonly requests = new Map<string, number>();

  /**
   * A client for a model's plan: validates the plan, then generates a secret key.
   *
   * @throws PlanError for a malformed plan; FormatVersionError for a plan of another format
   */
  constructor(plan: ModelPlan, rng?: RandomSource) {
    const checked = validatePlan(plan);
    this.plan = checked.plan;
    this.ctx = new CkksContext(checked.params);
    this.encoder = new Encoder(this.ctx);
    this.keygen = new KeyGenerator(this.ctx, rng);
    this.rng = rng;
    if (checked.plan.bootstrap) this.bp = planBootstrapParameters(checked.plan.bootstrap);
    this.sk = this.keygen.genSecretKey();
    // The client holds the secret key, so it encrypts with it: fresh noise is smaller than with the
    // public key, and each ciphertext can be sent as (c0, seed of c1), half the bytes.
    this.encryptor = new Encryptor(this.ctx, this.sk);
    this.decryptor = new Decryptor(this.ctx, this.sk);
  }

  /** Id of this client's secret key (16 hex digits), carried by its keys, inputs and outputs. */
  get keyId(): string {
    return this.sk.id;
  }

  /** Parameters, relinearization key and the plan's Galois keys, as bytes for the server. */
  evaluationKeys(): Uint8Array {
    const parts: Uint8Array[] = [];
    this.writeEvaluationKeys((p) => parts.push(p));
    let total = 0;
    for (const p of parts) total += p.length;
    const out = new Uint8Array(total);
    total = 0;
    for (const p of parts) {
      out.set(p, total);
      total += p.length;
    }
    return out;
  }

  /**
   * {@link evaluationKeys} written part by part to `sink` (a file, a socket): the same bytes, never
   * one buffer. Each key is generated, serialized and handed over before the next, so the client
   * holds one key at a time (the keys are gigabytes at N = 2^16). Returns the bytes written.
   *
   * With per-rotation levels in the plan (packed layout), one chunk per Galois key (increasing
   * Galois element), each key capped at the highest level its steps run at; otherwise one chunk
   * with every key at the top level. With a bootstrap plan, the bootstrapping key set: one chunk per
   * Galois key (the bootstrap's at full height, the network's capped at U), then the encapsulation
   * keys (`model-bootstrap.ts`).
   */
  writeEvaluationKeys(sink: (part: Uint8Array) => void): number {
    const header: Record<string, unknown> = { kind: 'evaluation-keys', layout: this.plan.layout, keyId: this.sk.id };
    if (this.bp) return writeBootstrapKeys(this.keygen, this.sk, this.bp, this.plan.rotations, header, sink, this.rng);
    const { rotations, rotationLevels: levels } = this.plan;
    const perKey = rotations.length > 0 && levels !== undefined;
    const need = keyLevels(this.ctx, rotations, levels);
    if (perKey) header.galois = 'per-key';
    const w = new BundleWriter(header, 2 + (perKey ? need.size : rotations.length ? 1 : 0), sink);
    w.add(serializeParameters(this.ctx.params));
    w.add(serializeRelinKey(this.keygen.genRelinKey(this.sk)));
    if (perKey) {
      for (const [, { step, level }] of need) w.add(serializeGaloisKeys(this.keygen.genGaloisKeys(this.sk, [step], { maxLevel: level })));
    } else if (rotations.length) w.add(serializeGaloisKeys(this.keygen.genGaloisKeys(this.sk, rotations)));
    return w.finish();
  }

  /**
   * Encrypts a batch [n, ...input] (batch layout, n ≤ slots) or one image [1, ...input] (channel
   * layout), as bytes for the server. `onProgress(done, total)` reports ciphertexts (batch layout).
   *
   * @throws InputShapeError if the shape is not [n, ...plan.inputShape], n exceeds the slots
   *   (batch) or is not 1 (channel layout), or the data length does not match the shape
   * @throws NonFiniteInputError for NaN or ±Infinity
   * @throws InputRangeError for a value far outside the calibrated input range (e.g. pixels
   *   0–255 for a model calibrated on 0–1: divide by 255)
   */
  encrypt(x: TensorLike, onProgress?: (done: number, total: number) => void): Uint8Array {
    const want = this.plan.inputShape;
    const shape = (x as { shape?: unknown } | null)?.shape;
    if (!Array.isArray(shape) || shape.length !== want.length + 1 || shape.slice(1).some((d, i) => d !== want[i])) {
      throw new InputShapeError(`input shape ${brief(shape)} does not match the model input [N,${want}]`, ['N', ...want], Array.isArray(shape) ? [...shape] : [],
        `reshape the input to [N,${want}] (NCHW, batch first)`);
    }
    const t = validateTensor(x, ['N', ...want]);
    const n = t.shape[0];
    const slots = this.ctx.params.slots;
    if (this.plan.layout !== 'batch' && n !== 1) {
      throw new InputShapeError(`the ${this.plan.layout} layout encrypts one image per call, got ${n}`, [1, ...want], [...t.shape],
        `call encrypt once per image, e.g. ${fixCode.encryptOne()}, or compile the model for the batch layout`);
    }
    if (n > slots) throw new InputShapeError(`${n} images do not fit in the ${slots} slots of one run`, ['N', ...want], [...t.shape], `split the batch into runs of at most ${slots} images`);
    checkInputRange(t, this.plan.inputRange);
    const request = randomId64();
    if (this.requests.size >= MAX_REQUESTS) this.requests.delete(this.requests.keys().next().value as string);
    this.requests.set(request, n);
    const keyId = this.sk.id;
    if (this.plan.layout === 'packed') {
      const layout = layoutFromSpec(this.plan.packedInput!, this.ctx.params.slots); // bootstrapped: at level U, scale params.scales[U]
      const ct = this.bp ? encryptPackedForBootstrap(this.ctx, this.encoder, this.encryptor, this.bp, layout, t.data) : encryptPacked(this.ctx, this.encoder, this.encryptor, layout, t.data);
      return packBundle({ kind: 'input', layout: 'packed', shape: [...want], count: 1, keyId, request }, [serializeCiphertext(ct, { seeded: true })]);
    }
    if (this.plan.layout === 'channel') {
      const ct = encryptChannels(this.ctx, this.encoder, this.encryptor, this.plan.channelInput!, t, this.plan.bootstrap?.inputLevel ?? this.ctx.params.levels);
      return packBundle({ kind: 'input', layout: 'channel', shape: ct.shape, count: 1, keyId, request }, ct.cts.map((c) => serializeCiphertext(c, { seeded: true })));
    }
    // serialized as they are made: the client holds bytes, never the whole encrypted tensor
    const chunks: Uint8Array[] = [];
    const e = encryptBatchEach(this.ctx, this.encoder, this.encryptor, t, (ct) => chunks.push(serializeCiphertext(ct, { seeded: true })), onProgress);
    return packBundle({ kind: 'input', layout: 'batch', shape: e.shape, count: e.count, keyId, request }, chunks);
  }

  /**
   * Decrypts the server's output to [n, ...outputShape], n the image count of the input it answers.
   *
   * @throws BundleError if the bytes are not an output bundle of this plan, or do not answer an
   *   input this client encrypted (unknown request, other image count, shape or ciphertext count)
   * @throws KeyMismatchError if the output is under another client's key
   * @throws SerializationError, FormatVersionError for corrupted bytes or another format version
   */
  decrypt(bytes: Uint8Array): Tensor {
    const { header, chunks } = unpackBundle(bytes);
    const plan = this.plan;
    if (header.kind !== 'output') throw new BundleError(`expected an output bundle, got ${brief(header.kind)}`, 'pass the bytes the server returned from infer');
    if (header.layout !== plan.layout) throw new BundleError(`the output is for the ${brief(header.layout)} layout, the plan runs ${plan.layout}`);
    if (header.keyId !== this.sk.id) {
      throw new KeyMismatchError('the output', isId(header.keyId) ? header.keyId : brief(header.keyId), this.sk.id,
        `decrypt with the client whose encrypted input and evaluation keys the server used: ${fixCode.decryptSameClient()}`);
    }
    const count = isId(header.request) ? this.requests.get(header.request) : undefined;
    if (count === undefined) throw new BundleError(`the output answers request ${brief(header.request)}, which this client did not encrypt`, 'decrypt an output with the client that encrypted its input');
    if (header.count !== count) throw new BundleError(`the output says ${brief(header.count)} image(s), its request had ${count}`);
    if (!sameShape(header.shape, plan.outputShape)) throw new BundleError(`the output shape ${brief(header.shape)} is not the plan's [${plan.outputShape}]`);
    if (chunks.length !== plan.outputCiphertexts) throw new BundleError(`the output has ${chunks.length} ciphertexts, the plan has ${plan.outputCiphertexts}`);
    const cts = chunks.map((c, i) => {
      const ct = deserializeCiphertext(this.ctx, c);
      if (ct.keyId !== this.sk.id) throw new KeyMismatchError(`output ciphertext ${i}`, ct.keyId ?? 'none', this.sk.id);
      return ct;
    });
    const shape = [...plan.outputShape];
    if (plan.layout === 'packed') {
      const values = decryptPacked(this.encoder, this.decryptor, layoutFromSpec(plan.packedOutput!, this.ctx.params.slots), cts[0]);
      return { shape: [1, ...shape], data: values };
    }
    if (plan.layout === 'channel') {
      return decryptChannels(this.encoder, this.decryptor, { shape, cts, ...(plan.channelOutput ? { layout: plan.channelOutput } : {}) });
    }
    return decryptBatch(this.encoder, this.decryptor, { shape, cts, count });
  }
}

/** URL of the worker-side task module (the built .js next to this file, also when running from sources). */
function batchTasksUrl(): string {
  const here = new URL(import.meta.url);
  if (here.pathname.endsWith('.ts')) return here.href.replace(/\/src\/nn\/model\.ts$/, '/dist/src/nn/batch-tasks.js');
  return new URL('./batch-tasks.js', here).href;
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

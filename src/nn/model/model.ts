/**
 * @module nn/model/model
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
 * values between layers (`bootstrap.ts`: who holds what, the key bundle). The two sides are
 * `client.ts` and `server.ts`; what they check of each other's bytes is in `wire.ts`.
 */
import { LevelError, Parameters, type ParametersLiteral } from '../../ckks/index.js';
import { InvalidArgumentError } from '../../errors.js';
import { type ChannelPlan, type SlotLayout, planChannel } from '../channel/index.js';
import {
  type CompileOptions, type CompiledModel, type Layout, type ParallelOptions, compileModel,
  compileModelAsync, planLevels, simulate, simulateAsync,
} from '../compile/compile.js';
import { type IrGraph, type Tensor, sizeOf } from '../graph.js';
import { importOnnx } from '../onnx/index.js';
import { type PackedPlan, layoutSpec, planPacked, rotationLevels } from '../packed/index.js';
import {
  type ChooseOptions, type MemoryEstimate, chooseParameters, estimateMemory, keySwitchCost,
} from '../plan/params.js';
import { type ModelPlan, PLAN_FORMAT } from '../plan/plan.js';
import {
  type BootstrapOption, type ModelBootstraps, bootstrapMemory, modelBootstrapOption, planBootstrapField,
  placeModelBootstraps,
} from './bootstrap.js';

export type { ModelPlan } from '../plan/plan.js';

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
        rotationLevels: boot ? rotations.map(() => boot.bp.outputLevel) : rotationLevels(this.packedPlan, this.params.levels) };
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
      ...(boot && this.bootstrap ? { bootstrap: planBootstrapField(boot, this.bootstrap.calls) } : {}) };
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

export { Client } from './client.js';
export { Server } from './server.js';

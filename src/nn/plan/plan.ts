/**
 * @module nn/plan/plan
 * The public plan of a compiled model: what a client needs to encrypt inputs and decrypt outputs
 * (parameters, layout, shapes, rotations, slot layouts, the calibrated input range), no weights.
 * It travels as JSON, so a client validates every field before using it (`validatePlan`):
 * a malformed plan is a `PlanError` naming the field, never a TypeError deep inside key
 * generation. Format `veil-plan/2` (version 1 lacked the input range and output layout). The
 * optional `bootstrap` field (a bootstrapped model, `src/nn/model/bootstrap.ts`) stays within version 2: a
 * plan without it means what it meant before; a client that predates the field makes keys without
 * the bootstrapping set and inputs at the top level, both of which a bootstrapped server refuses
 * (BundleError): never a silent run without bootstraps.
 */
import { brief, FormatVersionError, SerializationError, VeilError } from '../../errors.js';
import { Parameters, type ParametersLiteral } from '../../ckks/params.js';
import type { SlotLayout } from '../channel/index.js';
import type { PackedLayoutSpec } from '../packed/layout.js';
import type { Layout } from '../compile/compile.js';
import { type PlanBootstrap, planBootstrapParameters } from '../model/bootstrap.js';
import { BOOTSTRAP_PRESETS } from '../../bootstrap/params.js';

/** Current plan format. */
export const PLAN_FORMAT = 'veil-plan/2';

/** Largest per-sample tensor a plan may describe (elements): far above any model Veil runs. */
const MAX_ELEMENTS = 1 << 24;
/** Largest depth of a bootstrapped network (levels consumed in all): far above any model Veil runs. */
const MAX_DEPTH = 1 << 16;

/** The public part of a compiled model: what a client needs, no weights. JSON-serializable. */
export interface ModelPlan {
  format: typeof PLAN_FORMAT;
  name: string;
  layout: Layout;
  /** Exact parameters (with their primes), as `Parameters.toLiteral()` gives them. */
  params: ParametersLiteral;
  /** Per-sample input shape (no batch dimension). */
  inputShape: number[];
  /** Per-sample output shape. */
  outputShape: number[];
  depth: number;
  /** Galois steps (channel layout; empty in the batch layout). */
  rotations: number[];
  /**
   * Per entry of `rotations`, the highest level the step rotates at (packed layout): the client
   * generates that key capped there (`GaloisKeyOptions.maxLevel`), which makes it smaller. Absent:
   * every key at the top level.
   */
  rotationLevels?: number[];
  /** Input slot layout (channel layout). */
  channelInput?: SlotLayout;
  /** Output slot layout (channel layout, spatial outputs; absent when outputs sit in slot 0). */
  channelOutput?: SlotLayout;
  /** Input and output slot layouts (packed layout). */
  packedInput?: PackedLayoutSpec;
  packedOutput?: PackedLayoutSpec;
  /** Output ciphertexts per run: elements (batch), channels or elements (channel), 1 (packed). */
  outputCiphertexts: number;
  /** [min, max] of the calibration inputs: inputs far outside are refused (`InputRangeError`). */
  inputRange: [number, number];
  /**
   * A bootstrapped model (packed layout): the bootstrapping set (preset and overrides, whose
   * parameters are `params`), the level inputs are encrypted at (its top user level U) and the
   * bootstraps per run. `depth` is then the network's depth, which may exceed the parameters' levels.
   */
  bootstrap?: PlanBootstrap;
}

/** A model plan is malformed: a field is missing, has the wrong type, or contradicts another. */
export class PlanError extends SerializationError {
  static override readonly code: string = 'PLAN';

  constructor(message: string, fix = `use the plan of a compiled model unchanged (model.plan, or its JSON), made by this version of Veil`, options: { cause?: unknown } = {}) {
    super(message, fix, options);
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function shapeField(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > 8) throw new PlanError(`${what} ${brief(v)} is not a list of 1 to 8 dimensions`);
  let n = 1;
  for (const d of v) {
    if (!Number.isSafeInteger(d) || (d as number) < 1) throw new PlanError(`${what} ${brief(v)} has a dimension that is not a positive integer`);
    n *= d as number;
  }
  if (n > MAX_ELEMENTS) throw new PlanError(`${what} ${brief(v)} has ${n} elements, more than ${MAX_ELEMENTS}`);
  return [...(v as number[])];
}

function intField(v: unknown, what: string, lo: number, hi: number): number {
  if (!Number.isSafeInteger(v) || (v as number) < lo || (v as number) > hi) throw new PlanError(`${what} ${brief(v)} is not an integer in [${lo}, ${hi}]`);
  return v as number;
}

function layoutField(v: unknown, what: string, slots: number): SlotLayout {
  if (!isObj(v)) throw new PlanError(`${what} ${brief(v)} is not a slot layout {off, rs, cs, H, W}`);
  const L: SlotLayout = {
    off: intField(v.off, `${what}.off`, 0, slots - 1), rs: intField(v.rs, `${what}.rs`, 0, slots), cs: intField(v.cs, `${what}.cs`, 0, slots),
    H: intField(v.H, `${what}.H`, 1, slots), W: intField(v.W, `${what}.W`, 1, slots),
  };
  const last = L.off + (L.H - 1) * L.rs + (L.W - 1) * L.cs;
  if (last >= slots) throw new PlanError(`${what} reaches slot ${last}, the parameters have ${slots}`);
  return L;
}

const isPow2 = (x: number): boolean => Number.isSafeInteger(x) && x >= 1 && (x & (x - 1)) === 0;

/** A packed-layout spec whose positions all fall inside its period, and the period inside the slots. */
function packedField(v: unknown, what: string, slots: number, shape: readonly number[]): PackedLayoutSpec {
  if (!isObj(v)) throw new PlanError(`${what} ${brief(v)} is not a packed layout`);
  const size = shape.reduce((a, d) => a * d, 1);
  if (v.kind === 'vector') {
    const sh = shapeField(v.shape, `${what}.shape`);
    if (sh.length !== 1 || sh[0] !== size) throw new PlanError(`${what}.shape ${brief(v.shape)} does not hold the ${size} values of [${shape}]`);
    const period = intField(v.period, `${what}.period`, 1, slots);
    const stride = intField(v.stride, `${what}.stride`, 1, slots);
    if (!isPow2(period) || slots % period !== 0) throw new PlanError(`${what}.period ${period} is not a power of two dividing ${slots} slots`);
    if ((sh[0] - 1) * stride >= period) throw new PlanError(`${what}: ${sh[0]} values at stride ${stride} do not fit the period ${period}`);
    return { kind: 'vector', shape: sh, period, stride };
  }
  if (v.kind === 'grid') {
    const sh = shapeField(v.shape, `${what}.shape`);
    if (sh.length !== 3 || sh[0] * sh[1] * sh[2] !== size) throw new PlanError(`${what}.shape ${brief(v.shape)} is not a [C,H,W] shape of the ${size} values of [${shape}]`);
    const g = v.grid;
    if (!isObj(g)) throw new PlanError(`${what}.grid ${brief(g)} is not a grid {Hg, Wg, t, blockSize, blocks}`);
    const grid = {
      Hg: intField(g.Hg, `${what}.grid.Hg`, 1, slots), Wg: intField(g.Wg, `${what}.grid.Wg`, 1, slots), t: intField(g.t, `${what}.grid.t`, 1, slots),
      blockSize: intField(g.blockSize, `${what}.grid.blockSize`, 1, slots), blocks: intField(g.blocks, `${what}.grid.blocks`, 1, slots),
    };
    const [C, H, W] = sh;
    if (grid.t * H > grid.Hg || grid.t * W > grid.Wg || grid.Hg * grid.Wg > grid.blockSize) throw new PlanError(`${what}: a ${H}×${W} map at stride ${grid.t} does not fit its ${grid.Hg}×${grid.Wg} grid and blocks of ${grid.blockSize}`);
    if (!isPow2(grid.blockSize) || !isPow2(grid.blocks) || grid.blocks * grid.t * grid.t < C) throw new PlanError(`${what}: blocks ${grid.blocks} of ${grid.blockSize} slots (powers of two) do not hold ${C} channels at stride ${grid.t}`);
    const period = grid.blocks * grid.blockSize;
    if (period > slots || slots % period !== 0) throw new PlanError(`${what}: period ${period} does not divide the ${slots} slots`);
    return { kind: 'grid', shape: sh, grid };
  }
  throw new PlanError(`${what}.kind ${brief(v.kind)} is neither 'grid' nor 'vector'`);
}

/**
 * The bootstrap field: a known preset, overrides that rebuild exactly the plan's parameters, the
 * input level at the set's top user level, a bootstrap count.
 */
function bootstrapField(v: unknown, params: Parameters, layout: Layout): PlanBootstrap {
  if (!isObj(v)) throw new PlanError(`bootstrap ${brief(v)} is not {preset, inputLevel, count}`);
  if (layout === 'batch') throw new PlanError('a batch-layout plan has a bootstrap field (bootstrapping runs in the packed layout)');
  if (typeof v.preset !== 'string' || !Object.hasOwn(BOOTSTRAP_PRESETS, v.preset)) throw new PlanError(`bootstrap.preset ${brief(v.preset)} is not one of ${Object.keys(BOOTSTRAP_PRESETS).join(', ')}`);
  if (v.overrides !== undefined && !isObj(v.overrides)) throw new PlanError(`bootstrap.overrides ${brief(v.overrides)} is not an object`);
  const inputLevel = intField(v.inputLevel, 'bootstrap.inputLevel', 1, params.levels);
  const count = intField(v.count, 'bootstrap.count', 0, MAX_ELEMENTS);
  const b: PlanBootstrap = { preset: v.preset, ...(v.overrides !== undefined ? { overrides: JSON.parse(JSON.stringify(v.overrides)) } : {}), inputLevel, count };
  let hash: string;
  let U: number;
  try {
    const bp = planBootstrapParameters(b);
    hash = bp.params.hash;
    U = bp.outputLevel;
  } catch (e) {
    if (!(e instanceof VeilError)) throw e;
    throw new PlanError(`bootstrap ${brief(v)} does not validate: ${e.message}`, undefined, { cause: e });
  }
  if (hash !== params.hash) throw new PlanError(`bootstrap ${b.preset}${b.overrides ? ' with its overrides' : ''} has parameters ${hash}, the plan's are ${params.hash}`);
  if (inputLevel !== U) throw new PlanError(`bootstrap.inputLevel ${inputLevel} is not the top user level ${U} of ${b.preset}`);
  return b;
}

/**
 * Checks a plan (e.g. parsed from JSON) field by field and returns a clean copy with its
 * parameters. Refuses plans of other format versions with a `FormatVersionError`.
 *
 * @throws PlanError for any malformed field; FormatVersionError for another plan format
 */
export function validatePlan(plan: unknown): { plan: ModelPlan; params: Parameters } {
  if (!isObj(plan)) throw new PlanError(`the plan ${brief(plan)} is not an object`);
  const format = plan.format;
  if (typeof format === 'string' && /^veil-plan\/\d+$/.test(format) && format !== PLAN_FORMAT) throw new FormatVersionError('model plan', format, PLAN_FORMAT);
  if (format !== PLAN_FORMAT) throw new PlanError(`unknown plan format ${brief(format)}`);
  if (typeof plan.name !== 'string') throw new PlanError(`name ${brief(plan.name)} is not a string`);
  const layout = plan.layout;
  if (layout !== 'batch' && layout !== 'channel' && layout !== 'packed') throw new PlanError(`layout ${brief(layout)} is not 'batch', 'channel' or 'packed'`);
  if (!isObj(plan.params) || !Array.isArray(plan.params.q) || !Array.isArray(plan.params.p)) {
    throw new PlanError(`params ${brief(plan.params)} is not a parameter literal with its primes (q and p)`);
  }
  let params: Parameters;
  try {
    params = new Parameters(plan.params as unknown as ParametersLiteral);
  } catch (e) {
    if (!(e instanceof VeilError)) throw e;
    throw new PlanError(`params do not validate: ${e.message}`, undefined, { cause: e });
  }
  const slots = params.slots;
  const inputShape = shapeField(plan.inputShape, 'inputShape');
  const outputShape = shapeField(plan.outputShape, 'outputShape');
  const boot = plan.bootstrap === undefined ? undefined : bootstrapField(plan.bootstrap, params, layout);
  const depth = intField(plan.depth, 'depth', 0, boot ? MAX_DEPTH : params.levels);
  const rot = plan.rotations;
  if (!Array.isArray(rot) || rot.length > slots) throw new PlanError(`rotations ${brief(rot)} is not a list of at most ${slots} steps`);
  for (const r of rot) intField(r, 'rotation step', -(slots - 1), slots - 1);
  if (layout === 'batch' && rot.length) throw new PlanError('a batch-layout plan lists rotations (the batch layout uses none)');
  const rl = plan.rotationLevels;
  if (rl !== undefined) {
    if (!Array.isArray(rl) || rl.length !== rot.length) throw new PlanError(`rotationLevels ${brief(rl)} is not a list of one level per rotation (${rot.length})`);
    for (const l of rl) intField(l, 'rotation level', 0, boot ? boot.inputLevel : params.levels);
  }
  const outputCiphertexts = intField(plan.outputCiphertexts, 'outputCiphertexts', 1, MAX_ELEMENTS);
  const range = plan.inputRange;
  if (!Array.isArray(range) || range.length !== 2 || !range.every((x) => typeof x === 'number' && Number.isFinite(x)) || range[0] > range[1]) {
    throw new PlanError(`inputRange ${brief(range)} is not [min, max] with finite min ≤ max`);
  }
  const out: ModelPlan = {
    format: PLAN_FORMAT, name: plan.name, layout, params: params.toLiteral(), inputShape, outputShape, depth,
    rotations: [...(rot as number[])], outputCiphertexts, inputRange: [range[0] as number, range[1] as number],
  };
  if (rl !== undefined) out.rotationLevels = [...(rl as number[])];
  if (boot) out.bootstrap = boot;
  if (layout === 'batch') {
    if (outputCiphertexts !== outputShape.reduce((a, d) => a * d, 1)) throw new PlanError(`outputCiphertexts ${outputCiphertexts} differs from the output size ${outputShape.reduce((a, d) => a * d, 1)} (batch layout: one per element)`);
    if (plan.channelInput !== undefined || plan.channelOutput !== undefined || plan.packedInput !== undefined || plan.packedOutput !== undefined) throw new PlanError('a batch-layout plan has slot layouts');
  } else if (layout === 'packed') {
    if (outputCiphertexts !== 1) throw new PlanError(`outputCiphertexts ${outputCiphertexts}: the packed layout has one output ciphertext`);
    if (plan.channelInput !== undefined || plan.channelOutput !== undefined) throw new PlanError('a packed-layout plan has channel slot layouts');
    out.packedInput = packedField(plan.packedInput, 'packedInput', slots, inputShape);
    out.packedOutput = packedField(plan.packedOutput, 'packedOutput', slots, outputShape);
  } else {
    if (plan.packedInput !== undefined || plan.packedOutput !== undefined) throw new PlanError('a channel-layout plan has packed slot layouts');
    if (inputShape.length !== 3) throw new PlanError(`the channel layout needs a [C,H,W] input, the plan says [${inputShape}]`);
    out.channelInput = layoutField(plan.channelInput, 'channelInput', slots);
    if (out.channelInput.H !== inputShape[1] || out.channelInput.W !== inputShape[2]) throw new PlanError(`channelInput is ${out.channelInput.H}×${out.channelInput.W}, the input is [${inputShape}]`);
    const size = outputShape.reduce((a, d) => a * d, 1);
    if (plan.channelOutput !== undefined) {
      out.channelOutput = layoutField(plan.channelOutput, 'channelOutput', slots);
      if (outputCiphertexts * out.channelOutput.H * out.channelOutput.W !== size) throw new PlanError(`channelOutput ${out.channelOutput.H}×${out.channelOutput.W} × ${outputCiphertexts} ciphertexts differs from the output size ${size}`);
    } else if (outputCiphertexts !== size) throw new PlanError(`outputCiphertexts ${outputCiphertexts} differs from the output size ${size} (one per element)`);
  }
  return { plan: out, params };
}

/**
 * A plan from its JSON text (as `JSON.stringify(model.plan)` wrote it), validated.
 *
 * @throws PlanError for invalid JSON or a malformed plan; FormatVersionError for another format
 * @example
 * ```ts
 * const client = new Client(parsePlan(await (await fetch('/plan')).text()));
 * ```
 */
export function parsePlan(json: string): ModelPlan {
  if (typeof json !== 'string') throw new PlanError(`expected the plan's JSON text, got ${brief(json)}`, 'pass the text of JSON.stringify(model.plan)');
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch (e) {
    throw new PlanError(`the plan is not valid JSON (${(e as Error).message})`, 'pass the text of JSON.stringify(model.plan), unchanged');
  }
  return validatePlan(v).plan;
}

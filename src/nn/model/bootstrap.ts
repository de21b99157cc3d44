/**
 * @module nn/model/bootstrap
 * Bootstrapping in the private-inference API (`model.ts`): CKKS bootstrapping (Cheon–Han–Kim–Kim–
 * Song eprint 2018/153, `bootstrap/bootstrapper.ts`) placed between the layers of a network deeper
 * than the user levels of a bootstrapping set (`nn/bootstraps.ts`).
 *
 * Who holds what:
 *  - the Model (server side) holds the full placement: the values refreshed and their divisors,
 *    taken over the calibration images (the placement is never read from a plan);
 *  - the plan carries what the client needs: the preset name and its overrides (the client rebuilds
 *    the bootstrapping set, whose parameters must hash to the plan's), the level inputs are
 *    encrypted at (U = `bp.outputLevel`) and the number of bootstraps;
 *  - the evaluation-key bundle (header `bootstrap: true`): parameters, relinearization key, one
 *    chunk per Galois key in increasing Galois element (the bootstrap's rotations and conjugation
 *    at full height, the network's other rotations capped at U), then the encapsulation keys.
 *
 * Layouts: the packed layout runs `PackedBootstrapRunner`, the channel layout
 * `ChannelBootstrapRunner` (its refreshes pack channels into bootstraps; the packing rotations join
 * the plan's rotations, capped at U); {@link bootstrapRunner} and {@link placeModelBootstraps} are
 * the places that branch on the layout.
 */
import {
  type Ciphertext, CkksContext, type Encoder, type Parameters, type Evaluator, GaloisKeys, InvalidArgumentError, KeyMismatchError, type KeyGenerator, type RelinKey, type SecretKey,
  deserializeGaloisKeys, deserializeRelinKey, serializeGaloisKeys, serializeParameters, serializeRelinKey,
} from '../../ckks/index.js';
import { BOOTSTRAP_PRESETS, type BootstrapParametersLiteral, BootstrapParameters, bootstrapPreset } from '../../bootstrap/params.js';
import { Bootstrapper, bootstrapRotations } from '../../bootstrap/bootstrapper.js';
import { genEncapsulationKeys, type EncapsulationKeys } from '../../bootstrap/encapsulation.js';
import { bootstrapKeyBytes, deserializeEncapsulationKeys, serializeEncapsulationKeys } from '../../bootstrap/keys.js';
import { galoisKeyBytes } from '../packed/cost.js';
import { type MemoryEstimate, estimateMemory } from '../plan/params.js';
import { brief, VeilError } from '../../errors.js';
import { fixCode } from '../../fixes.js';
import type { RandomSource } from '../../ring/prng.js';
import type { NodeTiming, Progress } from '../batch/runner.js';
import { BundleError, BundleWriter, type OpenedBundle } from './bundle.js';
import type { Layout } from '../compile/compile.js';
import type { IrGraph, Tensor } from '../graph.js';
import { type BootstrapPlacement, maxBootstrapLogScale, placeBootstraps } from '../plan/bootstraps.js';
import { bootstrapRanges } from '../packed/bootstraps.js';
import { type BootstrapTiming, PackedBootstrapRunner } from '../packed/bootstrap-runner.js';
import type { PackedPlan } from '../packed/plan.js';
import { PackedRunner } from '../packed/runner.js';
import {
  type ChannelBootstrapPlan, ChannelBootstrapRunner, type ChannelPlan, ChannelRunner, type SlotLayout, channelBootstrapRanges, planChannelBootstraps,
} from '../channel/index.js';

export type { BootstrapTiming } from '../packed/bootstrap-runner.js';
export type { BootstrapPlacement } from '../plan/bootstraps.js';
export type { Bootstrapper } from '../../bootstrap/bootstrapper.js';
export type { EncapsulationKeys } from '../../bootstrap/encapsulation.js';
export { encryptPackedForBootstrap } from '../packed/bootstrap-runner.js';

/**
 * `ModelOptions.bootstrap`: a preset name (`BOOTSTRAP_PRESETS`), or a preset with overrides of its
 * literal (e.g. `{ preset: 'N12-BOOT-T', overrides: { userLevels: 7 } }`).
 */
export type BootstrapOption = string | { preset: string; overrides?: Partial<BootstrapParametersLiteral> };

/** The plan's bootstrap field: what a client needs to make keys and inputs for a bootstrapped run. */
export interface PlanBootstrap {
  /** Preset name (`BOOTSTRAP_PRESETS`). */
  preset: string;
  /** Overrides of the preset's literal (JSON values only). */
  overrides?: Partial<BootstrapParametersLiteral>;
  /** Level the client encrypts inputs at: the top user level U. */
  inputLevel: number;
  /** Bootstrap calls per run (informative: the server keeps the placement). */
  count: number;
}

/** Calibration images used for the refreshed values' ranges (as `veil inspect --bootstrap` does). */
export const BOOTSTRAP_RANGE_IMAGES = 8;

/**
 * The bootstrapping set of an option, checked: a known preset, overrides that validate, full slots.
 * @throws InvalidArgumentError for an unknown preset or a malformed option; ParameterError for
 *   overrides the bootstrapping set refuses
 */
export function resolveBootstrap(opt: BootstrapOption): { preset: string; overrides?: Partial<BootstrapParametersLiteral>; bp: BootstrapParameters } {
  const preset = typeof opt === 'string' ? opt : opt?.preset;
  const overrides = typeof opt === 'string' ? undefined : opt?.overrides;
  if (typeof preset !== 'string' || !Object.hasOwn(BOOTSTRAP_PRESETS, preset)) {
    throw new InvalidArgumentError(`bootstrap ${brief(opt)} is not a bootstrapping preset`, `use one of ${Object.keys(BOOTSTRAP_PRESETS).map((k) => `bootstrap: '${k}'`).join(', ')}`);
  }
  if (overrides !== undefined && (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides))) {
    throw new InvalidArgumentError(`bootstrap overrides ${brief(overrides)} are not an object`, `pass { preset: '${preset}', overrides: { userLevels: 7 } } or the preset name alone`);
  }
  // a JSON round trip: the overrides travel in the plan, so they must be plain JSON values
  const clean = overrides === undefined ? undefined : JSON.parse(JSON.stringify(overrides)) as Partial<BootstrapParametersLiteral>;
  const bp = bootstrapPreset(preset, clean);
  if (bp.slots !== bp.params.slots) {
    throw new InvalidArgumentError(`bootstrapping set with ${bp.slots} of ${bp.params.slots} slots (sparse)`, 'use a full-slot bootstrapping set (leave logSlots at its default) for a model');
  }
  return { preset, ...(clean && Object.keys(clean).length ? { overrides: clean } : {}), bp };
}

/**
 * `ModelOptions.bootstrap` resolved, refusing the options it excludes.
 * @throws InvalidArgumentError with `params` or `insecureLogN` (the bootstrapping set fixes the parameters)
 */
export function modelBootstrapOption(opts: { bootstrap?: BootstrapOption; params?: unknown; insecureLogN?: unknown }): ReturnType<typeof resolveBootstrap> {
  if (opts.params !== undefined || opts.insecureLogN !== undefined) {
    throw new InvalidArgumentError('bootstrap sets the parameters (the bootstrapping set\'s); params or insecureLogN contradict it', 'pass bootstrap alone (a -T preset for small insecure test rings)');
  }
  return resolveBootstrap(opts.bootstrap!);
}

/** The plan's bootstrap field of a resolved option and its placement. */
export function planBootstrapField(b: ReturnType<typeof resolveBootstrap>, calls: number): PlanBootstrap {
  return { preset: b.preset, ...(b.overrides ? { overrides: b.overrides } : {}), inputLevel: b.bp.outputLevel, count: calls };
}

/** The bootstrapping set a plan's bootstrap field names (for the client and plan validation). */
export function planBootstrapParameters(b: Pick<PlanBootstrap, 'preset' | 'overrides'>): BootstrapParameters {
  return resolveBootstrap(b.overrides ? { preset: b.preset, overrides: b.overrides } : b.preset).bp;
}

/** Where a model bootstraps (server side). */
export interface ModelBootstraps {
  bp: BootstrapParameters;
  placement: BootstrapPlacement;
  /** Bootstrap calls per run: one per refresh (packed), one per group of packed channels (channel). */
  calls: number;
  /** Channel layout: how each refresh packs, and the packing rotations. */
  channel?: ChannelBootstrapPlan;
}

/**
 * Where a model bootstraps (server side): placement for U = `bp.outputLevel` user levels and the
 * refreshed values' divisors over up to {@link BOOTSTRAP_RANGE_IMAGES} calibration images.
 * @throws InvalidArgumentError for the batch layout or missing calibration;
 *   BootstrapPlacementError, BootstrapRangeError from the placement
 */
export function placeModelBootstraps(
  layout: Layout, g: IrGraph, plans: { packed?: PackedPlan; channel?: ChannelPlan }, bp: BootstrapParameters, calibration: Tensor | undefined,
): ModelBootstraps {
  if (!(layout === 'packed' && plans.packed) && !(layout === 'channel' && plans.channel)) {
    throw new InvalidArgumentError(`bootstrapping in the ${layout} layout is not supported`, "use layout: 'packed' (or 'channel') with bootstrap");
  }
  if (!calibration) {
    throw new InvalidArgumentError('a bootstrapped model needs calibration images for the ranges of the values it refreshes',
      'pass the compilation\'s calibration data: Model.fromCompiled(compiled, { layout: \'packed\', bootstrap, calibration })');
  }
  const n = Math.min(calibration.shape[0], BOOTSTRAP_RANGE_IMAGES);
  const size = calibration.data.length / calibration.shape[0];
  const maxLogScale = maxBootstrapLogScale(bp.params, bp.evalMod.logMessageRatio);
  if (layout === 'channel') {
    const channel = planChannelBootstraps(g, plans.channel!, bp.outputLevel, bp.params.slots);
    channelBootstrapRanges(g, channel, { shape: [n, ...calibration.shape.slice(1)], data: calibration.data.subarray(0, n * size) }, { maxLogScale });
    return { bp, placement: channel.placement, calls: channel.bootstraps, channel };
  }
  const placement = placeBootstraps(g, plans.packed!.levels.cost, bp.outputLevel);
  const samples = Array.from({ length: n }, (_, i) => calibration.data.subarray(i * size, (i + 1) * size));
  bootstrapRanges(g, plans.packed!, placement, samples, { maxLogScale });
  return { bp, placement, calls: placement.count };
}

/** Bytes in memory of a bootstrapped run's keys: the bootstrapping set, and the network's other rotations (the channel packing's too) capped at U. */
export function bootstrapKeyMemory(bp: BootstrapParameters, plan: { rotations: readonly number[] }): {
  bootstrapKeys: { galoisKeys: number; memory: number; wire: number }; networkKeys: { galoisKeys: number; memory: number };
} {
  const have = new Set(bootstrapRotations(bp));
  const kb = bootstrapKeyBytes(new CkksContext(bp.params), have.size + 1); // + conjugation
  const extra = plan.rotations.filter((r) => !have.has(r)).length;
  return {
    bootstrapKeys: { galoisKeys: kb.galoisKeys, memory: kb.memory, wire: kb.wire.total },
    networkKeys: { galoisKeys: extra, memory: extra * galoisKeyBytes(bp.params, bp.outputLevel) },
  };
}

/**
 * Predicted memory of a bootstrapped run: the ciphertexts (`estimateMemory`) and the key set
 * ({@link bootstrapKeyMemory}); the bootstrapper's encoded DFT factors are not counted.
 */
export function bootstrapMemory(g: IrGraph, P: Parameters, layout: Layout, bp: BootstrapParameters, rotations: readonly number[]): MemoryEstimate {
  const base = estimateMemory(g, P, layout, 0, 0);
  const k = bootstrapKeyMemory(bp, { rotations });
  const keys = k.bootstrapKeys.memory + k.networkKeys.memory;
  return { ...base, keys, total: base.peakCiphertexts + keys };
}

/**
 * Galois element → the level its key must reach, in increasing element order (the order of the
 * key chunks): the bootstrap's rotations and conjugation at the top, the network's rotations at U.
 */
export function bootstrapKeyLevels(ctx: CkksContext, bp: BootstrapParameters, networkRotations: readonly number[]): Map<number, number> {
  const m = new Map<number, number>();
  const U = bp.outputLevel;
  for (const r of networkRotations) {
    const g = ctx.galoisElement(r);
    if (g !== 1) m.set(g, U);
  }
  const top = ctx.params.levels;
  for (const r of bootstrapRotations(bp)) {
    const g = ctx.galoisElement(r);
    if (g !== 1) m.set(g, top);
  }
  m.set(ctx.conjugationElement, top);
  return new Map([...m].sort((a, b) => a[0] - b[0]));
}

/**
 * Client side: the whole bootstrapped evaluation-key bundle (`header` plus `galois: 'per-key'`,
 * `bootstrap: true`): parameters, relinearization key, then {@link writeBootstrapKeyChunks}.
 * Returns the bytes written.
 */
export function writeBootstrapKeys(
  kg: KeyGenerator, sk: SecretKey, bp: BootstrapParameters, rotations: readonly number[], header: Record<string, unknown>, sink: (part: Uint8Array) => void, rng?: RandomSource,
): number {
  const levels = bootstrapKeyLevels(kg.ctx, bp, rotations);
  const w = new BundleWriter({ ...header, galois: 'per-key', bootstrap: true }, 3 + levels.size, sink);
  w.add(serializeParameters(kg.ctx.params));
  w.add(serializeRelinKey(kg.genRelinKey(sk)));
  writeBootstrapKeyChunks(kg, sk, bp, levels, (c) => w.add(c), rng);
  return w.finish();
}

/**
 * Server side: checks an evaluation-key bundle's bootstrap marker against the model (`boot`
 * undefined: the model does not bootstrap) and, for a bootstrapped model, loads the keys after its
 * parameters (chunk 0, checked by the caller): the part count first, then every key.
 * @returns undefined for a model without bootstraps
 * @throws BundleError (marker, part count, a missing or foreign encapsulation part, a key capped too
 *   low), KeyMismatchError
 */
export function openBootstrapKeys(
  ctx: CkksContext, bundle: OpenedBundle, boot: { bp: BootstrapParameters; preset: string } | undefined, rotations: readonly number[], shared: boolean,
): { keyId: string; relin: RelinKey; galois: GaloisKeys; encapsulation: EncapsulationKeys } | undefined {
  const header = bundle.header;
  const fresh = `make the client from this model's plan: ${fixCode.freshPlan()}`;
  if (header.bootstrap !== undefined && header.bootstrap !== true) throw new BundleError(`unknown bootstrap marker ${brief(header.bootstrap)} in the keys`);
  if ((header.bootstrap === true) !== (boot !== undefined)) {
    throw new BundleError(boot ? `the keys hold no bootstrapping keys (no encapsulation keys), the model bootstraps with ${boot.preset}` : 'the keys are a bootstrapping key set, the model does not bootstrap', fresh);
  }
  if (!boot) return undefined;
  if (header.galois !== 'per-key') throw new BundleError('bootstrapping keys come one Galois key per part (galois: \'per-key\')', fresh);
  const keyId = header.keyId as string;
  // the Galois elements with their levels, checked before any key is read
  const levels = bootstrapKeyLevels(ctx, boot.bp, rotations);
  const want = 3 + levels.size;
  if (header.chunks !== want) throw new BundleError(`the keys have ${header.chunks} parts, the bootstrapped plan needs ${want} (parameters, relinearization key, ${levels.size} Galois keys, encapsulation keys)`, fresh);
  const relin = deserializeRelinKey(ctx, bundle.chunk(1), { shared });
  if (relin.keyId !== keyId) throw new KeyMismatchError('the relinearization key', relin.keyId ?? 'none', keyId, `send the bytes of one ${fixCode.evaluationKeys()} call unchanged`);
  return { keyId, relin, ...readBootstrapKeyChunks(ctx, bundle, 2, levels, keyId, shared) };
}

/**
 * Client side: the Galois and encapsulation chunks of a bootstrapped key bundle, each key generated,
 * serialized and handed to `add` before the next (one key in memory at a time).
 */
export function writeBootstrapKeyChunks(kg: KeyGenerator, sk: SecretKey, bp: BootstrapParameters, levels: ReadonlyMap<number, number>, add: (chunk: Uint8Array) => void, rng?: RandomSource): void {
  const ctx = kg.ctx;
  for (const [g, level] of levels) {
    const one = new GaloisKeys(ctx, sk.id);
    one.keys.set(g, kg.genGaloisKey(sk, g, level));
    add(serializeGaloisKeys(one));
  }
  const enc = rng ? genEncapsulationKeys(ctx, sk, bp.ephemeralWeight, rng) : genEncapsulationKeys(ctx, sk, bp.ephemeralWeight);
  add(serializeEncapsulationKeys(ctx, enc));
}

/**
 * Server side: the Galois keys (chunks `first`…) and the encapsulation keys (the last chunk) of a
 * bootstrapped key bundle, checked: every element the levels name, each high enough, one key id.
 * @throws BundleError, KeyMismatchError
 */
export function readBootstrapKeyChunks(ctx: CkksContext, bundle: OpenedBundle, first: number, levels: ReadonlyMap<number, number>, keyId: string, shared: boolean): { galois: GaloisKeys; encapsulation: EncapsulationKeys } {
  const fix = `send the bytes of one ${fixCode.evaluationKeys()} call of a client made from this model's plan, unchanged`;
  const galois = new GaloisKeys(ctx, keyId);
  let i = first;
  for (const [g, level] of levels) {
    const one = deserializeGaloisKeys(ctx, bundle.chunk(i), { elements: [g], shared });
    if (one.keyId !== keyId) throw new KeyMismatchError(`Galois key ${i - first}`, one.keyId ?? 'none', keyId, fix);
    const k = one.keys.get(g)!;
    if (k.maxLevel < level) throw new BundleError(`the Galois key of element ${g} is capped at level ${k.maxLevel}, the bootstrapped run uses it at level ${level}`, fix);
    galois.keys.set(g, k);
    i++;
  }
  let encapsulation: EncapsulationKeys;
  try {
    encapsulation = deserializeEncapsulationKeys(ctx, bundle.chunk(i));
  } catch (e) {
    if (e instanceof VeilError && !(e instanceof BundleError)) throw new BundleError(`the last part of the keys is not the encapsulation keys (${e.message})`, fix);
    throw e;
  }
  if (encapsulation.keyId !== keyId) throw new KeyMismatchError('the encapsulation keys', encapsulation.keyId ?? 'none', keyId, fix);
  return { galois, encapsulation };
}

/** What a bootstrapped run reports: its output ciphertexts and one timing per bootstrap. */
export interface BootstrapRun {
  outputs: Ciphertext[];
  timings: NodeTiming[];
  bootstraps: BootstrapTiming[];
}

/**
 * Runs one input of a bootstrapped model in its layout (the one branch per layout of a
 * bootstrapped run). `boot` gives the server's `Bootstrapper`, built once on first use (it encodes
 * the DFT factors); a placement without bootstraps runs without it, on `ev`.
 */
export function bootstrapRunner(
  layout: Layout, g: IrGraph, plans: { packed?: PackedPlan; channelInput?: SlotLayout }, mb: ModelBootstraps, boot: () => Bootstrapper, ev: Evaluator, enc: Encoder, onProgress?: Progress,
): (inputs: Ciphertext[]) => BootstrapRun {
  const { placement } = mb;
  const packed = plans.packed;
  if (layout === 'channel' && mb.channel && plans.channelInput) {
    const input = (cts: Ciphertext[]) => ({ shape: [...g.input.shape], cts, layout: plans.channelInput });
    if (placement.count === 0) {
      const plain = new ChannelRunner(g, ev, enc, onProgress);
      return (inputs) => ({ outputs: plain.run(input(inputs)).cts, timings: plain.timings, bootstraps: [] });
    }
    const r = new ChannelBootstrapRunner(g, mb.channel, boot(), enc, onProgress);
    return (inputs) => {
      const out = r.run(input(inputs));
      return { outputs: out.cts, timings: r.runner.timings, bootstraps: [...r.bootstraps] };
    };
  }
  if (layout === 'packed' && packed) {
    if (placement.count === 0) {
      const plain = new PackedRunner(g, packed, ev, enc, onProgress);
      return (inputs) => ({ outputs: [plain.run(inputs[0])], timings: plain.timings, bootstraps: [] });
    }
    const r = new PackedBootstrapRunner(g, packed, placement, boot(), enc, onProgress);
    return (inputs) => {
      const output = r.run(inputs[0]);
      return { outputs: [output], timings: r.runner.timings, bootstraps: [...r.bootstraps] };
    };
  }
  throw new InvalidArgumentError(`bootstrapping in the ${layout} layout is not supported`, "use layout: 'packed' (or 'channel') with bootstrap");
}

/** The bootstrapper of a server: its evaluator (with the pool, if any), encoder and encapsulation keys. */
export function makeBootstrapper(ctx: CkksContext, bp: BootstrapParameters, ev: Evaluator, enc: Encoder, encapsulation: EncapsulationKeys): Bootstrapper {
  return new Bootstrapper(ctx, bp, ev, enc, { encapsulation });
}

export { BootstrapParameters };

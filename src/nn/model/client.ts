/**
 * @module nn/model/client
 *
 * The client side of private inference (protocol in `model.ts`): it holds the secret key, sends
 * the evaluation keys and encrypted inputs as bytes, and decrypts and checks the outputs that
 * answer its own requests.
 */
import {
  CkksContext, Decryptor, Encoder, Encryptor, KeyGenerator, KeyMismatchError, type SecretKey,
  deserializeCiphertext, serializeCiphertext, serializeGaloisKeys, serializeParameters, serializeRelinKey,
} from '../../ckks/index.js';
import type { RandomSource } from '../../ring/prng.js';
import { randomId64 } from '../../ring/prng.js';
import { brief } from '../../errors.js';
import { fixCode } from '../../fixes.js';
import { InputShapeError, type TensorLike, checkInputRange, validateTensor } from '../io.js';
import { decryptBatch, encryptBatchEach } from '../batch/runner.js';
import { BundleError, BundleWriter, packBundle, unpackBundle } from './bundle.js';
import { decryptChannels, encryptChannels } from '../channel/index.js';
import { type Tensor } from '../graph.js';
import { decryptPacked, encryptPacked, layoutFromSpec } from '../packed/index.js';
import { type ModelPlan, validatePlan } from '../plan/plan.js';
import {
  type BootstrapParameters, encryptPackedForBootstrap, planBootstrapParameters, writeBootstrapKeys,
} from './bootstrap.js';
import { isId, keyLevels, sameShape } from './wire.js';

/** Requests a client remembers (id → image count) to check the outputs that answer them. */
const MAX_REQUESTS = 1 << 16;


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
   * keys (`bootstrap.ts`).
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

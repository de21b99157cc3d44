/**
 * The fuzz targets: every deserializer and reader that takes bytes from outside (CKKS objects,
 * client/server bundles, the model plan, input files, ONNX models), each with valid seed inputs and
 * a check that an accepted input gave a correct object. A case ends in one of four ways: a typed
 * error (a VeilError), an accepted and correct object, an untyped error (a bug), or an accepted
 * object that fails its check (a bug: a silently wrong answer).
 *
 * Everything runs at tiny insecure ring degrees (N = 2^6 for the engine objects, 2^7 for the
 * network) so that a case takes milliseconds.
 */
import { existsSync, readFileSync } from 'node:fs';
import {
  CkksContext, Decryptor, Encoder, Encryptor, Evaluator, KeyGenerator, type Parameters,
  deserializeCiphertext, deserializeGaloisKeys, deserializeParameters, deserializePlaintext, deserializePublicKey,
  deserializeRelinKey, deserializeSecretKey, serializeCiphertext, serializeGaloisKeys, serializeParameters, serializePlaintext,
  serializePublicKey, serializeRelinKey, serializeSecretKey,
} from '../../src/ckks/index.js';
import { VeilError } from '../../src/errors.js';
import { Client, Server } from '../../src/nn/model/model.js';
import { parsePlan } from '../../src/nn/plan/plan.js';
import { type Tensor, sizeOf, validateGraph } from '../../src/nn/graph.js';
import { importOnnx } from '../../src/nn/onnx/index.js';
import { readJsonTensor, readNpy, readRawFloat32, readRawUint8 } from '../../src/nn/io.js';
import { runReference } from '../../src/nn/reference.js';
import { type InputKind, type Mutation, applyBytes, mutateBundle, mutateJsonText, resealBundle, resealObject } from './mutate.js';
import { tinyInputs, tinyModel, values } from './tiny.js';

/**
 * A fuzz target. `run` throws for a refused input; for an accepted one it returns a problem found by
 * the check, or undefined. `base` is the index of the seed the input came from.
 */
export interface Target {
  name: string;
  kind: InputKind;
  seeds: Uint8Array[];
  /** Number of argument variants (e.g. shapes passed to a raw reader). */
  args: number;
  run(bytes: Uint8Array, arg: number, base: number): string | undefined;
}

/** How a case ended. */
export type Outcome = 'typed' | 'accepted' | 'untyped' | 'wrong';

export interface CaseResult {
  outcome: Outcome;
  ms: number;
  /** Error class and message, or the failed check. */
  detail?: string;
}

const utf8 = new TextEncoder();
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** The fixtures directory, from the sources (tools/fuzz) or the build (dist/tools/fuzz). */
function fixturesDir(): URL {
  for (const rel of ['../../fixtures/', '../../../fixtures/']) {
    const u = new URL(rel, import.meta.url);
    if (existsSync(new URL('gelu_opset20.onnx', u))) return u;
  }
  throw new Error('fuzz: fixtures/ not found next to tools/ (run from a checkout)');
}

const equalBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

function checkTensor(t: Tensor): string | undefined {
  if (!Array.isArray(t.shape) || t.shape.length === 0 || t.shape.some((d) => !Number.isSafeInteger(d) || d < 1)) return `bad shape ${JSON.stringify(t.shape)}`;
  if (sizeOf(t.shape) !== t.data.length) return `shape ${t.shape} holds ${sizeOf(t.shape)} values, data ${t.data.length}`;
  for (let i = 0; i < t.data.length; i++) if (!Number.isFinite(t.data[i])) return `non-finite value at ${i}`;
  return undefined;
}

/** The engine targets: one small context, a key set, and objects of every kind. */
function engineTargets(): Target[] {
  const ctx = new CkksContext({ logN: 6, levels: 2, insecure: true });
  const P: Parameters = ctx.params;
  const enc = new Encoder(ctx);
  const kg = new KeyGenerator(ctx);
  const sk = kg.genSecretKey();
  const pk = kg.genPublicKey(sk);
  const rk = kg.genRelinKey(sk);
  const gk = kg.genGaloisKeys(sk, [1, 3], { conjugate: true });
  const skEnc = new Encryptor(ctx, sk);
  const pkEnc = new Encryptor(ctx, pk);
  const dec = new Decryptor(ctx, sk);
  const ev = new Evaluator(ctx, { relin: rk, galois: gk });
  const v = values(P.slots, 5);
  const fresh = skEnc.encrypt(enc.encode(v));
  const cts = [
    serializeCiphertext(fresh, { seeded: true }), serializeCiphertext(fresh), serializeCiphertext(pkEnc.encrypt(enc.encode(v, { level: 1 }))),
    serializeCiphertext(ev.mul(fresh, fresh)),
  ];
  /** Decrypting an accepted ciphertext must work (its values may be anything: the checksum is no MAC). */
  const decrypts = (ct: ReturnType<typeof deserializeCiphertext>) => {
    const out = enc.decode(dec.decrypt(ct));
    return out.length === P.slots ? undefined : `decoded ${out.length} slots`;
  };
  return [
    {
      name: 'ckks.parameters', kind: 'object', seeds: [serializeParameters(P), serializeParameters(new CkksContext({ logN: 7, levels: 1, insecure: true }).params)], args: 1,
      run(b) {
        const p = deserializeParameters(b);
        return deserializeParameters(serializeParameters(p)).hash === p.hash ? undefined : 'parameters do not round-trip';
      },
    },
    {
      name: 'ckks.ciphertext', kind: 'object', seeds: cts, args: 2,
      run(b, arg) {
        const ct = deserializeCiphertext(ctx, b, { shared: arg === 1 });
        if (ct.polys.length !== ct.degree + 1 || ct.polys.some((p) => p.limbs !== P.limbsAt(ct.level))) return 'limbs do not match the level';
        const again = deserializeCiphertext(ctx, serializeCiphertext(ct));
        if (!again.polys.every((p, i) => equalBytes(new Uint8Array(p.coeffs.buffer, p.coeffs.byteOffset, 4 * p.limbs * P.N), new Uint8Array(ct.polys[i].coeffs.buffer, ct.polys[i].coeffs.byteOffset, 4 * p.limbs * P.N)))) return 'does not round-trip';
        return ct.keyId === sk.id ? decrypts(ct) : undefined;
      },
    },
    {
      name: 'ckks.plaintext', kind: 'object', seeds: [serializePlaintext(enc.encode(v)), serializePlaintext(enc.encode(v, { level: 0 }))], args: 1,
      run(b) {
        const pt = deserializePlaintext(ctx, b);
        return enc.decode(pt).length === P.slots ? undefined : 'decode failed';
      },
    },
    {
      name: 'ckks.secret-key', kind: 'object', seeds: [serializeSecretKey(sk)], args: 1,
      run(b) {
        // an accepted secret key is a real key: it decrypts what it encrypts
        const k = deserializeSecretKey(ctx, b);
        const back = enc.decode(new Decryptor(ctx, k).decrypt(new Encryptor(ctx, k).encrypt(enc.encode(v))));
        for (let i = 0; i < 4; i++) if (Math.abs(back[i] - v[i]) > 1e-3) return `decrypts slot ${i} to ${back[i]}, not ${v[i]}`;
        return undefined;
      },
    },
    {
      name: 'ckks.public-key', kind: 'object', seeds: [serializePublicKey(pk), serializePublicKey(pk, { seeded: false })], args: 1,
      run(b) {
        const k = deserializePublicKey(ctx, b);
        new Encryptor(ctx, k).encrypt(enc.encode(v));
        return undefined;
      },
    },
    {
      name: 'ckks.relin-key', kind: 'object', seeds: [serializeRelinKey(rk), serializeRelinKey(rk, { seeded: false })], args: 1,
      run(b) {
        const k = deserializeRelinKey(ctx, b);
        new Evaluator(ctx, { relin: k }).relinearize(ev.mul(fresh, fresh));
        return undefined;
      },
    },
    {
      name: 'ckks.galois-keys', kind: 'object', seeds: [serializeGaloisKeys(gk), serializeGaloisKeys(gk, { seeded: false })], args: 2,
      run(b, arg) {
        const k = deserializeGaloisKeys(ctx, b, arg === 1 ? { elements: gk.elements() } : {});
        const els = k.elements();
        if (els.some((g, i) => g % 2 === 0 || g <= 1 || g >= 2 * P.N || (i > 0 && g <= els[i - 1]))) return `elements ${els}`;
        const e = new Evaluator(ctx, { galois: k });
        for (const g of els) if (g !== ctx.conjugationElement) e.rotate(fresh, [1, 3].find((s) => ctx.galoisElement(s) === g) ?? 1);
        return undefined;
      },
    },
  ];
}

/** The client/server targets: the tiny network in the batch and channel layouts. */
function networkTargets(): Target[] {
  const models = [tinyModel('batch', 7), tinyModel('channel', 7)];
  const clients = models.map((m) => new Client(m.plan));
  const keys = clients.map((c) => c.evaluationKeys());
  const servers = models.map((m, i) => new Server(m, keys[i]));
  const inputs = clients.map((c, i) => c.encrypt(tinyInputs(i === 0 ? 3 : 1, 40 + i)));
  const outputs = servers.map((s, i) => s.infer(inputs[i]));
  // mostly the receiver of the seed's own layout, sometimes the other one
  const pick = (arg: number, base: number) => (arg === 3 ? 1 - (base % 2) : base % 2);
  const oneInput = (plan: ReturnType<typeof parsePlan>) => {
    const [lo, hi] = plan.inputRange;
    return { shape: [1, ...plan.inputShape], data: new Float64Array(sizeOf(plan.inputShape)).fill((lo + hi) / 2) };
  };
  return [
    {
      name: 'nn.keys-bundle', kind: 'bundle', seeds: keys, args: 4,
      run(b, arg, base) {
        const s = new Server(models[pick(arg, base)], b);
        return /^[0-9a-f]{16}$/.test(s.keyId) ? undefined : `key id ${s.keyId}`;
      },
    },
    {
      name: 'nn.input-bundle', kind: 'bundle', seeds: inputs, args: 4,
      run(b, arg, base) {
        const out = servers[pick(arg, base)].infer(b);
        return out.length > 0 ? undefined : 'empty output';
      },
    },
    {
      name: 'nn.output-bundle', kind: 'bundle', seeds: outputs, args: 4,
      run(b, arg, base) {
        const k = pick(arg, base);
        const y = clients[k].decrypt(b);
        const plan = models[k].plan;
        if (y.shape.length !== plan.outputShape.length + 1 || y.shape.slice(1).some((d, i) => d !== plan.outputShape[i])) return `output shape ${y.shape}`;
        if (y.shape[0] < 1 || y.shape[0] > 3) return `${y.shape[0]} rows for a request of at most 3`;
        return y.data.length === sizeOf(y.shape) ? undefined : 'data length';
      },
    },
    {
      name: 'nn.plan', kind: 'json', seeds: models.map((m) => utf8.encode(JSON.stringify(m.plan))), args: 1,
      run(b) {
        const plan = parsePlan(text(b));
        const c = new Client(plan);
        c.evaluationKeys();
        // encrypting is the plan's own cost: only for inputs of tiny-model size
        if (sizeOf(plan.inputShape) <= 4096) c.encrypt(oneInput(plan));
        return undefined;
      },
    },
  ];
}

/** The input readers. */
function readerTargets(fix: URL): Target[] {
  const f32 = new Uint8Array(new Float32Array(values(64, 9, 0, 1)).buffer);
  const u8 = readFileSync(new URL('mnist_test_2000.u8', fix)).subarray(0, 2 * 784);
  const npyOf = (descr: string, shape: string, data: Uint8Array) => {
    let h = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
    while ((10 + h.length + 1) % 64) h += ' ';
    h += '\n';
    const out = new Uint8Array(10 + h.length + data.length);
    out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    new DataView(out.buffer).setUint16(8, h.length, true);
    out.set(utf8.encode(h), 10);
    out.set(data, 10 + h.length);
    return out;
  };
  const f64 = new Uint8Array(new Float64Array(values(16, 3)).buffer);
  const SHAPES = [[-1, 1, 4, 4], [4, 16], [-1], [2, -1, 4], [-1, -1], [0, 4], [1e9, 1e9, -1], [3.5, -1], [64]];
  const U8SHAPES = [[-1, 1, 28, 28], [2, 784], [-1], [-1, -1], [0, 784], [1e9, -1], [7, -1]];
  return [
    {
      name: 'io.raw-f32', kind: 'binary', seeds: [f32], args: SHAPES.length,
      run: (b, arg) => checkTensor(readRawFloat32(b, SHAPES[arg % SHAPES.length])),
    },
    {
      name: 'io.raw-u8', kind: 'binary', seeds: [u8.slice()], args: U8SHAPES.length * 2,
      run: (b, arg) => checkTensor(readRawUint8(b, U8SHAPES[arg % U8SHAPES.length], arg >= U8SHAPES.length ? { divisor: 255, float32: true } : {})),
    },
    {
      name: 'io.npy', kind: 'binary', seeds: [npyOf('<f4', '(4, 16)', f32), npyOf('<f8', '(2, 8)', f64), npyOf('|u1', '(2, 784)', u8.slice())], args: 1,
      run: (b) => checkTensor(readNpy(b)),
    },
    {
      name: 'io.json', kind: 'json', seeds: [utf8.encode(JSON.stringify([[[0.5, 1], [2, 3]]])), utf8.encode(JSON.stringify({ shape: [2, 3], data: [1, 2, 3, 4, 5, 6] }))], args: 2,
      run: (b, arg) => {
        // arg 1: an already parsed value (when the text still parses)
        let v: unknown = text(b);
        if (arg === 1) {
          try {
            v = JSON.parse(v as string);
          } catch {
            /* the text itself */
          }
        }
        return checkTensor(readJsonTensor(v));
      },
    },
  ];
}

/** ONNX import (protobuf decoding, graph lowering, shape inference). */
function onnxTargets(fix: URL): Target[] {
  const seeds = ['gelu_opset20.onnx', 'mnist_relu_bnfolded.onnx', 'mnist_relu_bn.onnx', 'mnist_gelu_res.onnx'].map((f) => new Uint8Array(readFileSync(new URL(f, fix))));
  return [{
    name: 'onnx.import', kind: 'binary', seeds, args: 1,
    run(b) {
      const g = importOnnx(b);
      validateGraph(g);
      // an accepted model runs in float64 (NumericalError for values that overflow is typed)
      if (sizeOf(g.input.shape) <= 4096 && g.nodes.length <= 64) runReference(g, { shape: [1, ...g.input.shape], data: new Float64Array(sizeOf(g.input.shape)) });
      return undefined;
    },
  }];
}

/** Every target (built once: contexts, keys, models). */
export function makeTargets(): Target[] {
  const fix = fixturesDir();
  return [...engineTargets(), ...networkTargets(), ...readerTargets(fix), ...onnxTargets(fix)];
}

/** The input of a case: the seed, edited as the mutation says, re-sealed if asked. */
export function buildInput(t: Target, m: Mutation, foreign: readonly Uint8Array[]): Uint8Array {
  let b = t.seeds[m.base % t.seeds.length];
  if (t.kind === 'json') b = utf8.encode(mutateJsonText(text(b), m.json));
  if (t.kind === 'bundle') b = mutateBundle(b, m.json, m.chunks, foreign);
  if (m.bytes.length) {
    b = applyBytes(b, m.bytes, foreign);
    if (m.reseal) b = t.kind === 'object' ? resealObject(b) : t.kind === 'bundle' ? resealBundle(b) : b;
  }
  return b;
}

/** Runs one case and classifies it. */
export function runCase(t: Target, m: Mutation, foreign: readonly Uint8Array[]): CaseResult {
  const t0 = performance.now();
  let outcome: Outcome;
  let detail: string | undefined;
  try {
    const bytes = buildInput(t, m, foreign);
    detail = t.run(bytes, m.arg % t.args, m.base % t.seeds.length);
    outcome = detail === undefined ? 'accepted' : 'wrong';
  } catch (e) {
    if (e instanceof VeilError) {
      outcome = 'typed';
      detail = `${e.code}: ${e.message.slice(0, 160)}`;
    } else {
      outcome = 'untyped';
      detail = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack?.split('\n').slice(1, 6).join('\n')}` : String(e);
    }
  }
  return { outcome, ms: performance.now() - t0, ...(detail !== undefined ? { detail } : {}) };
}

/** One seed of every target: the pool of foreign objects a mutation can substitute. */
export function foreignPool(targets: readonly Target[]): Uint8Array[] {
  return targets.map((t) => t.seeds[0]);
}

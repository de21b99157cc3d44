/**
 * The library API validates what the CLI validates, and the client and server check every bundle
 * against the plan: each case of the outside fuzzing campaign (issue 13) is a typed error here.
 * Bundles are re-sealed after tampering (`packBundle` recomputes the public checksum), so these
 * tests reach the structural checks behind it.
 */
import { describe, expect, it } from 'vitest';
import {
  BundleError, Client, FormatVersionError, InputRangeError, InputShapeError, KeyMismatchError, NonFiniteInputError, PlanError,
  Evaluator, SerializationError, Server, VeilError, deserializeCiphertext, parsePlan, serializeCiphertext,
} from '../src/index.js';
import { packBundle, unpackBundle } from '../src/nn/model/bundle.js';
import { tinyInputs, tinyModel } from '../tools/fuzz/tiny.js';

const batch = tinyModel('batch');
const channel = tinyModel('channel');

/** Re-packs a bundle after `edit` changes its header or chunks (a valid checksum again). */
function reseal(bytes: Uint8Array, edit: (h: Record<string, unknown>, chunks: Uint8Array[]) => void): Uint8Array {
  const { header, chunks } = unpackBundle(bytes);
  const h: Record<string, unknown> = { ...header };
  delete h.chunks;
  const cs = [...chunks];
  edit(h, cs);
  return packBundle(h, cs);
}

/** The error `f` throws (it must throw). */
function thrown(f: () => unknown): VeilError {
  try {
    f();
  } catch (e) {
    expect(e, String(e)).toBeInstanceOf(VeilError);
    return e as VeilError;
  }
  throw new Error('expected an error');
}

describe('Client.encrypt validates its input', () => {
  const client = new Client(batch.plan);

  it('shape: a typed InputShapeError, never a bare RangeError', () => {
    const e = thrown(() => client.encrypt({ shape: [2, 1, 4, 5], data: new Float64Array(40) }));
    expect(e).toBeInstanceOf(InputShapeError);
    expect(e.fix).toMatch(/reshape the input to \[N,1,4,4\]/);
    expect(thrown(() => client.encrypt({ shape: [2, 1, 4, 4], data: new Float64Array(31) }))).toBeInstanceOf(InputShapeError);
    expect(thrown(() => client.encrypt({ shape: [1, 4, 4], data: new Float64Array(16) }))).toBeInstanceOf(InputShapeError);
    expect(thrown(() => client.encrypt(null as never))).toBeInstanceOf(InputShapeError);
    const slots = client.ctx.params.slots;
    const many = thrown(() => client.encrypt({ shape: [slots + 1, 1, 4, 4], data: new Float64Array((slots + 1) * 16).fill(0.5) }));
    expect(many).toBeInstanceOf(InputShapeError);
    expect(many.fix).toMatch(new RegExp(`at most ${slots} images`));
  });

  it('the channel layout with more than one image: typed, with a fix that encrypts one at a time', () => {
    const c = new Client(channel.plan);
    const e = thrown(() => c.encrypt(tinyInputs(2)));
    expect(e).toBeInstanceOf(InputShapeError);
    expect(e.fix).toMatch(/client\.encrypt/);
    expect(c.encrypt(tinyInputs(1)).length).toBeGreaterThan(0);
  });

  it('non-finite values', () => {
    const x = tinyInputs(2);
    x.data[5] = NaN;
    const e = thrown(() => client.encrypt(x)) as NonFiniteInputError;
    expect(e).toBeInstanceOf(NonFiniteInputError);
    expect(e.index).toBe(5);
  });

  it('pixels scaled 0–255 for a model calibrated on 0–1 are refused with a fix that says to normalise', () => {
    expect(batch.plan.inputRange[0]).toBeGreaterThanOrEqual(0);
    expect(batch.plan.inputRange[1]).toBeLessThanOrEqual(1);
    const x = tinyInputs(3);
    const pixels = { shape: x.shape, data: x.data.map((v) => Math.round(v * 255)) };
    const e = thrown(() => client.encrypt(pixels)) as InputRangeError;
    expect(e).toBeInstanceOf(InputRangeError);
    expect(e.code).toBe('INPUT_RANGE');
    expect(e.fix).toMatch(/divided by 255/);
    // values inside the range plus 25% slack pass; just beyond it do not
    const [lo, hi] = batch.plan.inputRange;
    const edge = { shape: [1, 1, 4, 4], data: new Float64Array(16).fill(hi + 0.2 * (hi - lo)) };
    expect(client.encrypt(edge).length).toBeGreaterThan(0);
    const beyond = { shape: [1, 1, 4, 4], data: new Float64Array(16).fill(lo - 0.3 * (hi - lo)) };
    expect(thrown(() => client.encrypt(beyond))).toBeInstanceOf(InputRangeError);
  });
});

describe('keys and ciphertexts of another client', () => {
  const a = new Client(batch.plan);
  const b = new Client(batch.plan);
  const serverA = new Server(batch, a.evaluationKeys());

  it('a server with client A\'s keys refuses client B\'s ciphertexts (same parameters)', () => {
    expect(a.keyId).not.toBe(b.keyId);
    const e = thrown(() => serverA.infer(b.encrypt(tinyInputs(2)))) as KeyMismatchError;
    expect(e).toBeInstanceOf(KeyMismatchError);
    expect(e.found).toBe(b.keyId);
    expect(e.expected).toBe(a.keyId);
  });

  it('B\'s ciphertext chunks inside A\'s header are refused too (ids are per ciphertext)', () => {
    const mixed = reseal(a.encrypt(tinyInputs(2)), (_h, cs) => {
      const { chunks } = unpackBundle(b.encrypt(tinyInputs(2)));
      cs[3] = chunks[3];
    });
    expect(thrown(() => serverA.infer(mixed))).toBeInstanceOf(KeyMismatchError);
  });

  it('B cannot decrypt A\'s output; A decrypts it to the simulation', () => {
    const x = tinyInputs(4, 11);
    const out = serverA.infer(a.encrypt(x));
    expect(thrown(() => b.decrypt(out))).toBeInstanceOf(KeyMismatchError);
    const y = a.decrypt(out);
    const sim = batch.simulate(x);
    for (let i = 0; i < sim.data.length; i++) expect(Math.abs(y.data[i] - sim.data[i])).toBeLessThan(1e-4);
  });

  it('evaluation keys whose parts come from two clients are refused', () => {
    const mixed = reseal(a.evaluationKeys(), (_h, cs) => {
      cs[1] = unpackBundle(b.evaluationKeys()).chunks[1];
    });
    expect(thrown(() => new Server(batch, mixed))).toBeInstanceOf(KeyMismatchError);
  });
});

describe('the bundle header is checked against the plan (re-sealed tampering)', () => {
  const client = new Client(batch.plan);
  const server = new Server(batch, client.evaluationKeys());
  const x = tinyInputs(4, 21);
  const input = client.encrypt(x);
  const output = server.infer(input);

  it('the untampered round trip works', () => {
    expect(client.decrypt(output).shape).toEqual([4, 3]);
  });

  const outputCases: [string, (h: Record<string, unknown>, c: Uint8Array[]) => void][] = [
    ['count: 9 (4 images encrypted)', (h) => { h.count = 9; }],
    ['count: 1e9', (h) => { h.count = 1e9; }],
    ['count: -1', (h) => { h.count = -1; }],
    ['count: 2^31 − 1', (h) => { h.count = 2 ** 31 - 1; }],
    ['count: 1e308', (h) => { h.count = 1e308; }],
    ['shape: [1]', (h) => { h.shape = [1]; }],
    ['shape deleted', (h) => { delete h.shape; }],
    ['layout: [null], a chunk dropped', (h, c) => { h.layout = [null]; c.pop(); }],
    ['a chunk dropped', (_h, c) => { c.pop(); }],
    ['a chunk added', (_h, c) => { c.push(c[0]); }],
    ['unknown request', (h) => { h.request = '0123456789abcdef'; }],
    ['request deleted', (h) => { delete h.request; }],
    ['kind: input', (h) => { h.kind = 'input'; }],
    ['key id deleted', (h) => { delete h.keyId; }],
  ];
  for (const [name, edit] of outputCases) {
    it(`client.decrypt refuses an output with ${name}`, () => {
      const e = thrown(() => client.decrypt(reseal(output, edit)));
      expect(e).toBeInstanceOf(name.startsWith('key id') ? KeyMismatchError : BundleError);
    });
  }

  it('reordered chunks: the bundle checksum catches it (not re-sealed)', () => {
    const { chunks } = unpackBundle(output);
    const len = chunks[0].length;
    expect(chunks.every((c) => c.length === len)).toBe(true);
    const swapped = output.slice();
    const at0 = chunks[0].byteOffset - output.byteOffset;
    const at1 = chunks[1].byteOffset - output.byteOffset;
    swapped.set(output.subarray(at1, at1 + len), at0);
    swapped.set(output.subarray(at0, at0 + len), at1);
    expect(thrown(() => client.decrypt(swapped))).toBeInstanceOf(BundleError);
  });

  const inputCases: [string, (h: Record<string, unknown>, c: Uint8Array[]) => void][] = [
    ['count: 1e9', (h) => { h.count = 1e9; }],
    ['count: 0', (h) => { h.count = 0; }],
    ['count: "4"', (h) => { h.count = '4'; }],
    ['shape: [16]', (h) => { h.shape = [16]; }],
    ['shape deleted', (h) => { delete h.shape; }],
    ['layout: channel', (h) => { h.layout = 'channel'; }],
    ['a chunk dropped', (_h, c) => { c.pop(); }],
    ['layout: [null], a chunk dropped', (h, c) => { h.layout = [null]; c.pop(); }],
    ['a non-object chunk', (_h, c) => { c[2] = new Uint8Array(3); }],
  ];
  for (const [name, edit] of inputCases) {
    it(`server.infer refuses an input with ${name}`, () => {
      expect(thrown(() => server.infer(reseal(input, edit)))).toBeInstanceOf(SerializationError);
    });
  }

  it('the server copies a checked count into its output, and refuses inputs not at the fresh level', () => {
    const out = unpackBundle(server.infer(input)).header;
    expect(out.count).toBe(4);
    // a ciphertext of the right client one level down: a valid object, but not what the plan expects
    const ev = new Evaluator(client.ctx);
    const lower = reseal(input, (_h, cs) => {
      const ct = ev.dropLevel(deserializeCiphertext(client.ctx, cs[5]));
      expect(ct.keyId).toBe(client.keyId);
      cs[5] = serializeCiphertext(ct);
    });
    const e = thrown(() => server.infer(lower));
    expect(e).toBeInstanceOf(BundleError);
    expect(e.message).toMatch(/input ciphertext 5 is at level/);
  });
});

describe('plans', () => {
  const good = JSON.parse(JSON.stringify(batch.plan));

  it('a plan survives JSON and validates to itself', () => {
    expect(parsePlan(JSON.stringify(batch.plan))).toEqual(batch.plan);
    expect(parsePlan(JSON.stringify(channel.plan))).toEqual(channel.plan);
  });

  const cases: [string, (p: Record<string, unknown>) => void][] = [
    ['params.q not iterable', (p) => { (p.params as Record<string, unknown>).q = 5; }],
    ['params without logN', (p) => { delete (p.params as Record<string, unknown>).logN; }],
    ['params null', (p) => { p.params = null; }],
    ['params with a non-prime', (p) => { ((p.params as Record<string, unknown>).q as number[])[0] = 12; }],
    ['params with 10^6 levels', (p) => { (p.params as Record<string, unknown>).levels = 1e6; }],
    ['rotations null', (p) => { p.rotations = null; }],
    ['rotations of strings', (p) => { p.rotations = ['a']; }],
    ['rotations in a batch plan', (p) => { p.rotations = [1]; }],
    ['inputShape deleted', (p) => { delete p.inputShape; }],
    ['inputShape [1e9, 1e9]', (p) => { p.inputShape = [1e9, 1e9]; }],
    ['outputCiphertexts wrong', (p) => { p.outputCiphertexts = 7; }],
    ['inputRange reversed', (p) => { p.inputRange = [1, 0]; }],
    ['layout other', (p) => { p.layout = 'row'; }],
    ['depth above the levels', (p) => { p.depth = 99; }],
  ];
  for (const [name, edit] of cases) {
    it(`a plan with ${name} is a PlanError`, () => {
      const p = structuredClone(good);
      edit(p);
      expect(thrown(() => new Client(p))).toBeInstanceOf(PlanError);
    });
  }

  it('old plans and old bytes give a FormatVersionError naming the version', () => {
    const e = thrown(() => new Client({ ...good, format: 'veil-plan/1' })) as FormatVersionError;
    expect(e).toBeInstanceOf(FormatVersionError);
    expect(e.message).toMatch(/veil-plan\/1/);
    const keys = new Client(batch.plan).evaluationKeys();
    const v1 = keys.slice();
    new DataView(v1.buffer).setUint16(4, 1, true);
    expect(thrown(() => new Server(batch, v1)).message).toMatch(/Veil bundle format version 1/);
    const obj = unpackBundle(keys).chunks[1].slice();
    new DataView(obj.buffer).setUint16(4, 1, true);
    expect(thrown(() => new Server(batch, reseal(keys, (_h, c) => { c[1] = obj; }))).message).toMatch(/Veil object format version 1/);
  });

  it('Galois keys are checked against the plan: other rotations are refused before use', () => {
    const c = new Client(channel.plan);
    const keys = c.evaluationKeys();
    // as many keys as the plan needs, one for a step the plan does not use
    const rot = channel.plan.rotations;
    let extra = 1;
    while (rot.includes(extra)) extra++;
    const other = new Client({ ...channel.plan, rotations: [...rot.slice(1), extra] });
    const wrong = reseal(keys, (_h, cs) => { cs[2] = unpackBundle(other.evaluationKeys()).chunks[2]; });
    const e = thrown(() => new Server(channel, wrong));
    expect(e).toBeInstanceOf(SerializationError);
    expect(e.message).toMatch(/Galois/);
    expect(new Server(channel, keys).keyId).toBe(c.keyId);
  });
});

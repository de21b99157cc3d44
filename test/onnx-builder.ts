/**
 * A tiny ONNX writer for tests (protobuf by hand, independent of the library's own writer): builds
 * models node by node with initializers in several encodings, including malformed ones.
 */

export class Writer {
  readonly bytes: number[] = [];
  varint(v: number | bigint): this {
    let x = BigInt.asUintN(64, BigInt(v));
    do {
      let b = Number(x & 0x7fn);
      x >>= 7n;
      if (x !== 0n) b |= 0x80;
      this.bytes.push(b);
    } while (x !== 0n);
    return this;
  }
  tag(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }
  int(field: number, v: number): this {
    return this.tag(field, 0).varint(v);
  }
  float(field: number, v: number): this {
    this.tag(field, 5);
    this.bytes.push(...new Uint8Array(new Float32Array([v]).buffer));
    return this;
  }
  raw(field: number, b: ArrayLike<number>): this {
    this.tag(field, 2).varint(b.length);
    this.bytes.push(...Array.from(b));
    return this;
  }
  str(field: number, s: string): this {
    return this.raw(field, new TextEncoder().encode(s));
  }
  msg(field: number, w: Writer): this {
    return this.raw(field, w.bytes);
  }
  packedInts(field: number, vs: number[]): this {
    const w = new Writer();
    for (const v of vs) w.varint(v);
    return this.raw(field, w.bytes);
  }
  packedFloats(field: number, vs: number[]): this {
    return this.raw(field, new Uint8Array(new Float32Array(vs).buffer));
  }
  packedDoubles(field: number, vs: number[]): this {
    return this.raw(field, new Uint8Array(new Float64Array(vs).buffer));
  }
}

export type Enc = 'raw' | 'float_data' | 'double' | 'int64' | 'int32' | 'int64raw';
export interface T {
  name?: string;
  dims: number[];
  values: number[];
  enc?: Enc;
}
export function tensor(t: T): Writer {
  const w = new Writer();
  w.packedInts(1, t.dims);
  const enc = t.enc ?? 'raw';
  const type = enc === 'double' ? 11 : enc === 'int64' || enc === 'int64raw' ? 7 : enc === 'int32' ? 6 : 1;
  w.int(2, type);
  if (t.name !== undefined) w.str(8, t.name);
  if (enc === 'raw') w.raw(9, new Uint8Array(new Float32Array(t.values).buffer));
  else if (enc === 'float_data') w.packedFloats(4, t.values);
  else if (enc === 'double') w.packedDoubles(10, t.values);
  else if (enc === 'int64') w.packedInts(7, t.values);
  else if (enc === 'int32') w.packedInts(5, t.values);
  else w.raw(9, new Uint8Array(new BigInt64Array(t.values.map((v) => BigInt(v))).buffer));
  return w;
}

export type A = { f: number } | { i: number } | { s: string } | { ints: number[] } | { floats: number[] } | { t: T };
export function attr(name: string, a: A): Writer {
  const w = new Writer().str(1, name);
  if ('f' in a) w.float(2, a.f).int(20, 1);
  else if ('i' in a) w.int(3, a.i).int(20, 2);
  else if ('s' in a) w.str(4, a.s).int(20, 3);
  else if ('t' in a) w.msg(5, tensor(a.t)).int(20, 4);
  else if ('floats' in a) w.packedFloats(7, a.floats).int(20, 6);
  else w.packedInts(8, a.ints).int(20, 7);
  return w;
}

export interface N {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  domain?: string;
  attrs?: Record<string, A>;
}
export function node(n: N): Writer {
  const w = new Writer();
  for (const i of n.inputs) w.str(1, i);
  for (const o of n.outputs) w.str(2, o);
  if (n.name !== undefined) w.str(3, n.name);
  w.str(4, n.op);
  for (const [k, v] of Object.entries(n.attrs ?? {})) w.msg(5, attr(k, v));
  if (n.domain !== undefined) w.str(7, n.domain);
  return w;
}

export function valueInfo(name: string, dims: (number | string)[]): Writer {
  const shape = new Writer();
  for (const d of dims) shape.msg(1, typeof d === 'number' ? new Writer().int(1, d) : new Writer().str(2, d));
  const tt = new Writer().int(1, 1).msg(2, shape);
  return new Writer().str(1, name).msg(2, new Writer().msg(1, tt));
}

export interface M {
  nodes: N[];
  inits?: T[];
  input?: [string, (number | string)[]];
  outputs?: string[];
  opset?: number;
}
export function model(m: M): Uint8Array {
  const g = new Writer();
  for (const n of m.nodes) g.msg(1, node(n));
  g.str(2, 'test');
  for (const t of m.inits ?? []) g.msg(5, tensor(t));
  const [iname, idims] = m.input ?? ['x', ['N', 2, 4, 4]];
  g.msg(11, valueInfo(iname, idims));
  for (const o of m.outputs ?? ['y']) g.msg(12, valueInfo(o, []));
  const w = new Writer().int(1, 8).str(2, 'test').msg(7, g).msg(8, new Writer().str(1, '').int(2, m.opset ?? 13));
  return Uint8Array.from(w.bytes);
}


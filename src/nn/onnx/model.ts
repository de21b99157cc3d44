/**
 * @module nn/onnx/model
 *
 * Decoding of ONNX files (`ModelProto`, protobuf-encoded) into plain TypeScript objects, using
 * the dependency-free reader in {@link module:nn/onnx/protobuf}. Only the parts of the schema that
 * inference needs are decoded; unknown fields are skipped as protobuf requires.
 *
 * Field numbers follow `onnx/onnx.proto` (ModelProto: ir_version 1, opset_import 8, graph 7;
 * GraphProto: node 1, initializer 5, input 11, output 12, value_info 13; NodeProto: input 1,
 * output 2, name 3, op_type 4, attribute 5, domain 7; AttributeProto: name 1, f 2, i 3, s 4,
 * t 5, g 6, floats 7, ints 8, strings 9, type 20; TensorProto: dims 1, data_type 2,
 * float_data 4, int32_data 5, int64_data 7, name 8, raw_data 9, double_data 10,
 * uint64_data 11, data_location 14; ValueInfoProto: name 1, type 2; TypeProto.tensor_type 1;
 * TypeProto.Tensor: elem_type 1, shape 2; TensorShapeProto.dim 1; Dimension: dim_value 1,
 * dim_param 2).
 */

import { OnnxParseError, ProtoReader, WireType, type Tag } from './protobuf.js';

export { OnnxParseError } from './protobuf.js';

/** ONNX `TensorProto.DataType` codes. */
export const OnnxDataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
} as const;

const DATA_TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(OnnxDataType).map(([k, v]) => [v, k]),
);

/** Human-readable name of an ONNX data type code. */
export function dataTypeName(code: number): string {
  return DATA_TYPE_NAMES[code] ?? `unknown(${code})`;
}

/** A decoded `TensorProto`. Numeric data is converted to float64. */
export interface OnnxTensor {
  name: string;
  dims: number[];
  dataType: number;
  /**
   * Element values as float64 (`null` for types Veil does not decode, e.g. STRING, COMPLEX,
   * or tensors stored as external data).
   */
  data: Float64Array | null;
  /** True when the tensor refers to external data (not supported). */
  external: boolean;
}

/** A decoded `TensorShapeProto.Dimension`: a number, a symbolic name, or unknown (`null`). */
export type OnnxDim = number | string | null;

/** A decoded `ValueInfoProto` (tensor types only). */
export interface OnnxValueInfo {
  name: string;
  /** Element type, 0 if absent or not a tensor type. */
  elemType: number;
  /** Shape, `null` if absent. */
  shape: OnnxDim[] | null;
}

/** A decoded `AttributeProto`. */
export type OnnxAttribute =
  | { name: string; kind: 'float'; value: number }
  | { name: string; kind: 'int'; value: number }
  | { name: string; kind: 'string'; value: string }
  | { name: string; kind: 'tensor'; value: OnnxTensor }
  | { name: string; kind: 'graph'; value: OnnxGraph }
  | { name: string; kind: 'floats'; value: number[] }
  | { name: string; kind: 'ints'; value: number[] }
  | { name: string; kind: 'strings'; value: string[] }
  | { name: string; kind: 'other'; type: number };

/** A decoded `NodeProto`. */
export interface OnnxNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: OnnxAttribute[];
}

/** A decoded `GraphProto`. */
export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  valueInfo: OnnxValueInfo[];
}

/** A decoded `OperatorSetIdProto`. */
export interface OnnxOpset {
  domain: string;
  version: number;
}

/** A decoded `ModelProto`. */
export interface OnnxModel {
  irVersion: number;
  opsetImport: OnnxOpset[];
  producerName: string;
  producerVersion: string;
  graph: OnnxGraph;
}

/**
 * Decodes an ONNX model file.
 *
 * @param bytes - the contents of a `.onnx` file
 * @returns the decoded model
 * @throws OnnxParseError if the bytes are not a well-formed ModelProto, or a tensor's data
 *   does not match its dims and type
 */
export function decodeOnnxModel(bytes: Uint8Array): OnnxModel {
  if (!(bytes instanceof Uint8Array)) throw new OnnxParseError('input is not a Uint8Array', 0);
  const r = new ProtoReader(bytes);
  const model: OnnxModel = { irVersion: 0, opsetImport: [], producerName: '', producerVersion: '', graph: emptyGraph() };
  let sawGraph = false;
  while (!r.eof()) {
    const tag = r.readTag();
    switch (tag.field) {
      case 1:
        r.expectWire(tag, WireType.Varint, 'ModelProto.ir_version');
        model.irVersion = r.readInt64();
        break;
      case 2:
        r.expectWire(tag, WireType.LengthDelimited, 'ModelProto.producer_name');
        model.producerName = r.readString();
        break;
      case 3:
        r.expectWire(tag, WireType.LengthDelimited, 'ModelProto.producer_version');
        model.producerVersion = r.readString();
        break;
      case 7:
        r.expectWire(tag, WireType.LengthDelimited, 'ModelProto.graph');
        model.graph = decodeGraph(r.sub());
        sawGraph = true;
        break;
      case 8:
        r.expectWire(tag, WireType.LengthDelimited, 'ModelProto.opset_import');
        model.opsetImport.push(decodeOpset(r.sub()));
        break;
      default:
        r.skip(tag);
    }
  }
  if (!sawGraph) throw new OnnxParseError('ModelProto has no graph (field 7)', bytes.length);
  return model;
}

function emptyGraph(): OnnxGraph {
  return { name: '', nodes: [], initializers: [], inputs: [], outputs: [], valueInfo: [] };
}

function decodeOpset(r: ProtoReader): OnnxOpset {
  const o: OnnxOpset = { domain: '', version: 0 };
  while (!r.eof()) {
    const tag = r.readTag();
    if (tag.field === 1 && tag.wire === WireType.LengthDelimited) o.domain = r.readString();
    else if (tag.field === 2 && tag.wire === WireType.Varint) o.version = r.readInt64();
    else r.skip(tag);
  }
  return o;
}

function decodeGraph(r: ProtoReader): OnnxGraph {
  const g = emptyGraph();
  while (!r.eof()) {
    const tag = r.readTag();
    switch (tag.field) {
      case 1:
        r.expectWire(tag, WireType.LengthDelimited, 'GraphProto.node');
        g.nodes.push(decodeNode(r.sub()));
        break;
      case 2:
        r.expectWire(tag, WireType.LengthDelimited, 'GraphProto.name');
        g.name = r.readString();
        break;
      case 5:
        r.expectWire(tag, WireType.LengthDelimited, 'GraphProto.initializer');
        g.initializers.push(decodeTensor(r.sub()));
        break;
      case 11:
        r.expectWire(tag, WireType.LengthDelimited, 'GraphProto.input');
        g.inputs.push(decodeValueInfo(r.sub()));
        break;
      case 12:
        r.expectWire(tag, WireType.LengthDelimited, 'GraphProto.output');
        g.outputs.push(decodeValueInfo(r.sub()));
        break;
      case 13:
        r.expectWire(tag, WireType.LengthDelimited, 'GraphProto.value_info');
        g.valueInfo.push(decodeValueInfo(r.sub()));
        break;
      default:
        r.skip(tag);
    }
  }
  return g;
}

function decodeNode(r: ProtoReader): OnnxNode {
  const n: OnnxNode = { name: '', opType: '', domain: '', inputs: [], outputs: [], attributes: [] };
  while (!r.eof()) {
    const tag = r.readTag();
    switch (tag.field) {
      case 1:
        r.expectWire(tag, WireType.LengthDelimited, 'NodeProto.input');
        n.inputs.push(r.readString());
        break;
      case 2:
        r.expectWire(tag, WireType.LengthDelimited, 'NodeProto.output');
        n.outputs.push(r.readString());
        break;
      case 3:
        r.expectWire(tag, WireType.LengthDelimited, 'NodeProto.name');
        n.name = r.readString();
        break;
      case 4:
        r.expectWire(tag, WireType.LengthDelimited, 'NodeProto.op_type');
        n.opType = r.readString();
        break;
      case 5:
        r.expectWire(tag, WireType.LengthDelimited, 'NodeProto.attribute');
        n.attributes.push(decodeAttribute(r.sub()));
        break;
      case 7:
        r.expectWire(tag, WireType.LengthDelimited, 'NodeProto.domain');
        n.domain = r.readString();
        break;
      default:
        r.skip(tag);
    }
  }
  return n;
}

/** AttributeProto.AttributeType codes. */
const AttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;

function decodeAttribute(r: ProtoReader): OnnxAttribute {
  const start = r.pos;
  let name = '';
  let type = 0;
  let f: number | undefined;
  let i: number | undefined;
  let s: string | undefined;
  let t: OnnxTensor | undefined;
  let g: OnnxGraph | undefined;
  const floats: number[] = [];
  const ints: number[] = [];
  const strings: string[] = [];
  while (!r.eof()) {
    const tag = r.readTag();
    switch (tag.field) {
      case 1:
        r.expectWire(tag, WireType.LengthDelimited, 'AttributeProto.name');
        name = r.readString();
        break;
      case 20:
        r.expectWire(tag, WireType.Varint, 'AttributeProto.type');
        type = r.readInt64();
        break;
      case 2:
        r.expectWire(tag, WireType.Fixed32, 'AttributeProto.f');
        f = r.readFloat32();
        break;
      case 3:
        r.expectWire(tag, WireType.Varint, 'AttributeProto.i');
        i = r.readInt64();
        break;
      case 4:
        r.expectWire(tag, WireType.LengthDelimited, 'AttributeProto.s');
        s = r.readString();
        break;
      case 5:
        r.expectWire(tag, WireType.LengthDelimited, 'AttributeProto.t');
        t = decodeTensor(r.sub());
        break;
      case 6:
        r.expectWire(tag, WireType.LengthDelimited, 'AttributeProto.g');
        g = decodeGraph(r.sub());
        break;
      case 7:
        r.readRepeated(tag, 'float', floats);
        break;
      case 8:
        r.readRepeated(tag, 'int64', ints);
        break;
      case 9:
        r.expectWire(tag, WireType.LengthDelimited, 'AttributeProto.strings');
        strings.push(r.readString());
        break;
      default:
        r.skip(tag);
    }
  }
  // IR version 1 files may omit `type`; infer it from the field that is present.
  if (type === 0) {
    if (f !== undefined) type = AttrType.FLOAT;
    else if (i !== undefined) type = AttrType.INT;
    else if (s !== undefined) type = AttrType.STRING;
    else if (t !== undefined) type = AttrType.TENSOR;
    else if (g !== undefined) type = AttrType.GRAPH;
    else if (floats.length > 0) type = AttrType.FLOATS;
    else if (ints.length > 0) type = AttrType.INTS;
    else if (strings.length > 0) type = AttrType.STRINGS;
  }
  switch (type) {
    case AttrType.FLOAT:
      return { name, kind: 'float', value: f ?? 0 };
    case AttrType.INT:
      return { name, kind: 'int', value: i ?? 0 };
    case AttrType.STRING:
      return { name, kind: 'string', value: s ?? '' };
    case AttrType.TENSOR:
      if (t === undefined) throw new OnnxParseError(`attribute '${name}' has type TENSOR but no tensor`, start);
      return { name, kind: 'tensor', value: t };
    case AttrType.GRAPH:
      if (g === undefined) throw new OnnxParseError(`attribute '${name}' has type GRAPH but no graph`, start);
      return { name, kind: 'graph', value: g };
    case AttrType.FLOATS:
      return { name, kind: 'floats', value: floats };
    case AttrType.INTS:
      return { name, kind: 'ints', value: ints };
    case AttrType.STRINGS:
      return { name, kind: 'strings', value: strings };
    default:
      return { name, kind: 'other', type };
  }
}

function decodeValueInfo(r: ProtoReader): OnnxValueInfo {
  const v: OnnxValueInfo = { name: '', elemType: 0, shape: null };
  while (!r.eof()) {
    const tag = r.readTag();
    if (tag.field === 1 && tag.wire === WireType.LengthDelimited) v.name = r.readString();
    else if (tag.field === 2 && tag.wire === WireType.LengthDelimited) decodeTypeProto(r.sub(), v);
    else r.skip(tag);
  }
  return v;
}

function decodeTypeProto(r: ProtoReader, v: OnnxValueInfo): void {
  while (!r.eof()) {
    const tag = r.readTag();
    if (tag.field === 1 && tag.wire === WireType.LengthDelimited) {
      const tr = r.sub();
      while (!tr.eof()) {
        const tt = tr.readTag();
        if (tt.field === 1 && tt.wire === WireType.Varint) v.elemType = tr.readInt64();
        else if (tt.field === 2 && tt.wire === WireType.LengthDelimited) v.shape = decodeShape(tr.sub());
        else tr.skip(tt);
      }
    } else {
      r.skip(tag);
    }
  }
}

function decodeShape(r: ProtoReader): OnnxDim[] {
  const dims: OnnxDim[] = [];
  while (!r.eof()) {
    const tag = r.readTag();
    if (tag.field === 1 && tag.wire === WireType.LengthDelimited) {
      const dr = r.sub();
      let d: OnnxDim = null;
      while (!dr.eof()) {
        const dt = dr.readTag();
        if (dt.field === 1 && dt.wire === WireType.Varint) d = dr.readInt64();
        else if (dt.field === 2 && dt.wire === WireType.LengthDelimited) d = dr.readString();
        else dr.skip(dt);
      }
      dims.push(d);
    } else {
      r.skip(tag);
    }
  }
  return dims;
}

/** Byte size of one element stored in raw_data, for the types Veil decodes. */
const RAW_SIZE: Record<number, number> = {
  [OnnxDataType.FLOAT]: 4,
  [OnnxDataType.DOUBLE]: 8,
  [OnnxDataType.INT64]: 8,
  [OnnxDataType.INT32]: 4,
  [OnnxDataType.UINT8]: 1,
  [OnnxDataType.INT8]: 1,
  [OnnxDataType.UINT16]: 2,
  [OnnxDataType.INT16]: 2,
  [OnnxDataType.BOOL]: 1,
  [OnnxDataType.FLOAT16]: 2,
  [OnnxDataType.BFLOAT16]: 2,
  [OnnxDataType.UINT32]: 4,
  [OnnxDataType.UINT64]: 8,
};

function decodeTensor(r: ProtoReader): OnnxTensor {
  const start = r.pos;
  const dims: number[] = [];
  let dataType = 0;
  let name = '';
  let raw: Uint8Array | null = null;
  let external = false;
  const floatData: number[] = [];
  const int32Data: number[] = [];
  const int64Data: number[] = [];
  const doubleData: number[] = [];
  const uint64Data: number[] = [];
  while (!r.eof()) {
    const tag: Tag = r.readTag();
    switch (tag.field) {
      case 1:
        r.readRepeated(tag, 'int64', dims);
        break;
      case 2:
        r.expectWire(tag, WireType.Varint, 'TensorProto.data_type');
        dataType = r.readInt64();
        break;
      case 4:
        r.readRepeated(tag, 'float', floatData);
        break;
      case 5:
        r.readRepeated(tag, 'int64', int32Data);
        break;
      case 7:
        r.readRepeated(tag, 'int64', int64Data);
        break;
      case 8:
        r.expectWire(tag, WireType.LengthDelimited, 'TensorProto.name');
        name = r.readString();
        break;
      case 9:
        r.expectWire(tag, WireType.LengthDelimited, 'TensorProto.raw_data');
        raw = r.readBytes();
        break;
      case 10:
        r.readRepeated(tag, 'double', doubleData);
        break;
      case 11:
        r.readRepeated(tag, 'uint64', uint64Data);
        break;
      case 14:
        r.expectWire(tag, WireType.Varint, 'TensorProto.data_location');
        external = r.readInt64() === 1;
        break;
      default:
        r.skip(tag);
    }
  }
  let count = 1;
  for (const d of dims) {
    if (d < 0) throw new OnnxParseError(`tensor '${name}' has negative dimension ${d}`, start);
    count *= d;
  }
  if (!Number.isSafeInteger(count)) throw new OnnxParseError(`tensor '${name}' dims ${JSON.stringify(dims)} are too large`, start);
  const tensor: OnnxTensor = { name, dims, dataType, data: null, external };
  if (external) return tensor;

  const mismatch = (have: number, field: string): OnnxParseError =>
    new OnnxParseError(
      `tensor '${name}' (${dataTypeName(dataType)}, dims ${JSON.stringify(dims)}) needs ${count} elements but ${field} holds ${have}`,
      start,
    );

  if (raw !== null) {
    const size = RAW_SIZE[dataType];
    if (size === undefined) return tensor; // undecoded type (STRING, COMPLEX, ...)
    if (raw.length !== count * size) throw mismatch(raw.length / size, 'raw_data');
    tensor.data = decodeRaw(raw, dataType, count, name, start);
    return tensor;
  }

  let src: number[] | null = null;
  let field = '';
  switch (dataType) {
    case OnnxDataType.FLOAT:
      src = floatData;
      field = 'float_data';
      break;
    case OnnxDataType.DOUBLE:
      src = doubleData;
      field = 'double_data';
      break;
    case OnnxDataType.INT64:
      src = int64Data;
      field = 'int64_data';
      break;
    case OnnxDataType.UINT32:
    case OnnxDataType.UINT64:
      src = uint64Data;
      field = 'uint64_data';
      break;
    case OnnxDataType.INT32:
    case OnnxDataType.INT16:
    case OnnxDataType.INT8:
    case OnnxDataType.UINT16:
    case OnnxDataType.UINT8:
    case OnnxDataType.BOOL:
    case OnnxDataType.FLOAT16:
    case OnnxDataType.BFLOAT16:
      src = int32Data;
      field = 'int32_data';
      break;
    default:
      return tensor;
  }
  if (src.length !== count) throw mismatch(src.length, field);
  const data = new Float64Array(count);
  if (dataType === OnnxDataType.FLOAT16) for (let k = 0; k < count; k++) data[k] = halfToFloat(src[k]! & 0xffff);
  else if (dataType === OnnxDataType.BFLOAT16) for (let k = 0; k < count; k++) data[k] = bf16ToFloat(src[k]! & 0xffff);
  else if (dataType === OnnxDataType.INT32) for (let k = 0; k < count; k++) data[k] = src[k]! | 0;
  else data.set(src);
  tensor.data = data;
  return tensor;
}

function decodeRaw(raw: Uint8Array, dataType: number, count: number, name: string, at: number): Float64Array {
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Float64Array(count);
  switch (dataType) {
    case OnnxDataType.FLOAT:
      for (let k = 0; k < count; k++) out[k] = v.getFloat32(4 * k, true);
      break;
    case OnnxDataType.DOUBLE:
      for (let k = 0; k < count; k++) out[k] = v.getFloat64(8 * k, true);
      break;
    case OnnxDataType.INT64:
    case OnnxDataType.UINT64:
      for (let k = 0; k < count; k++) {
        const lo = v.getUint32(8 * k, true);
        const hi = v.getInt32(8 * k + 4, true);
        const hiU = hi >>> 0;
        if (dataType === OnnxDataType.UINT64 ? hiU > 0x1fffff : hi > 0x1fffff || hi < -0x200000 || (hi === -0x200000 && lo === 0)) {
          throw new OnnxParseError(`tensor '${name}' holds a 64-bit integer outside the safe range`, at);
        }
        out[k] = (dataType === OnnxDataType.UINT64 ? hiU : hi) * 4294967296 + lo;
      }
      break;
    case OnnxDataType.INT32:
      for (let k = 0; k < count; k++) out[k] = v.getInt32(4 * k, true);
      break;
    case OnnxDataType.UINT32:
      for (let k = 0; k < count; k++) out[k] = v.getUint32(4 * k, true);
      break;
    case OnnxDataType.INT16:
      for (let k = 0; k < count; k++) out[k] = v.getInt16(2 * k, true);
      break;
    case OnnxDataType.UINT16:
      for (let k = 0; k < count; k++) out[k] = v.getUint16(2 * k, true);
      break;
    case OnnxDataType.INT8:
      for (let k = 0; k < count; k++) out[k] = v.getInt8(k);
      break;
    case OnnxDataType.UINT8:
    case OnnxDataType.BOOL:
      for (let k = 0; k < count; k++) out[k] = v.getUint8(k);
      break;
    case OnnxDataType.FLOAT16:
      for (let k = 0; k < count; k++) out[k] = halfToFloat(v.getUint16(2 * k, true));
      break;
    case OnnxDataType.BFLOAT16:
      for (let k = 0; k < count; k++) out[k] = bf16ToFloat(v.getUint16(2 * k, true));
      break;
  }
  return out;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m === 0 ? s * Infinity : NaN;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

function bf16ToFloat(b: number): number {
  const buf = new DataView(new ArrayBuffer(4));
  buf.setUint32(0, b << 16, false);
  return buf.getFloat32(0, false);
}

/** Returns the attribute with the given name, or undefined. */
export function findAttribute(node: OnnxNode, name: string): OnnxAttribute | undefined {
  return node.attributes.find((a) => a.name === name);
}

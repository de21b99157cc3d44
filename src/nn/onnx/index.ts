/**
 * @module nn/onnx
 *
 * {@link importOnnx} decodes an ONNX file ({@link module:nn/onnx/model}) and lowers the graph to
 * Veil's IR ({@link module:nn/graph}): constants are folded, exporter patterns are recognised
 * (GELU's erf expansion, `Mul(x,x)`, `Pad`+`AveragePool`, `MatMul`+`Add`, shape arithmetic feeding
 * `Reshape`), and every other op or attribute outside the supported set is rejected with an
 * {@link UnsupportedOpError}.
 *
 * The lowering is one class split by concern: its state and helpers (`state.ts`), constant folding
 * (`const-fold.ts`), arithmetic and polynomial recognition (`arithmetic.ts`), and the layers
 * (`lower.ts`).
 */

import { UnsupportedOpError, type IrGraph } from '../graph.js';
import { Lowerer } from './lower.js';
import { decodeOnnxModel, type OnnxModel } from './model.js';

export * from './model.js';

/** Options for {@link importOnnx} / {@link lowerOnnx}. */
export interface ImportOptions {
  /**
   * Per-sample input shape (batch excluded), e.g. `[1, 28, 28]`. Needed only when the model's
   * input shape is missing or symbolic beyond the batch dimension; overrides the model's shape.
   */
  inputShape?: number[];
}

/**
 * Decodes an ONNX file and lowers it to Veil's IR.
 *
 * @param bytes - the contents of a `.onnx` file
 * @param options - see {@link ImportOptions}
 * @returns a validated {@link IrGraph}
 * @throws OnnxParseError for malformed bytes, UnsupportedOpError for ops/attributes outside the
 *   supported set (the message names node, op, attribute and a fix), GraphError for
 *   inconsistent graphs (shape mismatches, undefined values)
 */
export function importOnnx(bytes: Uint8Array, options: ImportOptions = {}): IrGraph {
  return lowerOnnx(decodeOnnxModel(bytes), options);
}

/**
 * Lowers a decoded ONNX model to Veil's IR (see {@link importOnnx}).
 *
 * @param model - a model from {@link decodeOnnxModel}
 * @param options - see {@link ImportOptions}
 * @returns a validated {@link IrGraph}
 */
export function lowerOnnx(model: OnnxModel, options: ImportOptions = {}): IrGraph {
  return new Lowerer(model, options).run();
}

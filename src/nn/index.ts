/**
 * @module nn
 * Private inference: ONNX import, calibration, compilation (activation polynomials, fusions,
 * level plan, parameters), float64 simulation, and encrypted execution in the batch and channel
 * layouts, with a client/server split where only bytes cross.
 */
export * from './graph.js';
export { importOnnx, decodeOnnxModel, OnnxParseError, type ImportOptions } from './onnx.js';
export { runReference, argmaxRows, NumericalError, type ReferenceOptions } from './reference.js';
export * from './io.js';
export * from './calibrate.js';
export * from './approximate.js';
export * from './compile.js';
export { ForwardPool } from './forward-pool.js';
export type { ProgressCallback } from './jobs.js';
export * from './params.js';
export * from './lincomb.js';
export * from './cluster.js';
export * from './batch.js';
export { register as registerBatchTasks } from './batch-tasks.js';
export * from './channel/index.js';
export * from './bootstraps.js';
export * from './bundle.js';
export * from './plan.js';
export * from './model.js';
export { type BootstrapOption, type BootstrapRun, type PlanBootstrap, BOOTSTRAP_RANGE_IMAGES } from './model-bootstrap.js';
export * from './cost-model.js';
export * from './layout-choice.js';
export { writeOnnx, type WriteOnnxOptions } from './onnx-writer.js';
export { predictPackedError, ckksNoise, largestOverInputs, ERROR_SIGMA, type CkksNoise, type PackedErrorOptions, type PackedErrorPrediction } from './packed/error.js';


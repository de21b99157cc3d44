/**
 * @module nn
 * Private inference: ONNX import, calibration, compilation (activation polynomials, fusions,
 * level plan, parameters), float64 simulation, and encrypted execution in the batch and channel
 * layouts, with a client/server split where only bytes cross.
 */
export * from './graph.js';
export { importOnnx, decodeOnnxModel, OnnxParseError, type ImportOptions } from './onnx/index.js';
export { runReference, argmaxRows, NumericalError, type ReferenceOptions } from './reference.js';
export * from './io.js';
export * from './compile/calibrate.js';
export * from './compile/approximate.js';
export * from './compile/compile.js';
export { ForwardPool } from './forward/pool.js';
export type { ProgressCallback } from './forward/jobs.js';
export * from './plan/params.js';
export * from './lincomb.js';
export * from './compile/cluster.js';
export * from './batch/runner.js';
export { register as registerBatchTasks } from './batch/tasks.js';
export * from './channel/index.js';
export * from './plan/bootstraps.js';
export * from './model/bundle.js';
export * from './plan/plan.js';
export * from './model/model.js';
export { type BootstrapOption, type BootstrapRun, type PlanBootstrap, BOOTSTRAP_RANGE_IMAGES } from './model/bootstrap.js';
export * from './plan/cost-model.js';
export * from './plan/layout-choice.js';
export { writeOnnx, type WriteOnnxOptions } from './onnx/writer.js';
export { predictPackedError, ckksNoise, largestOverInputs, ERROR_SIGMA, type CkksNoise, type PackedErrorOptions, type PackedErrorPrediction } from './packed/error.js';


/**
 * @module train
 * Approximation-aware training in TypeScript: forward/backward passes of Veil's IR, trainable
 * polynomial activations (per layer, channel or element; PAPER's clamp and penalty; SmartPAF's
 * composite with dynamic/static scale), losses (cross-entropy, distillation), SGD/Adam,
 * data-parallel workers, and the recipes of PAPER, SmartPAF and BEAA.
 */
export * from './activations.js';
export * from './conv.js';
export * from './gemm.js';
export * from './layers.js';
export * from './loss.js';
export * from './network.js';
export * from './optim.js';
export * from './parallel.js';
export * from './step.js';
export * from './trainer.js';
export * from './recipes/index.js';

/**
 * @module nn/packed
 * The packed layout: one image (or replicas of it) in one ciphertext per value, multiplexed channels,
 * every linear layer one diagonal transform.
 */
export * from './layout.js';
export * from './linear.js';
export * from './diagonals.js';
export * from './plan.js';
export * from './simulate.js';
export * from './runner.js';
export * from './error.js';
export * from './bootstraps.js';
export * from './bootstrap-runner.js';

/**
 * @module nn/channel
 * The channel layout: one ciphertext per channel (`runner.ts`), its error model (`error.ts`) and
 * its bootstraps (`bootstraps.ts`, `bootstrap-runner.ts`).
 */
export * from './runner.js';
export { predictChannelError } from './error.js';
export * from './bootstraps.js';
export * from './bootstrap-runner.js';

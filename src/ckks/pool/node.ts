/**
 * @module ckks/pool/node
 * The Node-only half of the worker pool's platform layer, reached through the package's private
 * import `#pool-node` (package.json `imports`): under the `node` condition it resolves here, under
 * every other condition (browsers, bundlers targeting the web) to `node-absent.ts`. So a
 * bundler never sees `node:worker_threads` unless it builds for Node, and needs no flags.
 */
export { nodeBackend } from './backend-node.js';
export { nodeHost } from './host-node.js';

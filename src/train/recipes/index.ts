/**
 * @module train/recipes
 * PAPER, SmartPAF and BEAA as functions from a trained ReLU graph and data to a trained
 * polynomial graph (see each module).
 */
export * from './common.js';
export * from './paper.js';
export * from './smartpaf.js';
export * from './beaa.js';

// Types of the ES module face: those of the CommonJS build it re-exports.
export * from '../dist/index.js';

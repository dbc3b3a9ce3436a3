// The ES module face of the package: the same module instance as
// require('mlx-serving') (dist/index.js, CommonJS), so an app that mixes
// import and require shares one EngineError class and one set of engines.
export * from '../dist/index.js';

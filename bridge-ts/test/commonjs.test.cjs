// require('mlx-serving') from a CommonJS file (an Electron main process, a
// Node app without ESM): the same API, and the same module instance as
// `import`, so errors are one class whichever way they were loaded.
const assert = require('node:assert/strict');
const { join } = require('node:path');
const { test } = require('node:test');
const mlx = require('mlx-serving');

const TINY = join(__dirname, '..', '..', 'models', 'tiny');

test('require() gives the API, the same objects as import', async () => {
  const esm = await import('mlx-serving');
  assert.equal(typeof mlx.createEngine, 'function');
  assert.equal(mlx.EngineError, esm.EngineError);
  assert.equal(mlx.EngineClientError, mlx.EngineError);
  assert.equal(mlx.createEngine, esm.createEngine);
});

test('a CommonJS caller loads a model and generates text', async () => {
  const engine = await mlx.createEngine();
  try {
    await engine.loadModel({ model: TINY });
    const text = await engine.generate({ prompt: 'The old man', maxTokens: 5 });
    assert.equal(typeof text, 'string');
    await assert.rejects(engine.generate({ model: 'nope', prompt: 'x' }), (error) => error instanceof mlx.EngineError && error.code === 'MODEL_NOT_LOADED');
  } finally {
    await engine.dispose();
  }
});

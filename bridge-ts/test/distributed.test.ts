// A model sharded over 2 ranks (mx.distributed ring over 127.0.0.1) through the
// bridge: loadModel({ distributed }) passes the group to the runtime, the result
// and getInfo() show it, and the sharded model writes what the local one writes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createEngine } from 'mlx-serving';
import type { Engine } from 'mlx-serving';
import { collect, TINY } from './helpers.js';

const GREEDY = { prompt: 'Once upon a time', temperature: 0, maxTokens: 24 };

let engine: Engine;

before(async () => {
  engine = await createEngine();
  await engine.loadModel({ model: TINY, modelId: 'local' });
});

after(async () => {
  await engine.dispose();
});

test('loadModel({ distributed }) shards the model; its greedy text is the local text', async () => {
  const loaded = await engine.loadModel(
    { model: TINY, modelId: 'sharded', distributed: { backend: 'ring', hosts: ['127.0.0.1', '127.0.0.1'] } },
    { timeoutMs: 120_000 },
  );
  assert.equal(loaded.group?.ranks, 2);
  assert.equal(loaded.group?.state, 'ready');
  const listed = await engine.listModels();
  assert.deepEqual(listed.find((m) => m.modelId === 'sharded')?.group?.hosts, ['127.0.0.1', '127.0.0.1']);

  const local = await engine.generateDetailed({ model: 'local', ...GREEDY });
  const sharded = await engine.generateDetailed({ model: 'sharded', ...GREEDY });
  assert.ok(local.text.length > 0);
  assert.equal(sharded.text, local.text);
  const streamed = await collect(engine.createGenerator({ model: 'sharded', ...GREEDY }));
  assert.equal(streamed.at(-1)?.type, 'metadata');

  await assert.rejects(
    engine.loadModel({ model: TINY, modelId: 'three', distributed: { hosts: ['127.0.0.1', '127.0.0.1', '127.0.0.1'] } }),
    { code: 'UNSUPPORTED', message: /not divisible by 3/ },
  );
  await engine.unloadModel('sharded');
});

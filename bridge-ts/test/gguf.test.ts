// GGUF files and progress reports through the bridge, against the real
// runtime: loadModel(path.gguf, { onProgress }) and createGenerator(...,
// { onPrefillProgress }); one engine serves every test here.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createEngine, EngineError } from 'mlx-serving';
import type { Engine, LoadProgress, PrefillProgress, TokenChunk } from 'mlx-serving';
import { collect, TINY, TINY_GGUF } from './helpers.js';

let engine: Engine;
let folder: string;

before(async () => {
  engine = await createEngine();
  folder = mkdtempSync(join(tmpdir(), 'mlx-serving-gguf-'));
});

after(async () => {
  await engine.dispose();
  rmSync(folder, { recursive: true, force: true });
});

test('loadModel of a .gguf file reports its progress and says what the file held', async () => {
  const reports: LoadProgress[] = [];
  const loaded = await engine.loadModel({ model: TINY_GGUF, modelId: 'gguf' }, { onProgress: (p) => reports.push(p) });
  assert.equal(loaded.gguf?.architecture, 'llama');
  assert.deepEqual(loaded.warnings, []);
  assert.deepEqual([...new Set(reports.map((r) => r.phase))], ['reading', 'converting', 'warming_up']);
  assert.ok(reports.every((r) => r.modelId === 'gguf' && r.done <= r.total));
  assert.deepEqual(reports.at(-1), { modelId: 'gguf', phase: 'warming_up', done: 1, total: 1, unit: 'steps' });
  const { text } = await engine.generateDetailed({ model: 'gguf', prompt: 'The old man', maxTokens: 6, temperature: 0 });
  assert.ok(text.length > 0);
});

test('the snake_case twin takes on_progress; a load without it reports nothing', async () => {
  const reports: LoadProgress[] = [];
  await engine.load_model({ model: TINY, model_id: 'folder' }, { on_progress: (p: LoadProgress) => reports.push(p) });
  assert.ok(reports.some((r) => r.phase === 'reading' && r.unit === 'bytes' && r.done === r.total));
  let seen = 0;
  engine.on('notification', (method) => void (method === 'model/progress' && seen++));
  await engine.loadModel({ model: TINY, modelId: 'quiet' });
  assert.equal(seen, 0);
  await engine.unloadModel('quiet');
  await engine.unloadModel('folder');
});

test('onProgress must be a function', async () => {
  await assert.rejects(engine.loadModel(TINY, { onProgress: 'yes' } as never), (error: unknown) => {
    assert.ok(error instanceof EngineError && error.code === 'INVALID_OPTIONS', String(error));
    return true;
  });
});

test('a broken or unsupported GGUF file is a clear EngineError and the engine serves on', async () => {
  const garbage = join(folder, 'garbage.gguf');
  writeFileSync(garbage, 'GGUF but not really');
  await assert.rejects(engine.loadModel({ model: garbage, modelId: 'bad' }), (error: unknown) => {
    assert.ok(error instanceof EngineError && error.code === 'MODEL_LOAD_FAILED', String(error));
    return true;
  });
  const { text } = await engine.generateDetailed({ model: 'gguf', prompt: 'The old man', maxTokens: 3, temperature: 0 });
  assert.ok(text.length > 0);
});

test('createGenerator reports the prefill before the first token', async () => {
  const events: string[] = [];
  const reports: PrefillProgress[] = [];
  const prompt = 'The old man walks to the river every morning. '.repeat(20);
  const chunks = await collect(engine.createGenerator({ model: 'gguf', prompt, maxTokens: 3, streamId: 'long' }, {
    onPrefillProgress: (p) => {
      reports.push(p);
      events.push('progress');
    },
  }));
  for (const chunk of chunks) events.push(chunk.type);
  assert.ok(reports.length > 0 && reports.every((r) => r.streamId === 'long'));
  const last = reports.at(-1) as PrefillProgress;
  assert.equal(last.processed, last.total);
  assert.ok(last.total > 100);
  assert.ok(events.lastIndexOf('progress') < events.indexOf('token'));
  assert.ok(chunks.some((c): c is TokenChunk => c.type === 'token'));
});

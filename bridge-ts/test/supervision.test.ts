// Supervision with the real runtime: it dies (kill -9) mid-stream and comes
// back with its models; dispose and shutdown leave no process behind.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createEngine, EngineError, withEngine } from 'mlx-serving';
import type { ExitEvent, GeneratorChunk } from 'mlx-serving';
import { gradientPng, pngDataUrl } from '../../examples/png.js';
import { collect, isAlive, nextEvent, TINY, TINY_DRAFT, TINY_VISION } from './helpers.js';

const PROMPT = 'The old man';
const LONG_SEED = 0; // with PROMPT, the tiny model runs 500 tokens without an EOS

test('kill -9 mid-stream: RUNTIME_EXITED for what was in flight, then a restart with the models loaded again as they were', async () => {
  const engine = await createEngine({ restart: { initialDelayMs: 50 } });
  try {
    await engine.loadModel({ model: TINY, modelId: 'tiny' });
    await engine.loadDraftModel({ model: 'tiny', draftModel: TINY_DRAFT });
    await engine.loadModel({ model: TINY, modelId: 'tiny' }); // loaded already: its draft must still be replayed after it
    await engine.loadVisionModel({ model: TINY_VISION, modelId: 'vision' });
    const pid = engine.getInfo().pid as number;
    const exits: ExitEvent[] = [];
    engine.on('exit', (event) => exits.push(event));
    const restarted = nextEvent(engine, 'restart');

    const seeds = [LONG_SEED, 11, 12, 13, 14, 15, 16, 17];
    const generators = seeds.map((seed) => engine.createGenerator({ model: 'tiny', prompt: PROMPT, maxTokens: 500, seed }));
    const [first] = generators as [ReturnType<typeof engine.createGenerator>];
    assert.equal((await first.next()).value?.type, 'token');
    process.kill(pid, 'SIGSTOP'); // frozen: the tokenize below cannot be answered
    const pending = engine.tokenize({ model: 'tiny', text: 'hello' });
    process.kill(pid, 'SIGKILL');

    await assert.rejects(pending, (error: unknown) => {
      assert.ok(EngineError.is(error, 'RUNTIME_EXITED'));
      assert.match(error.message, /killed by SIGKILL/);
      assert.match(error.message, /restarts it/);
      return true;
    });
    const ends = (await Promise.all(generators.map(collect))).map((chunks) => chunks.at(-1) as GeneratorChunk);
    assert.ok(ends[0]?.type === 'error' && ends[0].error.code === 'RUNTIME_EXITED', 'the open stream fails, it does not hang');
    assert.ok(ends.every((end) => end.type === 'metadata' || (end.type === 'error' && end.error.code === 'RUNTIME_EXITED')));

    const during = engine.tokenize({ model: 'tiny', text: 'hello' }); // waits for the new runtime
    const [restart] = await restarted;
    assert.deepEqual(restart.reloaded, ['tiny', 'vision']);
    assert.deepEqual(restart.reloadedDrafts, ['tiny']);
    assert.deepEqual(restart.failed, []);
    assert.equal(restart.restarts, 1);
    assert.deepEqual((await during).tokens.length > 0, true);
    assert.equal(exits.length, 1);
    assert.equal(exits[0]?.signal, 'SIGKILL');
    assert.equal(exits[0]?.expected, false);

    const info = engine.getInfo();
    assert.equal(info.status, 'ready');
    assert.equal(info.restarts, 1);
    assert.notEqual(info.pid, pid);
    assert.equal(isAlive(pid), false);
    const after = await engine.generateDetailed({ model: 'tiny', prompt: PROMPT, maxTokens: 5, temperature: 0 });
    assert.equal(after.stats.generatedTokens, 5, 'the model was loaded again without being asked');
    assert.ok((after.stats.draftTokensProposed ?? 0) > 0, 'with its draft attached again');
    const models = new Map((await engine.listModels()).map((model) => [model.modelId, model]));
    assert.equal(models.get('tiny')?.draft?.model, TINY_DRAFT);
    assert.equal(models.get('vision')?.kind, 'vision', 'a vision model comes back as a vision model');
    const seen = await collect(engine.createVisionGenerator({ model: 'vision', prompt: 'What is this?', images: pngDataUrl(gradientPng(28, 28)), maxTokens: 3 }));
    assert.equal(seen.at(-1)?.type, 'metadata');
    assert.deepEqual(info.drafts, { tiny: TINY_DRAFT });
  } finally {
    await engine.dispose();
  }
});

test('dispose() cancels open streams and leaves no process; later calls fail with ENGINE_DISPOSED', async () => {
  const engine = await createEngine();
  await engine.loadModel({ model: TINY, modelId: 'tiny' });
  const pid = engine.getInfo().pid as number;
  const generator = engine.createGenerator({ model: 'tiny', prompt: PROMPT, maxTokens: 500, seed: LONG_SEED });
  await generator.next();
  await engine.dispose();
  const end = (await collect(generator)).at(-1);
  assert.ok(
    (end?.type === 'metadata' && end.finishReason === 'cancelled') || (end?.type === 'error' && end.error.code === 'ENGINE_DISPOSED'),
  );
  assert.equal(isAlive(pid), false);
  assert.equal(engine.getInfo().status, 'stopped');
  await assert.rejects(engine.tokenize({ model: 'tiny', text: 'x' }), { code: 'ENGINE_DISPOSED' });
  await engine.dispose(); // twice is fine
});

test('shutdown() lets streams in flight finish first', async () => {
  const engine = await createEngine();
  await engine.loadModel({ model: TINY, modelId: 'tiny' });
  const pid = engine.getInfo().pid as number;
  const streamed = collect(engine.createGenerator({ model: 'tiny', prompt: PROMPT, maxTokens: 40 }));
  await engine.shutdown();
  const end = (await streamed).at(-1);
  assert.ok(end?.type === 'metadata' && end.finishReason !== 'cancelled', 'the stream, started before shutdown(), finished');
  assert.equal(isAlive(pid), false);
});

test('withEngine() disposes of the engine when the function throws', async () => {
  let pid = 0;
  await assert.rejects(
    withEngine(async (engine) => {
      pid = engine.getInfo().pid as number;
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.ok(pid > 0);
  assert.equal(isAlive(pid), false);
});

test('`await using` disposes of the engine at the end of the block', async () => {
  let pid = 0;
  {
    await using engine = await createEngine();
    pid = engine.getInfo().pid as number;
    assert.ok(isAlive(pid));
  }
  assert.equal(isAlive(pid), false);
});

test('a runtime that cannot start: RUNTIME_START_FAILED that says why', async () => {
  await assert.rejects(createEngine({ pythonPath: '/no/such/python' }), (error: unknown) => {
    assert.ok(EngineError.is(error, 'RUNTIME_START_FAILED'));
    assert.match(error.message, /npm run setup/);
    return true;
  });
  const config = join(mkdtempSync(join(tmpdir(), 'mlx-serving-')), 'runtime.yaml');
  writeFileSync(config, 'transport:\n  bogus_key: 1\n');
  await assert.rejects(createEngine({ configPath: config }), (error: unknown) => {
    assert.ok(EngineError.is(error, 'RUNTIME_START_FAILED'));
    assert.match(error.message, /bogus_key/, "the runtime's own message is quoted");
    return true;
  });
});

test('option mistakes: INVALID_OPTIONS naming what was expected and what was received', async () => {
  await assert.rejects(createEngine({ requestTimeoutMs: -1 }), {
    code: 'INVALID_OPTIONS',
    message: 'Expected the `requestTimeoutMs` option to be a non-negative integer, got `-1` (number).',
  });
  await assert.rejects(createEngine({ verbos: true } as never), { message: /Unknown option `verbos`; expected one of .*`verbose`/ });
  await assert.rejects(createEngine({ restart: { maxRestarts: 1.5 } }), { message: /`restart.maxRestarts`.*`1.5` \(number\)/ });
  await assert.rejects(createEngine({ python_path: '', pythonPath: '' }), { message: /`pythonPath` option to be a non-empty string/ });
});

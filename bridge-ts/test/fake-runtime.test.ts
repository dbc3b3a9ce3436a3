// Faults the real runtime does not show, played by fixtures/fake-runtime.mjs:
// garbage on stdout, a flood of tokens, a process that will not stop, a
// runtime that dies after every start.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createEngine, EngineError } from 'mlx-serving';
import type { ExitEvent, RestartEvent } from 'mlx-serving';
import { eventually, fakeRuntime, isAlive, sleep } from './helpers.js';

test('garbage on stdout: PROTOCOL_ERROR events, and the engine goes on serving', async () => {
  const engine = await createEngine(fakeRuntime('garbage'));
  try {
    const errors: EngineError[] = [];
    engine.on('protocolError', (error) => errors.push(error));
    assert.deepEqual(await engine.tokenize({ model: 'm', text: 'x' }), { tokens: [1, 2, 3] });
    assert.equal(errors.length, 6, errors.map((e) => e.message).join('\n'));
    assert.ok(errors.every((error) => error.code === 'PROTOCOL_ERROR'));
    const reasons = errors.map((error) => error.message).join('\n');
    assert.match(reasons, /not JSON/);
    assert.match(reasons, /request 4242, which is not pending/);
    assert.match(reasons, /malformed stream\/chunk/);
    assert.match(reasons, /an error for no request: parse error: bad line/);
    // A broken answer to a call fails that call instead of leaving it hanging.
    await assert.rejects(engine.request('model/list'), { code: 'PROTOCOL_ERROR', message: /exactly one of "result" and "error"/ });
    assert.deepEqual(await engine.tokenize({ model: 'm', text: 'x' }), { tokens: [1, 2, 3] });
  } finally {
    await engine.dispose();
  }
});

test('garbage with nobody listening becomes a process warning, not a crash', async () => {
  const engine = await createEngine(fakeRuntime('garbage'));
  const warnings: Error[] = [];
  const onWarning = (warning: Error): void => void warnings.push(warning);
  process.on('warning', onWarning);
  try {
    await engine.tokenize({ model: 'm', text: 'x' });
    await eventually(() => warnings.length === 6, 'six warnings');
    assert.ok(warnings.every((warning) => (warning as Error & { code?: string }).code === 'MLX_SERVING_PROTOCOL_ERROR'));
  } finally {
    process.off('warning', onWarning);
    await engine.dispose();
  }
});

test('a consumer slower than the runtime: the buffer stays bounded, every token arrives in order', async () => {
  const highWaterMark = 64;
  const engine = await createEngine(fakeRuntime('flood', { highWaterMark }));
  try {
    const total = 40_000;
    const generator = engine.createGenerator({ model: 'm', prompt: 'x', maxTokens: total });
    let expected = 0;
    let maxBuffered = 0;
    let finish: string | undefined;
    for await (const chunk of generator) {
      maxBuffered = Math.max(maxBuffered, generator.bufferedTokens);
      if (chunk.type === 'token') {
        assert.equal(chunk.tokenId, expected++);
        if (expected % 2000 === 0) await sleep(10);
      } else {
        finish = chunk.type === 'metadata' ? chunk.finishReason : chunk.error.message;
      }
    }
    assert.equal(finish, 'length');
    assert.equal(expected, total);
    // One read of the pipe (64 KiB, ~1,000 one-token lines) may land beyond the mark, no more.
    assert.ok(maxBuffered < highWaterMark + 2_000, `buffered up to ${maxBuffered} tokens`);
    assert.ok(engine.getInfo().flow.pauses > 0);
  } finally {
    await engine.dispose();
  }
});

test('dispose() of a runtime that ignores shutdown and SIGTERM ends with SIGKILL', async () => {
  const engine = await createEngine(fakeRuntime('stubborn', { forceKillAfterMs: 200 }));
  const pid = engine.getInfo().pid as number;
  const exits: ExitEvent[] = [];
  engine.on('exit', (event) => exits.push(event));
  await engine.dispose();
  assert.equal(isAlive(pid), false);
  assert.equal(exits[0]?.signal, 'SIGKILL');
  assert.equal(exits[0]?.expected, true);
});

test('a runtime that dies after every start: bounded restarts, then calls fail fast', async () => {
  const engine = await createEngine(fakeRuntime('dies-after-start', { restart: { maxRestarts: 2, initialDelayMs: 10, factor: 3 } }));
  const restarts: RestartEvent[] = [];
  engine.on('restart', (event) => restarts.push(event));
  try {
    await eventually(() => engine.getInfo().status === 'failed', 'the engine to give up');
    assert.deepEqual(restarts.map((event) => event.attempt), [1, 2]);
    const error = await engine.tokenize({ model: 'm', text: 'x' }).catch((e: unknown) => e);
    assert.ok(EngineError.is(error, 'RUNTIME_EXITED'));
    assert.match(error.message, /died 3 times in a row/);
  } finally {
    await engine.dispose();
  }
});

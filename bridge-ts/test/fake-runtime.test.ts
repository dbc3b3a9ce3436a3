// Faults the real runtime does not show, played by fixtures/fake-runtime.mjs:
// garbage on stdout, a flood of tokens, a process that will not stop, a
// runtime that dies after every start, malformed ops notifications, a call
// never answered; and preloads whose timing a test must control. Also the
// options that choose and show the process (MLX_SERVING_PYTHON, verbose, on).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { createEngine, EngineError } from 'mlx-serving';
import type { CanaryEvent, ExitEvent, QosEvent, ReadyEvent, RestartEvent } from 'mlx-serving';
import { eventually, FAKE_RUNTIME, fakeRuntime, isAlive, nextEvent, ROOT, sleep } from './helpers.js';
import { FlowControl } from '../dist/generator/flow.js';
import type { FlowMember } from '../dist/generator/flow.js';

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
        finish = chunk.type === 'metadata' ? chunk.finishReason : chunk.type === 'error' ? chunk.error.message : finish;
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

test('a runtime without generate/pause (the fake one): the pipe-wide pause holds while the consumer is behind', async () => {
  const engine = await createEngine(fakeRuntime('flood'));
  try {
    await assert.rejects(engine.request('generate/pause', { streamId: 'x' }), { code: 'METHOD_NOT_FOUND' });
  } finally {
    await engine.dispose();
  }
  // Flow control as a generator drives it: behind(true) resolves false when the pause call fails.
  const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  const pipe: boolean[] = [];
  const flow = new FlowControl(4, (paused) => pipe.push(paused));
  const older: FlowMember = { behind: () => Promise.resolve(false) };
  const answers: ((paused: boolean) => void)[] = [];
  const newer: FlowMember = { behind: () => new Promise<boolean>((resolve) => answers.push(resolve)) };

  flow.report(older, 5);
  await flush();
  assert.deepEqual(pipe, [true], 'the pause failed: the pipe stays paused');
  flow.waiting(true);
  flow.waiting(false);
  assert.deepEqual(pipe, [true, false, true], 'a waiting consumer still gets the pipe read meanwhile');
  flow.report(older, 2);
  assert.deepEqual(pipe, [true, false, true, false], 'caught up: the pipe goes on');

  // A runtime that pauses: the pipe is paused only until it acknowledges, and a late answer for an
  // earlier time behind does not release a later one.
  flow.report(newer, 5);
  flow.report(newer, 2);
  flow.report(newer, 5);
  assert.equal(pipe.at(-1), true);
  answers[0]?.(true); // the first pause, answered after the resume that followed it
  await flush();
  assert.equal(pipe.at(-1), true, 'still held until the second pause is acknowledged');
  answers[2]?.(true);
  await flush();
  assert.equal(pipe.at(-1), false);
  assert.deepEqual(flow.streams, { pausedStreams: 1, streamPauses: 3 });
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

test('a runtime that dies after every start: bounded restarts after growing delays, then calls fail fast', async () => {
  const engine = await createEngine(fakeRuntime('dies-after-start', { restart: { maxRestarts: 2, initialDelayMs: 100, factor: 3 } }));
  const restarts: RestartEvent[] = [];
  const events: { name: string; at: number }[] = [];
  engine.on('restart', (event) => {
    restarts.push(event);
    events.push({ name: 'restart', at: performance.now() });
  });
  engine.on('exit', () => events.push({ name: 'exit', at: performance.now() }));
  try {
    await eventually(() => engine.getInfo().status === 'failed', 'the engine to give up');
    assert.deepEqual(restarts.map((event) => event.attempt), [1, 2]);
    assert.deepEqual(events.map((event) => event.name), ['exit', 'restart', 'exit', 'restart', 'exit']);
    // Each restart came no sooner than its backoff delay (100 ms, then 3 times that) after the death before it.
    // (1 ms of slack: timers count whole milliseconds, performance.now() fractions.)
    const waited = [events[1]!.at - events[0]!.at, events[3]!.at - events[2]!.at];
    assert.ok(waited[0]! >= 99 && waited[1]! >= 299, `waited ${waited.join(' and ')} ms`);
    const error = await engine.tokenize({ model: 'm', text: 'x' }).catch((e: unknown) => e);
    assert.ok(EngineError.is(error, 'RUNTIME_EXITED'));
    assert.match(error.message, /died 3 times in a row/);
  } finally {
    await engine.dispose();
  }
});

test('ops notifications: qos/violation as a typed qos event; malformed ones (and a malformed runtime/ready) are protocol errors', async () => {
  const engine = await createEngine(fakeRuntime('notices'));
  try {
    const qos: QosEvent[] = [];
    const canary: CanaryEvent[] = [];
    const raw: string[] = [];
    const errors: EngineError[] = [];
    engine.on('qos', (event) => qos.push(event));
    engine.on('canary', (event) => canary.push(event));
    engine.on('notification', (method) => raw.push(method));
    engine.on('protocolError', (error) => errors.push(error));
    await engine.tokenize({ model: 'm', text: 'x' });
    assert.deepEqual(qos, [
      { kind: 'violation', slo: 'max_queue_depth', model: 'm', observed: 3, threshold: 1, windowS: 60, samples: 3, policy: 'shed', action: 'shed', dryRun: false },
    ]);
    assert.deepEqual(canary, []);
    assert.deepEqual(raw, ['qos/violation', 'qos/violation', 'canary/update', 'runtime/ready'], "'notification' sees each as sent");
    assert.deepEqual(errors.map((error) => error.message), [
      'the runtime wrote a qos/violation without slo, model, action',
      'the runtime wrote a canary/update without stable_model, canary_model, state',
      'the runtime wrote a malformed runtime/ready',
    ]);
    assert.ok(errors.every((error) => error.code === 'PROTOCOL_ERROR'));
  } finally {
    await engine.dispose();
  }
});

test("a preloading runtime: createEngine waits for its runtime/ready; getInfo() lists what it preloaded", async () => {
  const engine = await createEngine(fakeRuntime('quiet', { env: { FAKE_PRELOAD: '300' } }));
  try {
    const info = engine.getInfo();
    assert.equal(info.preloading, false);
    assert.deepEqual(info.preloaded, [{ modelId: 'warm', loadMs: 5, warmupMs: 7, batchSizes: [1, 2] }]);
    assert.deepEqual(info.models, [], 'preloaded models are the runtime config\'s, not replayed by the engine');
  } finally {
    await engine.dispose();
  }
});

test("waitForPreload: false: createEngine resolves while the runtime preloads; 'ready' comes with the preloaded models", async () => {
  const engine = await createEngine(fakeRuntime('quiet', { waitForPreload: false, env: { FAKE_PRELOAD: 'on-tokenize' } }));
  try {
    assert.equal(engine.getInfo().status, 'ready', 'calls go through at once');
    assert.equal(engine.getInfo().preloading, true);
    assert.deepEqual(engine.getInfo().preloaded, []);
    const ready = nextEvent(engine, 'ready');
    await engine.tokenize({ model: 'm', text: 'x' }); // the fake ends its preload here
    const [event] = await ready;
    assert.deepEqual(event.preloaded, [{ modelId: 'warm', loadMs: 5, warmupMs: 7, batchSizes: [1, 2] }]);
    assert.equal(event.preloadMs, 12);
    assert.equal(event.restarts, 0);
    assert.equal(engine.getInfo().preloading, false);
    assert.equal(engine.getInfo().preloaded.length, 1);
  } finally {
    await engine.dispose();
  }
});

test('a preload that stalls past startTimeoutMs, or fails: RUNTIME_START_FAILED that says so, and no process left', async () => {
  const stalled = await createEngine(fakeRuntime('quiet', { startTimeoutMs: 1500, env: { FAKE_PRELOAD: 'never' } })).catch((e: unknown) => e);
  assert.ok(EngineError.is(stalled, 'RUNTIME_START_FAILED'));
  assert.match(stalled.message, /did not finish preloading its models \(config model_preload\) within 1500 ms/);
  assert.match(stalled.message, /waitForPreload: false/);
  await eventually(() => !isAlive(stalled.data['pid'] as number), 'the stalled runtime to be killed');

  const failed = await createEngine(fakeRuntime('quiet', { env: { FAKE_PRELOAD: 'exit' } })).catch((e: unknown) => e);
  assert.ok(EngineError.is(failed, 'RUNTIME_START_FAILED'));
  assert.match(failed.message, /exited with code 2 while it preloaded its models/);
  assert.match(failed.message, /preload failed: model_preload\.models\[0\]/, 'with its stderr');
});

test('requestTimeoutMs: a call the runtime never answers fails with TIMEOUT, and the engine goes on serving', async () => {
  const engine = await createEngine(fakeRuntime('quiet', { requestTimeoutMs: 200 }));
  try {
    await assert.rejects(engine.getMetrics(), (error: unknown) => {
      assert.ok(EngineError.is(error, 'TIMEOUT'));
      assert.match(error.message, /`metrics\/get` got no answer within 200 ms/);
      return true;
    });
    assert.deepEqual((await engine.tokenize({ model: 'm', text: 'x' })).tokens, [1, 2, 3]);
    assert.equal(engine.getInfo().pendingRequests, 0);
  } finally {
    await engine.dispose();
  }
});

test('without pythonPath, $MLX_SERVING_PYTHON runs the runtime', async () => {
  const before = process.env['MLX_SERVING_PYTHON'];
  process.env['MLX_SERVING_PYTHON'] = process.execPath; // node: only it runs the fake runtime (a .mjs file)
  try {
    const engine = await createEngine({ runtimePath: FAKE_RUNTIME, env: { FAKE_RUNTIME_MODE: 'quiet' } });
    try {
      assert.equal(engine.getInfo().runtime?.name, 'fake-runtime');
    } finally {
      await engine.dispose();
    }
  } finally {
    if (before === undefined) delete process.env['MLX_SERVING_PYTHON'];
    else process.env['MLX_SERVING_PYTHON'] = before;
  }
});

test('verbose: true logs every wire line and the runtime stderr on the process stderr; false logs none', async () => {
  // A child process, so that its stderr can be read whole.
  const run = async (verbose: boolean): Promise<string> => {
    const script = `
      const { createEngine } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'bridge-ts/dist/index.js')).href)});
      const engine = await createEngine(${JSON.stringify(fakeRuntime('quiet', { verbose }))});
      await engine.tokenize({ model: 'm', text: 'x' });
      await engine.dispose();`;
    const { stderr } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]);
    return stderr;
  };
  const logged = await run(true);
  assert.match(logged, /^\[mlx-serving\] started the runtime \(pid \d+\)/m);
  assert.match(logged, /^\[mlx-serving\] → \{"jsonrpc":"2.0","id":\d+,"method":"tokenize","params":\{"model":"m","text":"x"\}\}$/m);
  assert.match(logged, /^\[mlx-serving\] ← \{"jsonrpc":"2.0","id":\d+,"result":\{"tokens":\[1,2,3\]\}\}$/m);
  assert.equal(await run(false), '');
});

test("the `on` option: listeners attached before the start see its 'ready'", async () => {
  const readies: ReadyEvent[] = [];
  const engine = await createEngine(fakeRuntime('quiet', { on: { ready: (event) => readies.push(event) } }));
  try {
    assert.equal(readies.length, 1);
    assert.equal(readies[0]?.pid, engine.getInfo().pid);
    assert.equal(readies[0]?.restarts, 0);
  } finally {
    await engine.dispose();
  }
  await assert.rejects(createEngine(fakeRuntime('quiet', { on: { redy: () => {} } as never })), {
    code: 'INVALID_OPTIONS',
    message: /Unknown event `redy`; expected one of `ready`, `exit`/,
  });
  await assert.rejects(createEngine(fakeRuntime('quiet', { on: { ready: 'yes' } as never })), {
    code: 'INVALID_OPTIONS',
    message: 'Expected the `on.ready` option to be a function, got `"yes"` (string).',
  });
});

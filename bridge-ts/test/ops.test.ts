// Production features through the bridge, against the real runtime and the
// tiny local models: metrics, Prometheus text, feature flags and config
// reload, QoS events and load shedding, canary routing and rollback, and
// runtimes that preload models. Each describe has its own runtime, started
// with its own config files in a temp folder.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createEngine, EngineError } from 'mlx-serving';
import type { CanaryEvent, Engine, GeneratorChunk, MetadataChunk, QosEvent, ReadyEvent, RestartEvent, TokenGenerator } from 'mlx-serving';
import { collect, eventually, nextEvent, TINY, TINY_4BIT, TINY_DRAFT } from './helpers.js';

const PROMPT = 'The old man';
const LONG_SEED = 0; // with PROMPT, the tiny model runs 500 tokens without an EOS
const GREEDY = { prompt: PROMPT, maxTokens: 4, temperature: 0 };

// A folder with runtime.yaml and flags.yaml, rewritten as tests go.
function configFolder(runtime: string, flags = ''): { folder: string; config: string; flags: string } {
  const folder = mkdtempSync(join(tmpdir(), 'mlx-serving-ops-'));
  const paths = { folder, config: join(folder, 'runtime.yaml'), flags: join(folder, 'flags.yaml') };
  writeFileSync(paths.config, runtime);
  writeFileSync(paths.flags, flags);
  return paths;
}

// An engine on a config folder, whose protocol errors are kept for `stop` to check.
async function start(paths: { config: string; flags: string }, protocolErrors: EngineError[]): Promise<Engine> {
  const engine = await createEngine({ configPath: paths.config, flagsPath: paths.flags });
  engine.on('protocolError', (error) => protocolErrors.push(error));
  return engine;
}

async function stop(engine: Engine, paths: { folder: string }, protocolErrors: EngineError[]): Promise<void> {
  await engine.dispose();
  rmSync(paths.folder, { recursive: true, force: true });
  assert.deepEqual(protocolErrors, [], 'the real runtime never breaks the protocol');
}

const endOf = (chunks: GeneratorChunk[]): MetadataChunk => {
  const end = chunks.at(-1);
  if (end?.type === 'error') throw end.error;
  assert.equal(end?.type, 'metadata');
  return end as MetadataChunk;
};

describe('metrics, feature flags and config reload', () => {
  const paths = configFolder('');
  const protocolErrors: EngineError[] = [];
  let engine: Engine;
  before(async () => {
    engine = await start(paths, protocolErrors);
    // An id with an underscore: metrics are keyed by it as it is, not camelCased.
    await engine.loadModel({ model: TINY, modelId: 'tiny_1' });
  });
  after(() => stop(engine, paths, protocolErrors));

  test('results and metadata chunks say which model and variant served them', async () => {
    const whole = await engine.generateDetailed({ model: 'tiny_1', ...GREEDY });
    assert.equal(whole.model, 'tiny_1');
    assert.equal(whole.variant, 'stable');
    const generator = engine.createGenerator({ model: 'tiny_1', ...GREEDY });
    const end = endOf(await collect(generator));
    assert.equal(end.model, 'tiny_1');
    assert.equal(end.variant, 'stable');
    assert.equal(generator.model, 'tiny_1');
    assert.equal(generator.variant, 'stable');
  });

  test('getMetrics(): counts and latency percentiles per model id, lifetime and window', async () => {
    await assert.rejects(engine.generateDetailed({ model: 'ghost', prompt: 'x' }), { code: 'MODEL_NOT_LOADED' });
    const metrics = await engine.getMetrics();
    assert.deepEqual(Object.keys(metrics.models), ['tiny_1'], 'record keys stay as sent');
    const tiny = metrics.models['tiny_1'];
    assert.ok(tiny !== undefined);
    assert.equal(tiny.activeStreams, 0);
    assert.equal(tiny.queueDepth, 0);
    for (const period of [tiny.lifetime, tiny.window]) {
      assert.deepEqual(period.requests, { total: 2, completed: 2, cancelled: 0, failed: 0, rejected: 0 });
      assert.equal(period.generatedTokens, 8);
      assert.equal(period.errorRate, 0);
      assert.equal(period.ttftMs.count, 2);
      assert.equal(period.interTokenMs.count, 6, 'three gaps in each of two streams');
      assert.equal(period.tokensPerS.count, 2);
      for (const { min, p50, p95, p99, max } of [period.ttftMs, period.e2eMs, period.tokensPerS]) {
        assert.ok(min !== null && p50 !== null && p95 !== null && p99 !== null && max !== null);
        assert.ok(0 < min && min <= p50 && p50 <= p95 && p95 <= p99 && p99 <= max, `${min} ${p50} ${p95} ${p99} ${max}`);
      }
    }
    assert.deepEqual(metrics.overall.lifetime.errorsByCode, { MODEL_NOT_LOADED: 1 });
    assert.equal(metrics.overall.lifetime.requests.rejected, 1);
    assert.deepEqual(metrics.rpcErrorsByCode, { MODEL_NOT_LOADED: 1 });
    assert.equal(metrics.windowS, 60);
    assert.deepEqual(metrics.qos.shedding, []);
    assert.deepEqual(metrics.canary, []);

    const one = await engine.get_metrics({ model_id: 'tiny_1' });
    assert.deepEqual(Object.keys(one.models), ['tiny_1']);
    assert.equal((await engine.getMetrics('tiny_1')).models['tiny_1']?.lifetime.requests.completed, 2);
    await assert.rejects(engine.getMetrics({ model: 'ghost' }), { code: 'MODEL_NOT_LOADED' });
  });

  test('getPrometheusMetrics(): the same figures as Prometheus text', async () => {
    const text = await engine.get_prometheus_metrics();
    assert.match(text, /^# TYPE mlx_serving_requests_total counter$/m);
    assert.match(text, /^mlx_serving_requests_total\{model="tiny_1",outcome="completed"\} 2(\.0)?$/m);
    assert.match(text, /^# TYPE mlx_serving_ttft_seconds summary$/m);
    assert.match(text, /^mlx_serving_ttft_seconds\{model="tiny_1",quantile="0\.99"\} [\d.e-]+$/m);
    assert.match(text, /^mlx_serving_errors_total\{code="MODEL_NOT_LOADED",model="\*"\} 1(\.0)?$/m);
  });

  test('getFlags(): the flags in force, by name as in the flags file; with a request key, whether each is on for it', async () => {
    const flags = await engine.getFlags();
    assert.equal(flags.path, paths.flags);
    assert.equal(flags.killSwitch, false);
    assert.deepEqual(Object.keys(flags.flags).sort(), ['batching', 'canary', 'guidance', 'prompt_cache']);
    assert.equal(flags.flags['prompt_cache']?.enabled, true);
    assert.equal(flags.flags['prompt_cache']?.rolloutPercentage, 100);
    assert.deepEqual(flags.flags['guidance']?.subFlags, { json_schema: true, regex: true, xml: true });
    assert.equal(flags.flags['canary']?.onForKey, undefined, 'no key, no answer for it');
    const keyed = await engine.get_flags({ request_key: 'user-1' });
    assert.ok(Object.values(keyed.flags).every((flag) => flag?.onForKey === true));
  });

  test('reloadConfig(): applies a changed flags file; a bad file is CONFIG_INVALID and changes nothing', async () => {
    writeFileSync(paths.flags, 'flags:\n  prompt_cache: {enabled: false}\n');
    const reloaded = await engine.reloadConfig();
    assert.deepEqual(reloaded, {
      configPath: paths.config, flagsPath: paths.flags, changed: [], flagsChanged: ['flags.prompt_cache.enabled'], restartRequired: [], warnings: [],
    });
    assert.equal((await engine.getFlags()).flags['prompt_cache']?.enabled, false);

    writeFileSync(paths.flags, 'flags:\n  prompt_cache: {rollout_percentage: 150}\n');
    const badFlags = await engine.reload_config().catch((e: unknown) => e);
    assert.ok(EngineError.is(badFlags, 'CONFIG_INVALID'));
    assert.equal(badFlags.rpcCode, -32020);
    assert.match(badFlags.message, /rollout_percentage/);
    writeFileSync(paths.config, 'qos:\n  window_s: -1\n');
    await assert.rejects(engine.reloadConfig(), { code: 'CONFIG_INVALID', message: /window_s/ });
    assert.equal((await engine.getFlags()).flags['prompt_cache']?.enabled, false, 'the running flags stay');
    assert.equal((await engine.getMetrics()).windowS, 60, 'the running config stays');
    assert.equal((await engine.generateDetailed({ model: 'tiny_1', ...GREEDY })).finishReason, 'length', 'and it serves on');
  });
});

describe('QoS: a max_queue_depth SLO sheds load', () => {
  // Batching off (by its flag): streams wait for the one running, so the queue
  // depth is what the test makes it; the delay keeps that one running (500
  // tokens, 25 s) until the test cancels it. The bound, 1, is broken by two
  // waiting streams and never by one stream's own prefill.
  const paths = configFolder(
    'qos:\n  evaluate_interval_s: 0.1\n  slos: [{slo: max_queue_depth, threshold: 1, policy: shed}]\n' +
      'debug:\n  faults:\n    tiny: {token_delay_ms: 50}\n',
    'flags:\n  batching: {enabled: false}\n',
  );
  const protocolErrors: EngineError[] = [];
  let engine: Engine;
  before(async () => {
    engine = await start(paths, protocolErrors);
    await engine.loadModel({ model: TINY, modelId: 'tiny' });
  });
  after(() => stop(engine, paths, protocolErrors));

  test("'qos' events for the violation and the recovery; OVERLOADED while it sheds", async () => {
    const events: QosEvent[] = [];
    engine.on('qos', (event) => events.push(event));
    const long = (seed: number): TokenGenerator => engine.createGenerator({ model: 'tiny', prompt: PROMPT, maxTokens: 500, seed });
    const running = long(LONG_SEED);
    assert.equal((await running.next()).value?.type, 'token');
    const waiting = [long(1), long(2)];
    await eventually(() => events.length > 0, 'a qos event');
    const shedding = async (): Promise<boolean> => (await engine.getMetrics()).qos.shedding.includes('tiny');
    assert.ok(await shedding());

    const [violation] = events;
    assert.ok(violation?.kind === 'violation');
    assert.deepEqual(
      { slo: violation.slo, model: violation.model, observed: violation.observed, threshold: violation.threshold, policy: violation.policy, action: violation.action, dryRun: violation.dryRun },
      { slo: 'max_queue_depth', model: 'tiny', observed: 2, threshold: 1, policy: 'shed', action: 'shed', dryRun: false },
    );
    const tiny = (await engine.getMetrics('tiny')).models['tiny'];
    assert.deepEqual([tiny?.activeStreams, tiny?.queueDepth], [3, 2]);

    const refused = await engine.generateDetailed({ model: 'tiny', ...GREEDY }).catch((e: unknown) => e);
    assert.ok(EngineError.is(refused, 'OVERLOADED'), String(refused));
    assert.equal(refused.rpcCode, -32006);
    assert.deepEqual([refused.data['model'], refused.data['variant'], refused.data['slo']], ['tiny', 'stable', 'max_queue_depth']);
    const [streamRefused] = await collect(engine.createGenerator({ model: 'tiny', ...GREEDY }));
    assert.ok(streamRefused?.type === 'error' && streamRefused.error.code === 'OVERLOADED');
    assert.deepEqual([streamRefused.model, streamRefused.variant], ['tiny', 'stable']);

    await waiting[1]?.return(); // one waits now: the SLO holds again
    await eventually(() => events.length > 1, 'a second qos event');
    const recovered = events[1];
    assert.ok(recovered?.kind === 'recovered');
    assert.deepEqual([recovered.slo, recovered.model, recovered.observed, recovered.action], ['max_queue_depth', 'tiny', 1, 'shed']);
    assert.ok(recovered.durationS > 0);
    assert.equal(await shedding(), false);
    await Promise.all([waiting[0]?.return(), running.return()]);
    assert.equal((await engine.generateDetailed({ model: 'tiny', ...GREEDY })).finishReason, 'length');
    assert.equal((await engine.getMetrics('tiny')).models['tiny']?.lifetime.errorsByCode['OVERLOADED'], 2);
    assert.equal(events.length, 2);
  });
});

describe('canary routing', () => {
  // Every request key goes to the canary (schedule [100]); it is rolled back
  // once 4 of its requests saw a failure rate over 10%.
  const canary =
    `canary:\n  tiny:\n    model: ${TINY_4BIT}\n    schedule: [100]\n    min_requests: 1000\n    min_healthy_s: 0\n` +
    '    rollback: {max_error_rate: 0.1, ttft_p99_ratio: null, min_requests: 4}\n';
  const paths = configFolder(canary);
  const protocolErrors: EngineError[] = [];
  const events: CanaryEvent[] = [];
  let engine: Engine;
  before(async () => {
    engine = await start(paths, protocolErrors);
    engine.on('canary', (event) => events.push(event));
    await engine.loadModel({ model: TINY, modelId: 'tiny' });
  });
  after(() => stop(engine, paths, protocolErrors));

  test("'canary' events as the rollout starts; requests say they were served by the canary", async () => {
    await eventually(() => events.some((event) => event.state === 'active'), 'the canary to be active');
    assert.deepEqual(events.map((event) => [event.state, event.percentage]), [['loading', 0], ['active', 100]]);
    assert.deepEqual([events[1]?.stableModel, events[1]?.canaryModel, events[1]?.canarySource], ['tiny', 'tiny@canary', TINY_4BIT]);

    const whole = await engine.generateDetailed({ model: 'tiny', ...GREEDY, userId: 'user-1' });
    assert.deepEqual([whole.model, whole.variant], ['tiny@canary', 'canary']);
    const generator = engine.createGenerator({ model: 'tiny', ...GREEDY, requestKey: 'user-2' });
    const end = endOf(await collect(generator));
    assert.deepEqual([end.model, end.variant, generator.variant], ['tiny@canary', 'canary', 'canary']);
    assert.deepEqual(engine.getInfo().models, ['tiny'], 'the canary is the runtime\'s, not replayed by the engine');
    const metrics = await engine.getMetrics();
    assert.equal(metrics.canary[0]?.state, 'active');
    assert.equal(metrics.models['tiny@canary']?.lifetime.requests.completed, 2);
  });

  test('a failing canary is rolled back: the failed stream and generate() name it, later requests go to stable', async () => {
    writeFileSync(paths.config, `${canary}debug:\n  faults:\n    tiny@canary: {error_rate: 1.0}\n`);
    const reloaded = await engine.reloadConfig();
    assert.ok(reloaded.changed.some((key) => key.startsWith('debug.faults')), reloaded.changed.join(', '));

    const chunks = await collect(engine.createGenerator({ model: 'tiny', ...GREEDY, requestKey: 'user-3' }));
    const failed = chunks.at(-1);
    assert.ok(failed?.type === 'error', JSON.stringify(failed));
    assert.equal(failed.error.code, 'GENERATION_FAILED');
    assert.deepEqual([failed.model, failed.variant], ['tiny@canary', 'canary']);
    assert.deepEqual([failed.error.data['model'], failed.error.data['variant']], ['tiny@canary', 'canary']);
    const wholeFailed = await engine.generateDetailed({ model: 'tiny', ...GREEDY, requestKey: 'user-4' }).catch((e: unknown) => e);
    assert.ok(EngineError.is(wholeFailed, 'GENERATION_FAILED'), String(wholeFailed));
    assert.deepEqual([wholeFailed.data['model'], wholeFailed.data['variant']], ['tiny@canary', 'canary']);

    await eventually(() => events.some((event) => event.state === 'rolled_back'), 'the rollback');
    const rolled = events.find((event) => event.state === 'rolled_back');
    assert.equal(rolled?.percentage, 0);
    assert.match(rolled?.reason ?? '', /error rate/);
    const after = await engine.generateDetailed({ model: 'tiny', ...GREEDY, requestKey: 'user-3' });
    assert.deepEqual([after.model, after.variant], ['tiny', 'stable']);
  });
});

describe('a runtime that preloads models', () => {
  const folder = mkdtempSync(join(tmpdir(), 'mlx-serving-preload-'));
  const config = join(folder, 'runtime.yaml');
  writeFileSync(config, `model_preload:\n  models:\n    - {path: ${TINY}, model_id: tiny, warmup_requests: 1, max_tokens: 2}\n`);
  after(() => rmSync(folder, { recursive: true, force: true }));

  test('createEngine resolves once they are warm; after kill -9 the runtime preloads them again, the engine loads nothing twice', async () => {
    const engine = await createEngine({ configPath: config, restart: { initialDelayMs: 50 } });
    try {
      assert.equal((await engine.request('runtime/state')).status, 'ready', 'createEngine waited for the preload');
      const info = engine.getInfo();
      assert.deepEqual(info.preloaded.map(({ modelId, batchSizes }) => ({ modelId, batchSizes })), [{ modelId: 'tiny', batchSizes: [1, 2] }], 'alone, and two at once (a stream joining one that decodes alone)');
      assert.ok((info.preloaded[0]?.warmupMs ?? 0) > 0);
      assert.equal(info.preloading, false);
      assert.deepEqual(info.models, []);
      assert.equal((await engine.generateDetailed({ model: 'tiny', ...GREEDY })).stats.generatedTokens, 4, 'served without loadModel');

      // Loading the preloaded model finds it there; the draft is the engine's to attach again.
      assert.equal((await engine.loadModel({ model: TINY, modelId: 'tiny' })).alreadyLoaded, true);
      await engine.loadDraftModel({ model: 'tiny', draftModel: TINY_DRAFT });
      const loads: string[] = [];
      engine.on('stderr', (line) => /loaded tiny from/.test(line) && loads.push(line));
      const ready = nextEvent(engine, 'ready');
      const restarted = nextEvent(engine, 'restart');
      process.kill(engine.getInfo().pid as number, 'SIGKILL');

      const [readyEvent]: [ReadyEvent] = await ready;
      assert.deepEqual(readyEvent.preloaded.map((model) => model.modelId), ['tiny']);
      assert.ok(readyEvent.preloadMs > 0);
      assert.equal(readyEvent.restarts, 1);
      const [restart]: [RestartEvent] = await restarted;
      assert.deepEqual([restart.reloaded, restart.reloadedDrafts, restart.failed], [['tiny'], ['tiny'], []]);
      const drafted = await engine.generateDetailed({ model: 'tiny', ...GREEDY });
      assert.ok((drafted.stats.draftTokensProposed ?? 0) > 0, 'the draft was attached again');
      await eventually(() => loads.length > 0, "the new runtime's load log");
      assert.equal(loads.length, 1, `loaded once, by the preload: ${loads.join(' | ')}`);
    } finally {
      await engine.dispose();
    }
  });

  test('waitForPreload: false: calls go out at once and wait in the runtime; getInfo() and ready tell when it is warm', async () => {
    const engine = await createEngine({ configPath: config, waitForPreload: false });
    try {
      const ready = engine.getInfo().preloading ? nextEvent(engine, 'ready') : undefined;
      const early = await engine.generateDetailed({ model: 'tiny', ...GREEDY });
      assert.equal(early.stats.generatedTokens, 4);
      if (ready !== undefined) assert.deepEqual((await ready)[0].preloaded.map((model) => model.modelId), ['tiny']);
      assert.equal(engine.getInfo().preloading, false);
      assert.deepEqual(engine.getInfo().preloaded.map((model) => model.modelId), ['tiny']);
    } finally {
      await engine.dispose();
    }
  });

  test('a preload entry that cannot load: RUNTIME_START_FAILED naming it', async () => {
    const bad = join(folder, 'bad.yaml');
    writeFileSync(bad, `model_preload:\n  models:\n    - {path: ${join(folder, 'nowhere')}, model_id: gone}\n`);
    const error = await createEngine({ configPath: bad }).catch((e: unknown) => e);
    assert.ok(EngineError.is(error, 'RUNTIME_START_FAILED'));
    // It may die before or after it answered runtime/info: either way the message says how, and quotes its stderr.
    assert.match(error.message, /exited with code 2/);
    assert.match(error.message, /preload failed: model_preload\.models\[0\].*nowhere/);
  });
});

// The engine against the real runtime and the tiny local model; one engine
// serves every test here (each test leaves it idle).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createEngine, EngineError } from 'mlx-serving';
import type { Engine, GeneratorChunk, MetadataChunk, TokenChunk } from 'mlx-serving';
import { collect, eventually, sleep, TINY } from './helpers.js';

const PROMPT = 'The old man';
// With PROMPT, these seeds make the tiny model run 500 tokens without an EOS
// (sampling is deterministic per seed): streams that are sure to be running.
const LONG_SEEDS = [0, 1, 2] as const;
let engine: Engine;
const stderr: string[] = [];
const protocolErrors: EngineError[] = [];

before(async () => {
  engine = await createEngine({ highWaterMark: 4 });
  engine.on('stderr', (line) => stderr.push(line));
  engine.on('protocolError', (error) => protocolErrors.push(error));
  await engine.loadModel({ model: TINY, modelId: 'tiny' });
});

after(async () => {
  await engine.dispose();
  assert.deepEqual(protocolErrors, [], 'the real runtime never breaks the protocol');
});

const tokensOf = (chunks: GeneratorChunk[]): TokenChunk[] => chunks.filter((c): c is TokenChunk => c.type === 'token');
const lastOf = (chunks: GeneratorChunk[]): GeneratorChunk => chunks.at(-1) as GeneratorChunk;

async function activeStreams(): Promise<number> {
  return (await engine.request('runtime/state')).activeStreams;
}

describe('generation', () => {
  test('createGenerator yields one chunk per token, then the metadata; generate() returns the same text', async () => {
    const chunks = await collect(engine.createGenerator({ model: 'tiny', prompt: PROMPT, maxTokens: 24, seed: 7, temperature: 0.9 }));
    const tokens = tokensOf(chunks);
    const end = lastOf(chunks) as MetadataChunk;
    assert.equal(end.type, 'metadata');
    assert.equal(end.finishReason, 'length');
    assert.equal(end.stats.generatedTokens, 24);
    assert.equal(tokens.length, 24);
    assert.equal(chunks.length, 25, 'tokens then exactly one metadata chunk');
    assert.ok(tokens.every((t) => Number.isInteger(t.tokenId) && typeof t.token === 'string'));

    const whole = await engine.generateDetailed({ model: 'tiny', prompt: PROMPT, maxTokens: 24, seed: 7, temperature: 0.9 });
    assert.equal(whole.text, tokens.map((t) => t.token).join(''), 'same seed, same tokens, streamed or not');
    assert.equal(whole.finishReason, 'length');
    assert.equal(whole.stats.generatedTokens, 24);
    assert.match(whole.streamId, /^node-\d+$/);
    assert.ok(stderr.some((line) => line.includes('loaded tiny')), "the runtime's log arrives as 'stderr' events");
  });

  test('logprobs ride along on each token chunk', async () => {
    const tokens = tokensOf(await collect(engine.createGenerator({ model: 'tiny', prompt: PROMPT, maxTokens: 4, logprobs: true, temperature: 0 })));
    assert.equal(tokens.length, 4);
    assert.ok(tokens.every((t) => typeof t.logprob === 'number' && t.logprob <= 0));
  });

  test('topLogprobs ride along ranked, on the stream and in generateDetailed', async () => {
    const params = { model: 'tiny', prompt: PROMPT, maxTokens: 6, temperature: 0, repetitionPenalty: 1.5 };
    const tokens = tokensOf(await collect(engine.createGenerator({ ...params, topLogprobs: 3 })));
    assert.equal(tokens.length, 6);
    for (const token of tokens) {
      const top = token.topLogprobs ?? [];
      assert.equal(top.length, 3);
      assert.deepEqual(top.map((a) => a.logprob), top.map((a) => a.logprob).sort((a, b) => b - a), 'most likely first');
      // Greedy: the chosen token tops the row it was picked from.
      assert.equal(top[0]?.tokenId, token.tokenId);
      assert.ok(Math.abs((top[0]?.logprob ?? 1) - (token.logprob ?? 0)) < 1e-5);
      assert.ok(top.every((a) => typeof a.token === 'string' && a.logprob <= 0));
    }
    const whole = await engine.generateDetailed({ ...params, top_logprobs: 2 });
    assert.deepEqual(whole.tokens?.map((t) => t.id), tokens.map((t) => t.tokenId));
    assert.ok(whole.tokens?.every((t) => t.topLogprobs?.length === 2));
    const plain = tokensOf(await collect(engine.createGenerator({ model: 'tiny', prompt: PROMPT, maxTokens: 2 })));
    assert.ok(plain.every((t) => t.topLogprobs === undefined));
    await assert.rejects(engine.generateDetailed({ ...params, topLogprobs: 21 }), (error: EngineError) => {
      assert.equal(error.code, 'INVALID_PARAMS');
      assert.match(error.message, /top_logprobs/);
      return true;
    });
  });

  test('chat messages and stop sequences pass through to the runtime', async () => {
    const plain = await engine.generateDetailed({ model: 'tiny', messages: [{ role: 'user', content: 'Hi' }], maxTokens: 30, seed: 3 });
    const cut = plain.text.trim().slice(0, 2);
    const stopped = await engine.generateDetailed({
      model: 'tiny', messages: [{ role: 'user', content: 'Hi' }], maxTokens: 30, seed: 3, stopSequences: [cut],
    });
    assert.equal(stopped.finishReason, 'stop');
    assert.ok(!stopped.text.includes(cut), 'the stop text never shows');
  });

  test('eight generators at once all finish, each with all its tokens', async () => {
    const generators = Array.from({ length: 8 }, (_, i) =>
      engine.createGenerator({ model: 'tiny', prompt: `${PROMPT} ${i}`, maxTokens: 20 + i, seed: i }));
    assert.equal(engine.getInfo().openStreams, 8);
    const results = await Promise.all(generators.map(collect));
    results.forEach((chunks, i) => {
      const end = lastOf(chunks) as MetadataChunk;
      assert.equal(end.type, 'metadata');
      assert.equal(tokensOf(chunks).length, end.stats.generatedTokens, 'no token lost');
      assert.ok(end.finishReason === 'stop' || end.stats.generatedTokens === 20 + i, 'each stream has its own max_tokens');
    });
    assert.equal(engine.getInfo().openStreams, 0);
  });
});

describe('cancellation', () => {
  test('breaking out of the loop cancels the stream on the runtime', async () => {
    const generator = engine.createGenerator({ model: 'tiny', prompt: PROMPT, maxTokens: 500, seed: LONG_SEEDS[0] });
    let seen = 0;
    for await (const chunk of generator) {
      if (chunk.type === 'token' && ++seen === 3) break;
    }
    // The runtime's stream/end arrives before its answer to generate/cancel, which return() awaits.
    assert.equal(generator.finishReason, 'cancelled');
    assert.ok((generator.stats?.generatedTokens ?? 500) < 500);
    assert.equal(await activeStreams(), 0, 'runtime/state: no stream left running');
    assert.deepEqual(await generator.next(), { done: true, value: undefined });
  });

  test('an AbortSignal cancels: the stream ends with the runtime\'s "cancelled" metadata', async () => {
    const controller = new AbortController();
    const generator = engine.createGenerator({ model: 'tiny', prompt: PROMPT, maxTokens: 500, seed: LONG_SEEDS[1] }, { signal: controller.signal });
    const chunks: GeneratorChunk[] = [];
    for await (const chunk of generator) {
      chunks.push(chunk);
      if (chunks.length === 2) controller.abort();
    }
    const end = lastOf(chunks) as MetadataChunk;
    assert.equal(end.type, 'metadata');
    assert.equal(end.finishReason, 'cancelled');
    assert.equal(tokensOf(chunks).length, end.stats.generatedTokens);
    assert.equal(await activeStreams(), 0);
  });

  test('a signal aborted before the start sends nothing and yields CANCELLED', async () => {
    const chunks = await collect(engine.createGenerator({ model: 'tiny', prompt: PROMPT }, { signal: AbortSignal.abort() }));
    assert.equal(chunks.length, 1);
    assert.ok(chunks[0]?.type === 'error' && chunks[0].error.code === 'CANCELLED');
    await assert.rejects(engine.generateDetailed({ model: 'tiny', prompt: PROMPT }, { signal: AbortSignal.abort() }), { code: 'CANCELLED' });
  });

  test('aborting generate() cancels it on the runtime, which answers with the text so far', async () => {
    const result = await engine.generateDetailed({ model: 'tiny', prompt: PROMPT, maxTokens: 500, seed: LONG_SEEDS[2] }, { signal: AbortSignal.timeout(40) });
    assert.equal(result.finishReason, 'cancelled');
    assert.ok(result.stats.generatedTokens < 500);
  });
});

describe('errors from the runtime', () => {
  test('invalid params: EngineError INVALID_PARAMS with the JSON-RPC code and the param path', async () => {
    const error = await engine.generateDetailed({ model: 'tiny', prompt: PROMPT, maxTokens: 0 }).catch((e: unknown) => e);
    assert.ok(EngineError.is(error, 'INVALID_PARAMS'));
    assert.equal(error.rpcCode, -32602);
    assert.match(error.message, /\$\.params\.max_tokens/);
    const unknown = await engine.tokenize({ model: 'tiny', text: 'x', bogus: 1 } as never).catch((e: unknown) => e);
    assert.ok(EngineError.is(unknown, 'INVALID_PARAMS'));
    assert.match(unknown.message, /unknown param `bogus`/);
    const chunks = await collect(engine.createGenerator({ model: 'tiny', prompt: PROMPT, temperature: -1 }));
    assert.ok(chunks.length === 1 && chunks[0]?.type === 'error' && chunks[0].error.code === 'INVALID_PARAMS');
  });

  test('a model that is not loaded: MODEL_NOT_LOADED; a path with no model: MODEL_NOT_FOUND', async () => {
    await assert.rejects(engine.generateDetailed({ model: 'nope', prompt: PROMPT }), { code: 'MODEL_NOT_LOADED', rpcCode: -32001 });
    const chunks = await collect(engine.createGenerator({ model: 'nope', prompt: PROMPT }));
    assert.ok(chunks[0]?.type === 'error' && chunks[0].error.code === 'MODEL_NOT_LOADED');
    await assert.rejects(engine.loadModel('/no/such/model'), { code: 'MODEL_NOT_FOUND' });
    assert.deepEqual(engine.getInfo().models, ['tiny'], 'a failed load is not remembered');
  });

  test('a call without an answer in time: TIMEOUT, and the late answer is dropped quietly', async () => {
    const pid = engine.getInfo().pid as number;
    process.kill(pid, 'SIGSTOP');
    try {
      await assert.rejects(engine.tokenize({ model: 'tiny', text: 'hello' }, { timeoutMs: 150 }), (error: unknown) => {
        assert.ok(EngineError.is(error, 'TIMEOUT'));
        assert.match(error.message, /requestTimeoutMs/);
        return true;
      });
      await assert.rejects(engine.generateDetailed({ model: 'tiny', prompt: PROMPT, maxTokens: 50 }, { timeoutMs: 150 }), { code: 'TIMEOUT' });
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    assert.deepEqual(await engine.tokenize({ model: 'tiny', text: 'hello' }), await engine.tokenize({ model: 'tiny', text: 'hello' }));
    // The generate/cancel sent for the timed-out generate is answered by the engine thread, maybe after the tokenizes.
    await eventually(() => engine.getInfo().pendingRequests === 0, 'no call left waiting');
  });

  test('a stream that stalls while its consumer waits: a TIMEOUT chunk, and the runtime cancels it', async () => {
    const generator = engine.createGenerator({ model: 'tiny', prompt: PROMPT, maxTokens: 400, seed: LONG_SEEDS[0] }, { timeoutMs: 1_000 });
    assert.equal((await generator.next()).value?.type, 'token');
    const pid = engine.getInfo().pid as number;
    process.kill(pid, 'SIGSTOP');
    let last: GeneratorChunk | undefined;
    try {
      for await (const chunk of generator) last = chunk; // the tokens already here, then the error
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    assert.ok(last?.type === 'error' && EngineError.is(last.error, 'TIMEOUT'), `ended with ${JSON.stringify(last)}`);
    assert.match(last.error.message, /sent nothing for 1000 ms/);
    await eventually(async () => (await activeStreams()) === 0, 'the runtime to cancel the stream');
  });
});

describe('info', () => {
  test('getInfo().versions are the runtime\'s library versions, as runtime/info sends them', async () => {
    const { versions } = engine.getInfo();
    for (const library of ['mlx', 'mlx-lm', 'msgspec', 'tokenizers']) {
      assert.match(versions[library] ?? '', /^\d+\.\d+/, `${library}: ${versions[library]}`);
    }
    assert.deepEqual(versions, (await engine.request('runtime/info')).versions);
  });
});

describe('names', () => {
  test('every method has a snake_case twin, and params take either spelling and the aliases', async () => {
    const again = await engine.load_model({ model: TINY, model_id: 'tiny' });
    assert.equal(again.alreadyLoaded, true);
    const snake = await engine.tokenize({ model_id: 'tiny', text: 'The old man', add_special_tokens: false });
    const camel = await engine.tokenize({ model: 'tiny', text: 'The old man', addBos: false });
    assert.deepEqual(snake, camel);
    const chunks = await collect(engine.create_generator({ model_id: 'tiny', prompt: PROMPT, max_tokens: 5, stream: true, temperature: 0 }));
    assert.equal(tokensOf(chunks).length, 5);
    const whole = await engine.generateDetailed({ model: 'tiny', prompt: PROMPT, max_tokens: 5, stream: false, top_k: 3, seed: 7 });
    assert.equal(whole.stats.generatedTokens, 5);
    assert.deepEqual(engine.get_info().models, ['tiny']);
    assert.equal((await engine.list_models())[0]?.modelId, 'tiny');
    assert.deepEqual((await engine.detokenize({ model: 'tiny', tokens: camel.tokens })).text, 'The old man');
  });

  test('each twin is the very same function as its camelCase method, on every method of the engine', () => {
    const prototype = Object.getPrototypeOf(engine) as Record<string, unknown>;
    const camel = Object.getOwnPropertyNames(prototype).filter((name) => name !== 'constructor' && /[A-Z]/.test(name));
    for (const name of ['loadVisionModel', 'unloadDraftModel', 'createGenerator', 'getInfo']) assert.ok(camel.includes(name), name);
    for (const name of camel) {
      const twin = name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
      assert.equal(typeof prototype[name], 'function', name);
      assert.equal(prototype[twin], prototype[name], `${twin} is ${name}`);
    }
    assert.equal(engine.load_vision_model, engine.loadVisionModel);
    assert.equal(engine.unload_draft_model, engine.unloadDraftModel);
    assert.equal(engine.is_draft_model_compatible, engine.isDraftModelCompatible);
  });

  test('argument mistakes are INVALID_OPTIONS, before anything is sent', async () => {
    await assert.rejects(engine.generateDetailed({ model: 'tiny', prompt: PROMPT, maxTokens: 5, max_tokens: 6 }), {
      code: 'INVALID_OPTIONS',
      message: /`maxTokens` and `max_tokens`.*\(`5` \(number\) and `6` \(number\)\)/,
    });
    await assert.rejects(engine.generateDetailed({ model: 'tiny', prompt: PROMPT, stream: true }), { code: 'INVALID_OPTIONS', message: /createGenerator/ });
    assert.throws(() => engine.createGenerator({ model: 'tiny', prompt: PROMPT, streaming: false }), { code: 'INVALID_OPTIONS' });
    await assert.rejects(engine.tokenize('tiny' as never), { code: 'INVALID_OPTIONS', message: /got `"tiny"` \(string\)/ });
    await assert.rejects(engine.tokenize({ model: 'tiny', text: 'x' }, { timeoutMs: -5 }), {
      message: 'Expected the `timeoutMs` option to be a non-negative integer, got `-5` (number).',
    });
    await assert.rejects(engine.request('runtime/shutdown'), { code: 'INVALID_OPTIONS', message: /shutdown\(\)/ });
  });
});

describe('backpressure', () => {
  test('a consumer that sleeps gets every token in order while reading pauses', async () => {
    const generator = engine.createGenerator({ model: 'tiny', prompt: PROMPT, maxTokens: 120, seed: LONG_SEEDS[0] });
    const before = engine.getInfo().flow.pauses;
    let tokens = 0;
    let end: GeneratorChunk | undefined;
    for await (const chunk of generator) {
      // A long nap first (the runtime gets well ahead), then short ones.
      if (chunk.type === 'token' && ++tokens % 4 === 1) await sleep(tokens === 1 ? 300 : 10);
      end = chunk;
    }
    assert.ok(end?.type === 'metadata');
    assert.equal(tokens, end.stats.generatedTokens);
    assert.ok(engine.getInfo().flow.pauses > before, 'the bridge stopped reading while the consumer was behind');
    assert.equal(engine.getInfo().flow.paused, false);
  });

  test('a generator nobody reads stays within a bound while another streams to its end, then gets all its tokens', async () => {
    const params = { model: 'tiny', prompt: PROMPT, maxTokens: 400, seed: LONG_SEEDS[1] };
    const expected = await engine.generateDetailed(params);
    const streamPauses = engine.getInfo().flow.streamPauses;
    // Its time limit does not run while it is paused for being behind: only while its consumer waits.
    const slow = engine.createGenerator(params, { timeoutMs: 500 });
    let maxBuffered = 0;
    const fast = await collect(
      (async function* () {
        for await (const chunk of engine.createGenerator({ ...params, seed: LONG_SEEDS[2] })) {
          maxBuffered = Math.max(maxBuffered, slow.bufferedTokens);
          yield chunk;
        }
      })(),
    );
    assert.equal(tokensOf(fast).length, 400);
    await sleep(700);
    maxBuffered = Math.max(maxBuffered, slow.bufferedTokens);
    // The mark (4), plus what was under way when the runtime paused it: far from its 400 tokens.
    assert.ok(maxBuffered < 100, `the unread generator buffered ${maxBuffered} tokens`);
    assert.ok(engine.getInfo().flow.streamPauses > streamPauses);
    assert.equal(engine.getInfo().flow.pausedStreams, 1);
    // Paused on the runtime, it no longer holds the pipe, though nobody waits now.
    assert.equal(engine.getInfo().flow.paused, false);
    const chunks = await collect(slow);
    const end = lastOf(chunks);
    assert.ok(end.type === 'metadata' && end.finishReason === 'length', `ended with ${JSON.stringify(end)}`);
    assert.equal(tokensOf(chunks).map((chunk) => chunk.token).join(''), expected.text, 'paused and resumed, token for token');
    assert.equal(engine.getInfo().flow.pausedStreams, 0);
  });

  test('a generator paused on the runtime does not stop the pipe: a stream nobody waits on still arrives whole', async () => {
    const unread = engine.createGenerator({ model: 'tiny', prompt: PROMPT, maxTokens: 400, seed: LONG_SEEDS[0] });
    // Each runtime/state call keeps the pipe read while it waits, so the answer to generate/pause arrives; from
    // then on nothing pauses the pipe, though no consumer waits and no call is pending.
    await eventually(async () => {
      await engine.request('runtime/state');
      const { pausedStreams, paused } = engine.getInfo().flow;
      return pausedStreams === 1 && !paused;
    }, 'the unread stream paused on the runtime, and the pipe read');
    // Nobody reads this one (its 3 tokens stay under the mark): a pipe-wide pause would leave them in the pipe.
    const other = engine.createGenerator({ model: 'tiny', prompt: PROMPT, maxTokens: 3, seed: 7 });
    await eventually(() => other.finishReason !== undefined, 'the other stream to arrive, unread');
    const chunks = await collect(other);
    const end = lastOf(chunks);
    assert.ok(end.type === 'metadata' && tokensOf(chunks).length === end.stats.generatedTokens, `ended with ${JSON.stringify(end)}`);
    assert.ok(unread.bufferedTokens < 100, `the unread generator buffered ${unread.bufferedTokens} tokens`);
    assert.equal(engine.getInfo().flow.pausedStreams, 1);
    assert.equal(engine.getInfo().flow.paused, false);
    await unread.return();
    assert.equal(engine.getInfo().flow.pausedStreams, 0);
    await eventually(async () => (await activeStreams()) === 0, 'the runtime to cancel the unread stream');
  });
});

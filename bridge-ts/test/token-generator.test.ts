// TokenGenerator alone: a generator over an RpcClient whose wire the test
// plays (the runtime's answers and notifications), with a real FlowControl.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EngineError } from 'mlx-serving';
import type { GeneratorChunk } from 'mlx-serving';
import { FlowControl } from '../dist/generator/flow.js';
import { TokenGenerator } from '../dist/generator/generator.js';
import type { GeneratorHost } from '../dist/generator/generator.js';
import { RpcClient } from '../dist/rpc/client.js';
import type { Session } from '../dist/supervisor/launch.js';

interface Sent {
  id: number;
  method: string;
  params: Record<string, unknown>;
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function harness(highWaterMark = 64): {
  client: RpcClient;
  sent: Sent[];
  finished: TokenGenerator[];
  start(options?: { signal?: AbortSignal }): TokenGenerator;
  answer(message: unknown): void;
  tokens(streamId: string, ...texts: string[]): void;
  accept(id: number, streamId: string): void;
} {
  const sent: Sent[] = [];
  const finished: TokenGenerator[] = [];
  const client = new RpcClient(
    {
      send: (message) => {
        sent.push(message as Sent);
        return true;
      },
      pause: () => {},
      resume: () => {},
    },
    { protocolError: (error) => assert.fail(error.message), notification: () => {} },
  );
  // The generator reaches the runtime through the session's client only.
  const session = { client } as unknown as Session;
  const host: GeneratorHost = {
    session: () => session,
    flow: new FlowControl(highWaterMark, () => {}),
    finished: (generator) => finished.push(generator),
    accepted: () => {},
    received: () => {},
  };
  const answer = (message: unknown): void => client.handleLine(JSON.stringify(message));
  return {
    client,
    sent,
    finished,
    start: ({ signal } = {}) =>
      new TokenGenerator(host, { params: { model: 'm', prompt: 'x', stream_id: 's1' }, timeoutMs: undefined, signal, statsChunk: false }),
    answer,
    tokens: (streamId, ...texts) =>
      answer({ jsonrpc: '2.0', method: 'stream/chunk', params: { stream_id: streamId, tokens: texts.map((text, id) => ({ id, text })) } }),
    accept: (id, streamId) => answer({ jsonrpc: '2.0', id, result: { stream_id: streamId, model: 'm', variant: 'stable' } }),
  };
}

async function take(generator: TokenGenerator, count: number): Promise<GeneratorChunk[]> {
  const chunks: GeneratorChunk[] = [];
  for (let i = 0; i < count; i++) {
    const next = await generator.next();
    if (next.done) break;
    chunks.push(next.value);
  }
  return chunks;
}

const end = { jsonrpc: '2.0', method: 'stream/end', params: { stream_id: 's1', finish_reason: 'length', stats: { generated_tokens: 2 }, model: 'm', variant: 'stable' } };

test('one token chunk per wire token, then the metadata chunk, then done', async () => {
  const h = harness();
  const generator = h.start();
  await flush();
  assert.deepEqual(h.sent[0], { jsonrpc: '2.0', id: 1, method: 'generate', params: { model: 'm', prompt: 'x', stream_id: 's1' } });
  h.accept(1, 's1');
  h.tokens('s1', 'He', 'llo');
  h.answer(end);
  const chunks = await take(generator, 10);
  assert.deepEqual(
    chunks.map((chunk) => (chunk.type === 'token' ? chunk.token : chunk.type)),
    ['He', 'llo', 'metadata'],
  );
  assert.equal(generator.finishReason, 'length');
  // The original mlx-serving's names ride beside ours (tokensGenerated, timeToFirstToken, totalTime).
  assert.deepEqual(generator.stats, { generatedTokens: 2, tokensGenerated: 2, timeToFirstToken: undefined, totalTime: undefined });
  assert.equal(generator.model, 'm');
  assert.equal(generator.variant, 'stable');
  assert.deepEqual(h.finished, [generator]);
  assert.deepEqual(await generator.next(), { done: true, value: undefined });
});

test('a refused generate ends the generator with one error chunk', async () => {
  const h = harness();
  const generator = h.start();
  await flush();
  h.answer({ jsonrpc: '2.0', id: 1, error: { code: -32001, message: 'no model m', data: { code: 'MODEL_NOT_LOADED', model: 'm', variant: 'stable' } } });
  const chunks = await take(generator, 10);
  assert.equal(chunks.length, 1);
  const [chunk] = chunks;
  assert.ok(chunk?.type === 'error');
  assert.equal(chunk.error.code, 'MODEL_NOT_LOADED');
  assert.equal(chunk.model, 'm');
});

test('leaving the loop early cancels the stream on the runtime, once', async () => {
  const h = harness();
  const generator = h.start();
  await flush();
  h.accept(1, 's1');
  h.tokens('s1', 'a', 'b', 'c');
  for await (const chunk of generator) {
    assert.equal(chunk.type, 'token');
    const left = generator.return();
    await flush();
    assert.deepEqual(
      h.sent.map((message) => message.method),
      ['generate', 'generate/cancel'],
    );
    h.answer({ jsonrpc: '2.0', id: 2, result: { stream_id: 's1', cancelled: true } });
    await left;
    break;
  }
  assert.equal(h.sent.filter((message) => message.method === 'generate/cancel').length, 1);
  assert.deepEqual(await generator.next(), { done: true, value: undefined });
});

test('a consumer behind by more than the mark pauses its stream; catching up resumes it', async () => {
  const h = harness(4);
  const generator = h.start();
  await flush();
  h.accept(1, 's1');
  h.tokens('s1', '1', '2', '3', '4', '5');
  assert.deepEqual(h.sent.at(-1), { jsonrpc: '2.0', id: 2, method: 'generate/pause', params: { stream_id: 's1' } });
  h.answer({ jsonrpc: '2.0', id: 2, result: { stream_id: 's1', paused: true } });
  await take(generator, 2);
  assert.equal(h.sent.length, 2, 'three left: above half the mark');
  await take(generator, 1);
  assert.deepEqual(h.sent.at(-1), { jsonrpc: '2.0', id: 3, method: 'generate/resume', params: { stream_id: 's1' } });
});

test('an abort before the start sends nothing and yields CANCELLED', async () => {
  const h = harness();
  const controller = new AbortController();
  controller.abort();
  const generator = h.start({ signal: controller.signal });
  const chunks = await take(generator, 10);
  assert.equal(h.sent.length, 0);
  assert.ok(chunks.length === 1 && chunks[0]?.type === 'error' && chunks[0].error.code === 'CANCELLED');
});

test('a runtime that goes away ends the stream with its error', async () => {
  const h = harness();
  const generator = h.start();
  await flush();
  h.accept(1, 's1');
  h.tokens('s1', 'a');
  h.client.close(new EngineError('RUNTIME_EXITED', 'the runtime exited'));
  const chunks = await take(generator, 10);
  assert.deepEqual(
    chunks.map((chunk) => (chunk.type === 'error' ? chunk.error.code : chunk.type)),
    ['token', 'RUNTIME_EXITED'],
  );
});

// RpcClient alone, over a wire the test plays: ids, answers, errors,
// timeouts, stream routing, strays, close, and when reading is paused.
import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { EngineError } from 'mlx-serving';
import { RpcClient } from '../dist/rpc/client.js';
import type { Wire } from '../dist/rpc/client.js';
import type { StreamListener } from '../dist/rpc/streams.js';

interface Sent {
  id: number;
  method: string;
  params: unknown;
}

function harness(): {
  client: RpcClient;
  sent: Sent[];
  reading: boolean[];
  protocolErrors: EngineError[];
  notifications: [string, unknown][];
  answer(message: unknown): void;
} {
  const sent: Sent[] = [];
  const reading: boolean[] = [];
  const protocolErrors: EngineError[] = [];
  const notifications: [string, unknown][] = [];
  const wire: Wire = {
    send: (message) => {
      sent.push(message as Sent);
      return true;
    },
    pause: () => void reading.push(false),
    resume: () => void reading.push(true),
  };
  const client = new RpcClient(wire, {
    protocolError: (error) => protocolErrors.push(error),
    notification: (method, params) => notifications.push([method, params]),
  });
  return { client, sent, reading, protocolErrors, notifications, answer: (message) => client.handleLine(JSON.stringify(message)) };
}

function listener(): StreamListener & { events: string[] } {
  const events: string[] = [];
  return {
    events,
    chunk: (params) => events.push(`chunk ${params.tokens.map((token) => token.text).join('')}`),
    end: (params) => events.push(`end ${params.finish_reason}`),
    error: (error, failed) => events.push(`error ${error.code}${failed === undefined ? ' (bridge)' : ''}`),
  };
}

test('requests get increasing ids and settle with their own answers, in any order', async () => {
  const { client, sent, answer } = harness();
  const first = client.request('model/list', {});
  const second = client.request('tokenize', { model: 'm', text: 'x' });
  assert.deepEqual(
    sent.map(({ id, method }) => [id, method]),
    [
      [1, 'model/list'],
      [2, 'tokenize'],
    ],
  );
  assert.deepEqual(sent[0], { jsonrpc: '2.0', id: 1, method: 'model/list', params: {} });
  assert.equal(client.pendingCount, 2);
  answer({ jsonrpc: '2.0', id: 2, result: { tokens: [7] } });
  answer({ jsonrpc: '2.0', id: 1, error: { code: -32001, message: 'no model', data: { code: 'MODEL_NOT_LOADED', model: 'm' } } });
  assert.deepEqual(await second, { tokens: [7] });
  await assert.rejects(first, (error: unknown) => {
    assert.ok(EngineError.is(error, 'MODEL_NOT_LOADED'));
    assert.equal(error.rpcCode, -32001);
    assert.equal(error.data['model'], 'm');
    return true;
  });
  assert.equal(client.pendingCount, 0);
});

test('a batch line settles each of its answers', async () => {
  const { client, answer } = harness();
  const calls = [client.request('model/list', {}), client.request('model/list', {})];
  answer([
    { jsonrpc: '2.0', id: 1, result: { models: [] } },
    { jsonrpc: '2.0', id: 2, result: { models: [{ model_id: 'a' }] } },
  ]);
  assert.deepEqual(await Promise.all(calls), [{ models: [] }, { models: [{ model_id: 'a' }] }]);
});

test('no answer in time: TIMEOUT naming the method, and the late answer is dropped quietly', async () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const { client, protocolErrors, answer } = harness();
    const call = client.request('model/list', {}, 50);
    mock.timers.tick(50);
    await assert.rejects(call, { code: 'TIMEOUT', message: /`model\/list` got no answer within 50 ms/ });
    answer({ jsonrpc: '2.0', id: 1, result: { models: [] } });
    assert.deepEqual(protocolErrors, []);
  } finally {
    mock.timers.reset();
  }
});

test('answers to nothing pending, and lines that are not JSON-RPC, are protocol errors', async () => {
  const { client, protocolErrors, answer } = harness();
  answer({ jsonrpc: '2.0', id: 99, result: {} });
  client.handleLine('not json');
  answer({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'parse error: bad line' } });
  client.handleOversized(5000);
  assert.deepEqual(
    protocolErrors.map((error) => error.code),
    ['PROTOCOL_ERROR', 'PROTOCOL_ERROR', 'PROTOCOL_ERROR', 'PROTOCOL_ERROR'],
  );
  const messages = protocolErrors.map((error) => error.message).join('\n');
  assert.match(messages, /request 99, which is not pending/);
  assert.match(messages, /not JSON/);
  assert.match(messages, /an error for no request: parse error: bad line/);
  assert.match(messages, /5000 bytes/);
  // A broken answer to a pending call fails that call instead of leaving it hanging.
  const call = client.request('model/list', {});
  answer({ jsonrpc: '2.0', id: 1, result: {}, error: { code: 1, message: 'both' } });
  await assert.rejects(call, { code: 'PROTOCOL_ERROR', message: /exactly one of "result" and "error"/ });
  assert.equal(protocolErrors.length, 4);
});

test('stream notifications reach the stream that is open, and only it', () => {
  const { client, notifications, protocolErrors, answer } = harness();
  const a = listener();
  client.openStream('a', a);
  const token = (text: string): unknown => ({ id: 1, text });
  answer({ jsonrpc: '2.0', method: 'stream/chunk', params: { stream_id: 'a', tokens: [token('he'), token('llo')] } });
  answer({ jsonrpc: '2.0', method: 'stream/chunk', params: { stream_id: 'gone', tokens: [token('x')] } });
  answer({ jsonrpc: '2.0', method: 'stream/end', params: { stream_id: 'a', finish_reason: 'length', stats: {} } });
  client.closeStream('a');
  answer({ jsonrpc: '2.0', method: 'stream/chunk', params: { stream_id: 'a', tokens: [token('late')] } });
  answer({ jsonrpc: '2.0', method: 'qos/violation', params: { slo: 'ttft_p99_ms' } });
  answer({ jsonrpc: '2.0', method: 'stream/chunk', params: { stream_id: 'a', tokens: [{ id: 'one' }] } });
  assert.deepEqual(a.events, ['chunk hello', 'end length']);
  assert.deepEqual(notifications, [['qos/violation', { slo: 'ttft_p99_ms' }]]);
  assert.equal(protocolErrors.length, 1);
  assert.match(protocolErrors[0]?.message ?? '', /malformed stream\/chunk for stream a/);
});

test('a stream/error reaches its stream as the EngineError the runtime sent', () => {
  const { client, answer } = harness();
  const a = listener();
  client.openStream('a', a);
  answer({
    jsonrpc: '2.0',
    method: 'stream/error',
    params: { stream_id: 'a', error: { code: -32013, message: 'unloaded', data: { code: 'MODEL_UNLOADED' } }, stats: {} },
  });
  assert.deepEqual(a.events, ['error MODEL_UNLOADED']);
});

test('close() fails every pending call and open stream, and every later call', async () => {
  const { client } = harness();
  const a = listener();
  client.openStream('a', a);
  const call = client.request('model/list', {});
  const gone = new EngineError('RUNTIME_EXITED', 'the runtime exited');
  client.close(gone);
  await assert.rejects(call, (error) => error === gone);
  assert.deepEqual(a.events, ['error RUNTIME_EXITED (bridge)']);
  await assert.rejects(client.request('model/list', {}), (error) => error === gone);
  assert.equal(client.pendingCount, 0);
});

test('reading pauses for backpressure, but never while an awaited call is pending', () => {
  const { client, reading, answer } = harness();
  const awaited = client.request('model/list', {});
  client.setBackpressure(true);
  assert.deepEqual(reading, [], 'the answer may sit behind the tokens: keep reading');
  answer({ jsonrpc: '2.0', id: 1, result: { models: [] } });
  assert.deepEqual(reading, [false], 'answered: now the reader may pause');
  void client.request('generate/pause', { stream_id: 'a' }, undefined, { awaited: false });
  assert.deepEqual(reading, [false], 'a call nobody waits for does not hold the reader');
  client.setBackpressure(false);
  assert.deepEqual(reading, [false, true]);
  assert.deepEqual(client.flow, { paused: false, pauses: 1 });
  void awaited;
});

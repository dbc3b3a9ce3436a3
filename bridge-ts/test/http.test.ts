// The HTTP front from Node: createEngine({ http }) serves it beside the
// engine's own connection, and `mlx-serving serve` runs it alone.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { createEngine, EngineError } from 'mlx-serving';
import { eventually, ROOT, TINY } from './helpers.js';

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

async function chat(port: number, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 3 }),
  });
}

test('createEngine({ http }) serves the HTTP API from the same runtime, with its API key', async () => {
  const port = await freePort();
  const engine = await createEngine({ http: { port, apiKey: 'sesame' } });
  try {
    await engine.loadModel({ model: TINY, modelId: 'tiny' });
    assert.equal((await chat(port)).status, 401);
    const reply = await chat(port, { authorization: 'Bearer sesame' });
    assert.equal(reply.status, 200);
    const body = (await reply.json()) as { usage: { completion_tokens: number } };
    assert.ok(body.usage.completion_tokens <= 3);
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    assert.deepEqual(await health.json(), { status: 'ready', models: ['tiny'] });
  } finally {
    await engine.dispose();
  }
});

test('the http option is checked', async () => {
  await assert.rejects(createEngine({ http: { port: 70000 } }), (error: unknown) =>
    error instanceof EngineError && error.code === 'INVALID_OPTIONS' && /http\.port/.test(error.message));
  // @ts-expect-error an unknown field
  await assert.rejects(createEngine({ http: { port: 1, tls: true } }), /Unknown http field `tls`/);
});

test('`mlx-serving serve` serves HTTP alone and drains on SIGTERM', async () => {
  const port = await freePort();
  const cli = spawn(process.execPath, [join(ROOT, 'bridge-ts/dist/cli.js'), 'serve', '--model', `${TINY}=tiny`, '--port', String(port)],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  cli.stdout.on('data', (data: Buffer) => (stdout += data.toString()));
  try {
    await eventually(async () => {
      try {
        return (await fetch(`http://127.0.0.1:${port}/health`)).status === 200;
      } catch {
        return false;
      }
    }, 'the server is ready', 120_000);
    assert.equal((await chat(port)).status, 200);
  } finally {
    cli.kill('SIGTERM');
  }
  const [code] = await once(cli, 'exit');
  assert.equal(code, 0);
  assert.equal(stdout, '', 'nothing on stdout: HTTP alone');
});

// The examples and the demo run to the end against the tiny model.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { ROOT, TINY } from './helpers.js';

const run = promisify(execFile);

// Runs a TypeScript example with tsx (as a reader would) or a plain script.
async function output(file: string, ...args: string[]): Promise<string> {
  const loader = file.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const { stdout } = await run(process.execPath, [...loader, join(ROOT, file), ...args], {
    cwd: ROOT,
    env: { ...process.env, MLX_SERVING_MODEL: TINY },
    timeout: 60_000,
  });
  return stdout;
}

test('examples/hello.ts streams a completion', async () => {
  assert.match(await output('examples/hello.ts'), /^The old man[\s\S]*\[(stop|length): \d+ tokens at \d+ tokens\/s\]\n$/);
});

test('examples/streaming.ts streams a chat answer, three streams at once, and two cut short', async () => {
  const stdout = await output('examples/streaming.ts');
  assert.match(stdout, /assistant> /);
  assert.equal(stdout.match(/^- /gm)?.length, 3);
  assert.match(stdout, /broke out after 10 tokens: the stream ended "cancelled"/);
  assert.match(stdout, /aborted: the stream ended "cancelled"/);
});

test('examples/with-engine.ts generates, then shows an EngineError', async () => {
  const stdout = await output('examples/with-engine.ts');
  assert.match(stdout, /generate\(\): ".*" \((stop|length), \d+ tokens\)/s);
  assert.match(stdout, /MODEL_NOT_LOADED \(JSON-RPC -32001\)/);
});

test('examples/migration.ts runs the snake_case API', async () => {
  const stdout = await output('examples/migration.ts');
  assert.match(stdout, /loaded local: \d+ parameters, context 512/);
  assert.match(stdout, /runtime pid \d+, models local, restarts 0/);
});

test('scripts/demo.mjs chats, then runs four streams at once', async () => {
  const stdout = await output('scripts/demo.mjs', TINY);
  assert.match(stdout, /assistant> [\s\S]*first token after \d+ ms/);
  assert.match(stdout, /4 streams batched through one model: \d+ tokens in [\d.]+ s/);
});

// The examples and the demo run to the end against the tiny model.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { ROOT, TINY, TINY_VISION } from './helpers.js';

const run = promisify(execFile);

// Runs a TypeScript example with tsx (as a reader would) or a plain script.
async function output(file: string, ...args: string[]): Promise<string> {
  const loader = file.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const { stdout } = await run(process.execPath, [...loader, join(ROOT, file), ...args], {
    cwd: ROOT,
    env: { ...process.env, MLX_SERVING_MODEL: TINY, MLX_SERVING_VISION_MODEL: TINY_VISION },
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

test('examples/structured-output.ts parses JSON, streams a regex, and shows GUIDANCE_INCOMPLETE', async () => {
  const stdout = await output('examples/structured-output.ts');
  const json = /^json: (\{.*\}) \(\d+ tokens\)$/m.exec(stdout)?.[1];
  const pet = JSON.parse(json ?? 'null') as { name: string; kind: string; age: number; friends: string[] };
  assert.ok(['cat', 'dog', 'bird'].includes(pet.kind) && Number.isInteger(pet.age) && Array.isArray(pet.friends), stdout);
  assert.match(stdout, /^value: .* is a (cat|dog|bird) aged \d+ with \d friend\(s\)$/m);
  assert.match(stdout, /^phone: \+1-\d{3}-\d{3}-\d{4} \(complete: true\)$/m);
  assert.match(stdout, /^GUIDANCE_INCOMPLETE: cut after "/m);
});

test('examples/vision.ts describes a generated image, two at once, then shows IMAGE_INVALID', async () => {
  const stdout = await output('examples/vision.ts');
  assert.match(stdout, /^loaded vision: a vision model$/m);
  assert.match(stdout, /\[(stop|length): \d+ prompt tokens, the image's included\]/);
  assert.match(stdout, /^two images: \d+ prompt tokens, \d+ generated \((stop|length)\)$/m);
  assert.match(stdout, /^IMAGE_INVALID: image 0 \(.*missing\.png\): no such file/m);
});

test('examples/metrics.ts runs streams, then prints the percentiles from getMetrics() and Prometheus lines', async () => {
  const stdout = await output('examples/metrics.ts');
  const figure = String.raw`p50 ([\d.]+|-)  p95 ([\d.]+|-)  p99 ([\d.]+|-)`;
  assert.match(stdout, /^6 streams, \d+ tokens$/m);
  assert.match(stdout, /^last 60 s: 6 completed, 0 failed, 0 rejected$/m);
  assert.match(stdout, new RegExp(String.raw`^time to first token \(ms\): +p50 [\d.]+  p95 [\d.]+  p99 [\d.]+$`, 'm'));
  assert.match(stdout, new RegExp(`^tokens/s per stream: +${figure}$`, 'm'));
  assert.match(stdout, new RegExp(`^time between tokens \\(ms\\): +${figure}$`, 'm'));
  assert.match(stdout, /^  mlx_serving_ttft_seconds\{model="local",quantile="0\.99"\} [\d.e-]+$/m);
});

test('scripts/demo.mjs chats, then runs four streams at once', async () => {
  const stdout = await output('scripts/demo.mjs', TINY);
  assert.match(stdout, /assistant> [\s\S]*first token after \d+ ms/);
  assert.match(stdout, /4 streams batched through one model: \d+ tokens in [\d.]+ s/);
});

// The original project's TypeScript examples (examples/original/, only the
// import, model paths and image paths changed) run to their end. Those that
// generate with a model they never load, or read QoS policies, get the
// runtime config their "Configuration Required" notes ask for
// (fixtures/original-examples.yaml: preload, SLOs, loopback images).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ROOT } from './helpers.js';

const run = promisify(execFile);
const CONFIG = fileURLToPath(new URL('./fixtures/original-examples.yaml', import.meta.url));
const IMAGE = join(ROOT, 'examples/original/vision/assets/sample-image.jpg');

let server: ReturnType<typeof createServer>;
let imageUrl: string;

before(async () => {
  server = createServer((_request, response) => response.writeHead(200, { 'content-type': 'image/jpeg' }).end(readFileSync(IMAGE)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  imageUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sample-image.jpg`;
});

after(() => server.close());

// Runs an example as its header says (npx tsx FILE), from the repo root; its stdout and stderr.
async function example(file: string): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, ['--import', 'tsx', join(ROOT, 'examples/original', file)], {
    cwd: ROOT,
    env: { ...process.env, MLX_SERVING_CONFIG: CONFIG, MLX_SERVING_IMAGE_URL: imageUrl },
    timeout: 300_000,
    maxBuffer: 64 * 1024 * 1024,
  });
}

// The examples catch their errors with console.error (an error's stack, or their own
// "Error: ..." / "Fatal error: ..." / "Failed to ...") and still exit 0: none may print one.
function clean({ stdout, stderr }: { stdout: string; stderr: string }): string {
  assert.doesNotMatch(stderr, /^(\w*Error\b|Fatal error|Failed)/m, stderr);
  return stdout;
}

describe('basic', () => {
  test('01-hello-world streams, prints tokens/sec and cleans up', async () => {
    const stdout = clean(await example('basic/01-hello-world.ts'));
    assert.match(stdout, /📊 Stats: [\d.]+ tokens\/sec/);
    assert.match(stdout, /✅ Done!\n$/);
  });

  test('02-with-engine-context: generate() is the text, the failed load is caught, cacheDir is warned', async () => {
    const { stdout, stderr } = await example('basic/02-with-engine-context.ts');
    assert.match(stdout, /^Generated text: .+/m);
    assert.doesNotMatch(stdout, /Generated text: \{/, 'a string, not an object');
    assert.match(stdout, /✓ Error handled gracefully/);
    assert.match(stdout, /Token count: \d+\n$/);
    assert.match(stderr, /MLX_SERVING_INERT_OPTION.*`cacheDir` has no effect/);
  });
});

describe('migration', () => {
  for (const file of ['migration/02-after-kr-mlx-lm-typescript.ts', 'migration/03-after-kr-mlx-lm-python-compat.ts']) {
    test(`${file}: sampling defaults at load, a stream, tokenize`, async () => {
      const stdout = clean(await example(file));
      assert.match(stdout, /^Model loaded: models\/tiny$/m);
      assert.match(stdout, /^Token count: \d+\n$/m);
    });
  }
});

test('structured/typescript_example: three objects, each parsed and read field by field', async () => {
  const stdout = clean(await example('structured/typescript_example.ts'));
  assert.match(stdout, /^Name: .*\nAge: \d+\nRole: (admin|user|guest)$/m);
  assert.match(stdout, /^Price: \$[\d.]+$/m);
  assert.match(stdout, /^Priority: (LOW|MEDIUM|HIGH|URGENT)$/m);
  assert.match(stdout, /All examples completed successfully!/);
});

describe('vision', () => {
  test('01-basic-vision-qa: the handle, the original stats names, a follow-up', async () => {
    const { stdout, stderr } = await example('vision/01-basic-vision-qa.ts');
    assert.match(stdout, /modality: 'vision'/);
    assert.match(stdout, /processorType: '\w+'/);
    assert.match(stdout, /^Tokens generated: \d+$/m);
    assert.match(stdout, /^Time to first token: \d+ms$/m);
    assert.match(stdout, /Done!\n$/);
    assert.match(stderr, /`revision` has no effect/);
  });

  test('02-image-formats: a path, a Buffer and a URL on 127.0.0.1', async () => {
    const stdout = clean(await example('vision/02-image-formats.ts'));
    assert.match(stdout, /=== From File Path ===[\s\S]*=== From Buffer ===[\s\S]*=== From URL ===/);
  });
});

describe('performance', () => {
  test('01-model-preloading: the preloaded model answers, generate() iterated as a stream', async () => {
    const stdout = clean(await example('performance/01-model-preloading.ts'));
    assert.match(stdout, /^Preloaded models: 1$/m);
    assert.match(stdout, /^ {2}- tiny\n {4}Warmup requests: 1\n {4}Preload time: [\d.]+ms$/m);
    assert.match(stdout, /^Tokens generated: 50$/m);
    assert.match(stdout, /Engine closed\.\n$/);
  });

  test('02-object-pooling reuses what it released', async () => {
    const stdout = clean(await example('performance/02-object-pooling.ts'));
    assert.match(stdout, /With pooling: \d+ms \(10 objects created, 1000 reuses\)/);
    assert.match(stdout, /Example complete\.\n$/);
  });

  test('03-adaptive-batching: the runtime batch counters grow with the load', async () => {
    const stdout = clean(await example('performance/03-adaptive-batching.ts'));
    assert.match(stdout, /^ {2}- Enabled: true$/m);
    assert.match(stdout, /^ {2}- Total requests: 6$/m);
    const batches = [...stdout.matchAll(/^ {2}Avg batch size: ([\d.]+)$/gm)].map((match) => Number(match[1]));
    assert.equal(batches.length, 4);
    assert.ok(batches.every((size) => size >= 1), stdout);
    assert.match(stdout, /Engine closed\.\n$/);
  });
});

describe('production', () => {
  test('01-qos-monitoring: the config, the stats and the SLO policies of the runtime', async () => {
    const stdout = clean(await example('production/01-qos-monitoring.ts'));
    assert.match(stdout, /^ {2}- QoS enabled: true$/m);
    assert.match(stdout, /^ {2}- Total requests: 5$/m);
    assert.match(stdout, /^Policy: ttft_p99_ms\n {2}- Type: alert\n {2}- Metric: ttft_p99_ms\n {2}- Threshold: 60000\n {2}- Window: 60000ms/m);
    assert.match(stdout, /Engine closed\.\n$/);
  });

  test('02-canary-deployment: flags read from the file, two engines compared', async () => {
    const stdout = clean(await example('production/02-canary-deployment.ts'));
    assert.match(stdout, /^ {2}- Enabled: true\n {2}- Rollout percentage: 100%\n {2}- Hash seed: canary$/m);
    assert.match(stdout, /^Consistent: ✅ Yes$/m);
    assert.match(stdout, /Engines closed\.\n$/);
  });

  test('03-feature-flags: routing by the runtime hash, the kill switch, decision stats', async () => {
    const stdout = clean(await example('production/03-feature-flags.ts'));
    assert.match(stdout, /^Consistency: ✅ Deterministic/m);
    assert.match(stdout, /^ {2}- Kill switch: ✅ inactive$/m);
    assert.match(stdout, /^ {2}- Total decisions: 25$/m);
    assert.match(stdout, /Example complete\.\n$/);
  });
});

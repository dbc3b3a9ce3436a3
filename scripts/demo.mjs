#!/usr/bin/env node
// The demo, through the TypeScript bridge (`npm run demo` builds it first):
// start the runtime, load the locally trained demo model, stream a chat
// answer token by token, then run four prompts at once through one batch.
//
//   node scripts/demo.mjs [model folder]     (default: models/demo)
import { fileURLToPath } from 'node:url';
import { createEngine } from '../bridge-ts/dist/index.js';

const modelPath = process.argv[2] ?? fileURLToPath(new URL('../models/demo', import.meta.url));

// Streams one generation; `onText` gets each token's text; resolves with the metadata chunk.
async function stream(engine, params, onText) {
  for await (const chunk of engine.createGenerator(params)) {
    if (chunk.type === 'token') onText(chunk.token);
    else if (chunk.type === 'metadata') return chunk;
    else throw chunk.error;
  }
  throw new Error('the stream ended without its metadata');
}

const engine = await createEngine();
try {
  const { runtime, versions } = engine.getInfo();
  console.log(`mlx-serving ${runtime.version} on ${runtime.device.type} (${runtime.device.name}), mlx ${versions.mlx}`);
  const model = await engine.loadModel({ model: modelPath, modelId: 'demo' });
  console.log(`loaded ${model.modelId}: ${model.parameters.toLocaleString()} parameters in ${model.loadMs.toFixed(0)} ms\n`);

  const question = 'Where is the little cat going?';
  process.stdout.write(`user> ${question}\nassistant> `);
  const answer = await stream(
    engine,
    { model: 'demo', messages: [{ role: 'user', content: question }], maxTokens: 80, temperature: 0.6, seed: 1 },
    (text) => process.stdout.write(text),
  );
  const { generatedTokens, tokensPerSecond, ttftMs } = answer.stats;
  console.log(`\n[${answer.finishReason}: ${generatedTokens} tokens, ${tokensPerSecond.toFixed(0)} tok/s, first token after ${ttftMs.toFixed(0)} ms]\n`);

  const prompts = ['The old man', 'A small bird', 'The teacher', 'My sister'];
  const texts = [...prompts];
  const started = performance.now();
  const ends = await Promise.all(prompts.map((prompt, i) =>
    stream(engine, { model: 'demo', prompt, maxTokens: 40, temperature: 0.7, seed: i }, (text) => { texts[i] += text; })));
  const seconds = (performance.now() - started) / 1000;
  texts.forEach((text) => console.log(`- ${text.replace(/\s+/g, ' ').trim()}`));
  const total = ends.reduce((sum, end) => sum + end.stats.generatedTokens, 0);
  console.log(`\n4 streams batched through one model: ${total} tokens in ${seconds.toFixed(2)} s (${(total / seconds).toFixed(0)} tok/s)`);
} finally {
  await engine.dispose();
}

// Streaming: a chat answer token by token, three streams at once through one
// batch, and a stream cut short, by breaking out of the loop and by an
// AbortSignal.
//
//   npx tsx examples/streaming.ts [model folder]
import { createEngine } from 'mlx-serving';
import type { Engine, GenerateParams } from 'mlx-serving';
import { modelPath } from './model.js';

// Collects a stream's text; an error chunk is thrown.
async function textOf(engine: Engine, params: GenerateParams): Promise<string> {
  let text = '';
  for await (const chunk of engine.createGenerator(params)) {
    if (chunk.type === 'token') text += chunk.token;
    if (chunk.type === 'error') throw chunk.error;
  }
  return text;
}

const engine = await createEngine();
try {
  await engine.loadModel({ model: modelPath, modelId: 'local' });

  process.stdout.write('user> Where is the little cat going?\nassistant> ');
  const messages = [{ role: 'user', content: 'Where is the little cat going?' }];
  for await (const chunk of engine.createGenerator({ model: 'local', messages, maxTokens: 60, seed: 1 })) {
    if (chunk.type === 'token') process.stdout.write(chunk.token);
    if (chunk.type === 'metadata') console.log(`\n[first token after ${chunk.stats.ttftMs.toFixed(0)} ms]\n`);
  }

  const prompts = ['A small bird', 'The teacher', 'My sister'];
  const texts = await Promise.all(prompts.map((prompt, seed) => textOf(engine, { model: 'local', prompt, maxTokens: 30, seed })));
  prompts.forEach((prompt, i) => console.log(`- ${prompt}${texts[i]?.replace(/\s+/g, ' ')}`));

  let tokens = 0;
  const generator = engine.createGenerator({ model: 'local', prompt: 'Once upon a time', maxTokens: 400, seed: 0 });
  for await (const chunk of generator) {
    if (chunk.type === 'token' && ++tokens === 10) break; // cancels the stream on the runtime
  }
  console.log(`\nbroke out after ${tokens} tokens: the stream ended "${generator.finishReason}"`);

  // Cancelling from elsewhere (a timer, a UI): 20 ms after the first token.
  const controller = new AbortController();
  const params = { model: 'local', prompt: 'Once upon a time', maxTokens: 400, seed: 11 };
  for await (const chunk of engine.createGenerator(params, { signal: controller.signal })) {
    if (chunk.type === 'token' && !controller.signal.aborted) setTimeout(() => controller.abort(), 20);
    if (chunk.type === 'metadata') console.log(`aborted: the stream ended "${chunk.finishReason}" after ${chunk.stats.generatedTokens} tokens`);
  }
} finally {
  await engine.dispose();
}

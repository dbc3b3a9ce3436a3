// One greedy stream at a time through the TypeScript bridge (createEngine +
// createGenerator), for `bench/single_stream.py --client bridge`; run the
// built bridge (npm run build).
//
//   node bench/bridge_stream.mjs '{"pythonPath": ..., "configPath": ..., "model": ...}'
//
// Prints {"ready": true} once the model is loaded; then, for each line read
// on stdin ({"prompt": [ids], "maxTokens": n}), generates and prints one line
// {"sentAt": ms, "times": [ms per token], "ids": [token ids], "finishReason"}
// with times from performance.now(), taken as each chunk reaches the caller.
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { createEngine } from 'mlx-serving';

const spec = JSON.parse(process.argv[2] ?? '{}');
const engine = await createEngine({ pythonPath: spec.pythonPath, configPath: spec.configPath });
try {
  await engine.loadModel({ model: spec.model, modelId: 'm' });
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    const { prompt, maxTokens } = JSON.parse(line);
    const sentAt = performance.now();
    const times = [];
    const ids = [];
    let finishReason = null;
    for await (const chunk of engine.createGenerator({ model: 'm', prompt, maxTokens, temperature: 0 })) {
      if (chunk.type === 'token') {
        times.push(performance.now());
        ids.push(chunk.tokenId);
      } else if (chunk.type === 'metadata') {
        finishReason = chunk.finishReason;
      } else if (chunk.type === 'error') {
        throw chunk.error;
      }
    }
    process.stdout.write(`${JSON.stringify({ sentAt, times, ids, finishReason })}\n`);
  }
} finally {
  await engine.dispose();
}

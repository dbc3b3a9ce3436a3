// Metrics: run a few streams at once, then read the runtime's own latency
// figures (DDSketch percentiles over the QoS window) and its Prometheus text.
//
//   npx tsx examples/metrics.ts [model folder]
import { createEngine } from 'mlx-serving';
import type { Distribution } from 'mlx-serving';
import { modelPath } from './model.js';

const PROMPTS = ['The old man', 'A small bird', 'The little fox', 'In the morning', 'The river', 'A tall tree'];

// "p50 12.3  p95 20.1  p99 25.0" for a distribution ("-" where it is empty).
function percentiles({ p50, p95, p99 }: Distribution): string {
  const show = (value: number | null): string => (value === null ? '-' : value.toFixed(1));
  return `p50 ${show(p50)}  p95 ${show(p95)}  p99 ${show(p99)}`;
}

const engine = await createEngine();
try {
  await engine.loadModel({ model: modelPath, modelId: 'local' });
  // Six streams at once, batched through the model; seeded, so each run writes the same.
  const served = await Promise.all(
    PROMPTS.map(async (prompt, seed) => {
      let tokens = 0;
      for await (const chunk of engine.createGenerator({ model: 'local', prompt, maxTokens: 32, seed })) {
        if (chunk.type === 'token') tokens += 1;
        else if (chunk.type === 'error') throw chunk.error;
      }
      return tokens;
    }),
  );
  console.log(`${served.length} streams, ${served.reduce((sum, tokens) => sum + tokens, 0)} tokens`);

  const { models, windowS } = await engine.getMetrics('local');
  const local = models['local'];
  if (local === undefined) throw new Error('no metrics for the model');
  const { requests, ttftMs, tokensPerS, interTokenMs } = local.window;
  console.log(`last ${windowS} s: ${requests.completed} completed, ${requests.failed} failed, ${requests.rejected} rejected`);
  console.log(`time to first token (ms):   ${percentiles(ttftMs)}`);
  console.log(`tokens/s per stream:        ${percentiles(tokensPerS)}`);
  console.log(`time between tokens (ms):   ${percentiles(interTokenMs)}`);

  // The same figures for a Prometheus scraper (serve them as text/plain; version=0.0.4).
  const text = await engine.getPrometheusMetrics();
  const ttft = text.split('\n').filter((line) => line.startsWith('mlx_serving_ttft_seconds{model="local"'));
  console.log(`prometheus: ${text.split('\n').length} lines, e.g.\n  ${ttft.join('\n  ')}`);
} finally {
  await engine.dispose();
}

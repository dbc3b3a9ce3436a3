// node-llama-cpp beside the runtime (bench/real_model.py): loads a GGUF file on
// the CPU, then for each line on stdin ({"prompt": [token ids], "maxTokens": n})
// generates greedily from a fresh context sequence and prints one line:
// {"sentAt": ms, "times": [ms of each token], "ids": [...]} (performance.now()
// plus timeOrigin, so the times compare with Python's wall clock).
import { createInterface } from "node:readline";
import { getLlama } from "node-llama-cpp";

const [modelPath, threads] = process.argv.slice(2);
const llama = await getLlama({ gpu: false });
const model = await llama.loadModel({ modelPath });
const context = await model.createContext({ contextSize: 2048, threads: Number(threads) || 0 });
const now = () => performance.timeOrigin + performance.now();
process.stdout.write(JSON.stringify({ ready: true, threads: context.currentThreads }) + "\n");

for await (const line of createInterface({ input: process.stdin })) {
  const { prompt, maxTokens } = JSON.parse(line);
  const sequence = context.getSequence();
  const sentAt = now();
  const times = [];
  const ids = [];
  for await (const token of sequence.evaluate(prompt, { temperature: 0 })) {
    times.push(now());
    ids.push(token);
    if (ids.length >= maxTokens) break;
  }
  sequence.dispose();
  process.stdout.write(JSON.stringify({ sentAt, times, ids }) + "\n");
}
await context.dispose();
await model.dispose();

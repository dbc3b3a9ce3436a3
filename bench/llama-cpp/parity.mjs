// llama.cpp's side of bench/gguf_parity.py: reads one JSON request on stdin
// ({"models": {name: {"path", "texts": [...], "prompt": [token ids]}}}) and prints
// one JSON line: per model the ids of each text (special tokens parsed, no BOS)
// and the next-token probabilities after the prompt, from the raw logits
// (temperature 1, no top-k/top-p/min-p).
import { getLlama } from "node-llama-cpp";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { models } = JSON.parse(input);
const llama = await getLlama({ gpu: false });
const out = {};
for (const [name, { path, texts, prompt }] of Object.entries(models)) {
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  const ids = texts.map((text) => Array.from(model.tokenize(text, true)));
  const context = await model.createContext({ contextSize: 512, batchSize: 512 });
  const evaluation = context.getSequence().evaluateWithMetadata(
    prompt, { probabilities: true }, { temperature: 1, topK: 0, topP: 1, minP: 0 });
  const { value } = await evaluation.next();
  await evaluation.return();
  out[name] = { ids, probabilities: Object.fromEntries(value.probabilities) };
  await context.dispose();
  await model.dispose();
}
process.stdout.write(JSON.stringify(out) + "\n");

// Vision: a vision-language model (loaded through mlx-vlm) reads images
// given as file paths, data: URLs or http(s) URLs. The image here is made in
// memory (examples/png.ts), so nothing is downloaded: it goes once as a data:
// URL and once as a temporary file.
//
//   npx tsx examples/vision.ts [vision model folder]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine, EngineError } from 'mlx-serving';
import { visionModelPath } from './model.js';
import { gradientPng, pngDataUrl } from './png.js';

const folder = mkdtempSync(join(tmpdir(), 'mlx-serving-vision-'));
const engine = await createEngine();
try {
  const model = await engine.loadVisionModel({ model: visionModelPath, modelId: 'vision' });
  console.log(`loaded ${model.modelId}: a ${model.kind} model`);

  const png = gradientPng(64, 48);
  process.stdout.write('user> What is in this picture?\nassistant> ');
  const images = [pngDataUrl(png)];
  for await (const chunk of engine.createVisionGenerator({ model: 'vision', prompt: 'What is in this picture?', images, maxTokens: 30, seed: 1 })) {
    if (chunk.type === 'token') process.stdout.write(chunk.token);
    else if (chunk.type === 'metadata') console.log(`\n[${chunk.finishReason}: ${chunk.stats.promptTokens} prompt tokens, the image's included]`);
    else if (chunk.type === 'error') throw chunk.error;
  }

  // Several images at once, one from a file; generate() answers in one piece.
  const file = join(folder, 'gradient.png');
  writeFileSync(file, png);
  const messages = [{ role: 'user', content: 'How do these two pictures differ?' }];
  const both = await engine.generateDetailed({ model: 'vision', messages, images: [file, pngDataUrl(gradientPng(32, 32, 255))], maxTokens: 20, seed: 1 });
  console.log(`two images: ${both.stats.promptTokens} prompt tokens, ${both.stats.generatedTokens} generated (${both.finishReason})`);

  // A bad image is an EngineError; the runtime goes on serving.
  try {
    await engine.generateDetailed({ model: 'vision', prompt: 'And this one?', images: [join(folder, 'missing.png')], maxTokens: 5 });
  } catch (error) {
    if (!EngineError.is(error, 'IMAGE_INVALID')) throw error;
    console.log(`${error.code}: ${error.message}`);
  }
} finally {
  await engine.dispose();
  rmSync(folder, { recursive: true, force: true });
}

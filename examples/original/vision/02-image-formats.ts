// From defai-digital/mlx-serving at 62d6464, examples/vision/02-image-formats.ts.
// Changed (only the import, model paths and image paths):
//   import '../../src/api/engine.js' -> 'mlx-serving'
//   'llava-hf/llava-1.5-7b-hf' -> 'models/tiny-vision'
//   './assets/sample-image.jpg' -> 'examples/original/vision/assets/sample-image.jpg'
//   'https://example.com/image.jpg' -> process.env['MLX_SERVING_IMAGE_URL'] ?? 'http://127.0.0.1:8765/sample-image.jpg'

/**
 * Image Format Support Example
 *
 * Demonstrates different ways to provide images to vision models
 */

import { createEngine } from 'mlx-serving';
import { readFileSync } from 'fs';
import { join } from 'path';

async function main() {
  const engine = await createEngine();

  try {
    await engine.loadVisionModel({
      model: 'models/tiny-vision',
    });

    // Example 1: File path
    console.log('=== From File Path ===');
    for await (const chunk of engine.createVisionGenerator({
      model: 'models/tiny-vision',
      prompt: 'What is this?',
      image: { source: 'examples/original/vision/assets/sample-image.jpg' },
      maxTokens: 50,
    })) {
      if (chunk.type === 'token') process.stdout.write(chunk.token || '');
    }
    console.log('\n');

    // Example 2: Buffer
    console.log('=== From Buffer ===');
    const imageBuffer = readFileSync('examples/original/vision/assets/sample-image.jpg');
    for await (const chunk of engine.createVisionGenerator({
      model: 'models/tiny-vision',
      prompt: 'Describe this.',
      image: { source: imageBuffer, format: 'jpg' },
      maxTokens: 50,
    })) {
      if (chunk.type === 'token') process.stdout.write(chunk.token || '');
    }
    console.log('\n');

    // Example 3: URL (if supported by image-encoding.ts)
    console.log('=== From URL ===');
    for await (const chunk of engine.createVisionGenerator({
      model: 'models/tiny-vision',
      prompt: 'What do you see?',
      image: { source: process.env['MLX_SERVING_IMAGE_URL'] ?? 'http://127.0.0.1:8765/sample-image.jpg' },
      maxTokens: 50,
    })) {
      if (chunk.type === 'token') process.stdout.write(chunk.token || '');
    }
    console.log('\n');

  } finally {
    await engine.dispose();
  }
}

main().catch(console.error);

// Hello world: start the runtime, load a local model, stream a completion.
//
//   npx tsx examples/hello.ts [model folder]
import { createEngine } from 'mlx-serving';
import { modelPath } from './model.js';

const engine = await createEngine();
try {
  await engine.loadModel({ model: modelPath, modelId: 'local' });
  process.stdout.write('The old man');
  for await (const chunk of engine.createGenerator({ model: 'local', prompt: 'The old man', maxTokens: 40, temperature: 0.7 })) {
    if (chunk.type === 'token') {
      process.stdout.write(chunk.token);
    } else if (chunk.type === 'metadata') {
      const { generatedTokens, tokensPerSecond } = chunk.stats;
      console.log(`\n\n[${chunk.finishReason}: ${generatedTokens} tokens at ${tokensPerSecond.toFixed(0)} tokens/s]`);
    } else if (chunk.type === 'error') {
      throw chunk.error;
    }
  }
} finally {
  await engine.dispose();
}

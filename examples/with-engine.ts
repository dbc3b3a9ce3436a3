// withEngine(): the engine lives as long as the function and is disposed of
// afterwards, also when the function throws. Errors are EngineErrors with a
// stable `code`.
//
//   npx tsx examples/with-engine.ts [model folder]
import { EngineError, withEngine } from 'mlx-serving';
import { modelPath } from './model.js';

const answer = await withEngine(async (engine) => {
  await engine.loadModel({ model: modelPath, modelId: 'local' });
  const { tokens } = await engine.tokenize({ model: 'local', text: 'The old man' });
  console.log(`"The old man" is ${tokens.length} tokens: ${tokens.join(' ')}`);
  return engine.generateDetailed({ model: 'local', prompt: 'The old man', maxTokens: 30, stopSequences: ['.'] });
});
console.log(`generate(): "${answer.text}" (${answer.finishReason}, ${answer.stats.generatedTokens} tokens)`);

try {
  await withEngine(async (engine) => {
    await engine.generate({ model: 'never-loaded', prompt: 'Hello' });
  });
} catch (error) {
  if (!EngineError.is(error, 'MODEL_NOT_LOADED')) throw error;
  console.log(`${error.code} (JSON-RPC ${error.rpcCode}): ${error.message}`);
  console.log('...and the engine was disposed of all the same.');
}

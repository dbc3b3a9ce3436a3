// For code written against the original mlx-serving: the snake_case API.
// Every method has a snake_case twin, every param takes its snake_case name,
// and the old aliases work (stream, model_id, add_special_tokens).
//
//   npx tsx examples/migration.ts [model folder]
import { create_engine } from 'mlx-serving';
import { modelPath } from './model.js';

const engine = await create_engine({ request_timeout_ms: 60_000 });
try {
  const model = await engine.load_model({ model: modelPath, model_id: 'local' });
  console.log(`loaded ${model.modelId}: ${model.parameters} parameters, context ${model.contextLength}`);

  for await (const chunk of engine.create_generator({ model_id: 'local', prompt: 'The old man', max_tokens: 30, temperature: 0.7, top_p: 0.9, stream: true })) {
    if (chunk.type === 'token') process.stdout.write(chunk.token);
  }
  console.log();

  const result = await engine.tokenize({ model_id: 'local', text: 'Hello, world!', add_special_tokens: true });
  console.log(`tokens: ${result.tokens.join(' ')} (${result.tokens.length})`);

  const whole = await engine.generate_detailed({ model: 'local', prompt: 'A small bird', max_tokens: 20, repetition_penalty: 1.1, stream: false });
  console.log(`generate: ${whole.text.trim()} [${whole.finishReason}] (results come back in camelCase)`);

  const info = engine.get_info();
  console.log(`runtime pid ${info.pid}, models ${info.models.join(', ')}, restarts ${info.restarts}`);
} finally {
  await engine.shutdown();
}

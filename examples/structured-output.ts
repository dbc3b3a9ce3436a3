// Structured output: JSON that validates against a JSON Schema by
// construction (the runtime masks every token the schema does not allow, so
// even a small model cannot break it), parsed by generateJson(). A regex
// streams through createGenerator(). Output cut short is an EngineError
// GUIDANCE_INCOMPLETE, never half a JSON value.
//
//   npx tsx examples/structured-output.ts [model folder]
import { createEngine, EngineError } from 'mlx-serving';
import { modelPath } from './model.js';

interface Pet {
  name: string;
  kind: 'cat' | 'dog' | 'bird';
  age: number;
  friends: string[];
}

// Bounded strings, arrays and numbers keep the answer short whatever the model writes.
const petSchema = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 12 },
    kind: { enum: ['cat', 'dog', 'bird'] },
    age: { type: 'integer', minimum: 0, maximum: 30 },
    friends: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 12 }, maxItems: 3 },
  },
  required: ['name', 'kind', 'age', 'friends'],
  additionalProperties: false,
};

const engine = await createEngine();
try {
  await engine.loadModel({ model: modelPath, modelId: 'local' });
  const guidance = { mode: 'json_schema', schema: petSchema } as const;
  const messages = [{ role: 'user', content: 'Describe a pet as JSON.' }];

  const { value: pet, text, stats } = await engine.generateJson<Pet>({ model: 'local', messages, guidance, maxTokens: 200, seed: 1 });
  console.log(`json: ${text} (${stats.generatedTokens} tokens)`);
  console.log(`value: ${pet.name} is a ${pet.kind} aged ${pet.age} with ${pet.friends.length} friend(s)`);

  // Any guidance streams too; the metadata chunk says whether the output is whole.
  process.stdout.write('phone: ');
  const phone = { mode: 'regex', pattern: String.raw`\+1-\d{3}-\d{3}-\d{4}` } as const;
  for await (const chunk of engine.createGenerator({ model: 'local', prompt: 'Call me at', guidance: phone, maxTokens: 40, seed: 2 })) {
    if (chunk.type === 'token') process.stdout.write(chunk.token);
    else if (chunk.type === 'metadata') console.log(` (complete: ${chunk.guidance?.complete})`);
    else if (chunk.type === 'error') throw chunk.error;
  }

  // Too few tokens for the whole object: an error that carries the text so far.
  try {
    await engine.generateJson({ model: 'local', messages, guidance, maxTokens: 4, seed: 1 });
  } catch (error) {
    if (!EngineError.is(error, 'GUIDANCE_INCOMPLETE')) throw error;
    console.log(`${error.code}: cut after ${JSON.stringify(error.data['text'])}`);
  }
} finally {
  await engine.dispose();
}

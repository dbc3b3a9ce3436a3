// Compile-time tests of the public types (`npm run typecheck` compiles this
// file; nothing runs it). Each @ts-expect-error must be an error, or tsc fails.
import type { Engine, GeneratorChunk, Params, Result } from 'mlx-serving';

export async function typesOfTheApi(engine: Engine): Promise<void> {
  // Params in camelCase, snake_case, mixed, and the aliases.
  await engine.generate({ model: 'm', prompt: 'hi', maxTokens: 5, top_p: 0.9, stopSequences: ['.'] });
  await engine.generate({ model_id: 'm', prompt: [1, 2, 3], max_tokens: 5, stream: false, add_special_tokens: true });
  await engine.tokenize({ modelId: 'm', text: 'x', addSpecialTokens: false });
  await engine.loadModel('models/tiny');
  await engine.load_model({ model: 'models/tiny', model_id: 'tiny' });
  await engine.unload_model('tiny');

  // @ts-expect-error a param of the wrong type
  await engine.generate({ model: 'm', prompt: 'hi', maxTokens: 'five' });
  // @ts-expect-error a required param (model) missing in every spelling
  await engine.generate({ prompt: 'hi' });
  // @ts-expect-error an unknown param
  await engine.generate({ model: 'm', prompt: 'hi', maxTokenz: 5 });
  // @ts-expect-error tokenize needs text
  await engine.tokenize({ model: 'm' });

  // Results come back in camelCase.
  const loaded = await engine.loadModel('models/tiny');
  const contextLength: number = loaded.contextLength;
  // @ts-expect-error the snake_case key is not there
  void loaded.context_length;
  const state: Result<'runtime/state'> = await engine.request('runtime/state');
  const active: number = state.activeStreams;
  void [contextLength, active];

  // Chunks are a discriminated union.
  for await (const chunk of engine.createGenerator({ model: 'm', prompt: 'hi' })) {
    const typed: GeneratorChunk = chunk;
    if (chunk.type === 'token') void (chunk.token + chunk.tokenId);
    else if (chunk.type === 'metadata') void (chunk.finishReason + chunk.stats.tokensPerSecond);
    else void chunk.error.code;
    void typed;
  }

  // Every public method has its snake_case twin, with the same type.
  const twin: Engine['createGenerator'] = engine.create_generator;
  const info = engine.get_info();
  void [twin, info.restarts];
  // @ts-expect-error no twin for a name that is not a method
  void engine.load_models;
}

// A required param with several spellings: at least one of them.
export const cancel: Params<'generate/cancel'>[] = [{ stream_id: 'a' }, { streamId: 'a' }];
// @ts-expect-error generate/cancel needs its stream id
export const noCancel: Params<'generate/cancel'> = {};

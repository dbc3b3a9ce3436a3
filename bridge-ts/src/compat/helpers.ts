// The original mlx-serving's helper functions over an engine.
import type { Engine } from '../index.js';
import type { GenerateParams, LoadedModel } from '../engine/engine.js';
import type { ModelHandle } from '../engine/handles.js';
import type { GeneratorChunk } from '../generator/chunks.js';
import type { Params } from '../wire/params.js';

/** A prompt alone (for the only loaded model), or generate params. */
type PromptOrParams = string | GenerateParams;

const paramsOf = (input: PromptOrParams): GenerateParams => (typeof input === 'string' ? { prompt: input } : input);

/** The whole text of a streamed generation; a failed stream throws its EngineError. */
export async function generateText(engine: Engine, params: PromptOrParams): Promise<string> {
  return generateTextStreaming(engine, params, () => undefined);
}

/** generateText(), calling `onToken` with each token's text as it arrives. */
export async function generateTextStreaming(engine: Engine, params: PromptOrParams, onToken: (token: string) => void): Promise<string> {
  let text = '';
  for await (const chunk of engine.createGenerator(paramsOf(params))) {
    if (chunk.type === 'error') throw chunk.error;
    if (chunk.type === 'token') {
      text += chunk.token;
      onToken(chunk.token);
    }
  }
  return text;
}

/** Every chunk of a generation (tokens, then the metadata chunk); a failed stream throws its EngineError. */
export async function collectChunks(engine: Engine, params: PromptOrParams): Promise<GeneratorChunk[]> {
  const chunks: GeneratorChunk[] = [];
  for await (const chunk of engine.createGenerator(paramsOf(params))) {
    if (chunk.type === 'error') throw chunk.error;
    chunks.push(chunk);
  }
  return chunks;
}

/** The model's handle when it is loaded, else it loads it. */
export async function ensureModelLoaded(engine: Engine, params: Params<'model/load'>): Promise<ModelHandle | LoadedModel> {
  const id = (params.modelId ?? params.model_id ?? params.model) as string;
  return engine.getModelInfo(id) ?? engine.loadModel(params);
}

/** Token ids of several texts (one batch_tokenize call). */
export async function batchTokenize(engine: Engine, model: string, texts: string[]): Promise<number[][]> {
  return (await engine.request('batch_tokenize', { model, texts })).tokens;
}

/** How many tokens the texts make together. */
export async function getTotalTokenCount(engine: Engine, model: string, texts: string[]): Promise<number> {
  return (await batchTokenize(engine, model, texts)).reduce((sum, tokens) => sum + tokens.length, 0);
}

/** Whether the runtime answers and is ready (healthCheck() says healthy). */
export async function isEngineHealthy(engine: Engine): Promise<boolean> {
  try {
    return (await engine.healthCheck()).status === 'healthy';
  } catch {
    return false;
  }
}

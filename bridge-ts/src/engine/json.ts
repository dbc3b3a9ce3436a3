// generateJson()'s answer: the JSON value of a guided generation, or an
// error when the output is not whole JSON (it never hands back a cut text as
// if it were a value).
import { EngineError } from '../errors/engine-error.js';
import type { GenerateOutput } from './engine.js';

/** What generateJson() resolves to: generate()'s result and the parsed `value`. */
export type JsonOutput<T> = GenerateOutput & { value: T; guidance: { complete: true } };

const CUT_BY: Record<string, string> = {
  length: 'maxTokens or the context window ended it first (finishReason "length"); raise maxTokens, or bound the schema (maxLength, maxItems, maximum)',
  stop: 'a stop sequence or stop token id ended it first (finishReason "stop"); leave stops out of JSON requests',
};

// generateJson() is for JSON Schema guidance only; said before anything is sent.
export function requireJsonSchemaGuidance(guidance: unknown): void {
  const mode = guidance !== null && typeof guidance === 'object' ? (guidance as { mode?: unknown }).mode : undefined;
  if (mode === 'json_schema') return;
  const got = guidance === undefined ? 'no guidance' : `mode ${JSON.stringify(mode)}`;
  throw EngineError.invalidOptions(`\`generateJson\` needs \`guidance: { mode: 'json_schema', schema }\`, got ${got}; use generate() for other output.`);
}

// The parsed value of a complete output; an error for anything else.
export function parseJsonOutput<T>(output: GenerateOutput): JsonOutput<T> {
  const data = { text: output.text, finishReason: output.finishReason, stats: output.stats, streamId: output.streamId };
  if (output.finishReason === 'cancelled') {
    throw new EngineError('CANCELLED', `generateJson() was cancelled before the JSON was complete (text so far in error.data.text).`, {
      data,
    });
  }
  if (output.guidance?.complete !== true) {
    const why = CUT_BY[output.finishReason] ?? `it ended with finishReason "${output.finishReason}"`;
    throw new EngineError('GUIDANCE_INCOMPLETE', `generateJson(): the JSON is incomplete: ${why}. The text so far is in error.data.text.`, {
      data,
    });
  }
  let value: T;
  try {
    value = JSON.parse(output.text) as T;
  } catch (cause) {
    // The runtime said complete: its mask let through something that is not JSON.
    throw new EngineError('PROTOCOL_ERROR', `generateJson(): the runtime reported complete JSON that does not parse: ${(cause as Error).message}`, {
      data,
      cause,
    });
  }
  return { ...output, guidance: { complete: true }, value };
}

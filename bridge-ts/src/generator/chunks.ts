// What a generator yields: one chunk per token, then one metadata chunk (the
// stream finished) or one error chunk (it failed).
import type { EngineError } from '../errors/engine-error.js';
import type { GenerationStats, StreamEnd, TokenOut } from '../wire/generated.js';
import type { Camelize } from '../wire/names.js';

/** Stats of a finished stream: promptTokens, generatedTokens, ttftMs, tokensPerSecond, totalMs. */
export type Stats = Camelize<GenerationStats>;
export type FinishReason = StreamEnd['finish_reason'];

export interface TokenChunk {
  type: 'token';
  /** The text this token released; '' while text is held back (a possible stop sequence) and for the token that ends the stream. */
  token: string;
  tokenId: number;
  /** With `logprobs: true`: the token's log-probability. */
  logprob?: number;
}

export interface MetadataChunk {
  type: 'metadata';
  finishReason: FinishReason;
  stats: Stats;
}

export interface ErrorChunk {
  type: 'error';
  error: EngineError;
}

export type GeneratorChunk = TokenChunk | MetadataChunk | ErrorChunk;

// One wire token as one chunk.
export function tokenChunk(token: TokenOut): TokenChunk {
  const chunk: TokenChunk = { type: 'token', token: token.text, tokenId: token.id };
  if (token.logprob !== undefined) chunk.logprob = token.logprob;
  return chunk;
}

// What a generator yields: one chunk per token, then one metadata chunk (the
// stream finished) or one error chunk (it failed).
import type { EngineError } from '../errors/engine-error.js';
import type { GenerationStats, GuidanceOutcome, StreamEnd, StreamError, TokenOut } from '../wire/generated.js';
import { camelizeKeys } from '../wire/names.js';
import type { Camelize } from '../wire/names.js';

/**
 * Stats of a finished stream: promptTokens, generatedTokens, ttftMs, tokensPerSecond, totalMs; on streams decoded
 * with a draft model also draftTokensProposed, draftTokensAccepted and draftAcceptanceRate. The original
 * mlx-serving's names come too: tokensGenerated (= generatedTokens), timeToFirstToken (= ttftMs, in ms) and
 * totalTime (= totalMs).
 */
export type Stats = Camelize<GenerationStats> & { tokensGenerated: number; timeToFirstToken: number; totalTime: number };
export type FinishReason = StreamEnd['finish_reason'];
/** Which side of a canary rollout served a request: 'canary', else 'stable' (also when no rollout is involved). */
export type Variant = StreamEnd['variant'];
/** How a request with `guidance` ended: `complete: true` when the text is a whole valid output, false when it was cut. */
export type GuidanceResult = Camelize<GuidanceOutcome>;

/** One of the most likely tokens at a position, named as a TokenChunk names its token. */
export interface TopLogprobChunk {
  /** Its text at that position (a character it leaves incomplete shows as U+FFFD). */
  token: string;
  tokenId: number;
  logprob: number;
}

export interface TokenChunk {
  type: 'token';
  /** The text this token released; '' while text is held back (a possible stop sequence) and for the token that ends the stream. */
  token: string;
  tokenId: number;
  /** With `logprobs: true`: the token's log-probability. */
  logprob?: number;
  /**
   * With `topLogprobs: k`: the k most likely tokens at this position, most likely first (fewer where guidance rules
   * tokens out), from the distribution the token was sampled from (after penalties and the grammar mask, before
   * temperature and top-p/top-k/min-p).
   */
  topLogprobs?: TopLogprobChunk[];
  /** Streams decoded with a draft model: true when the draft proposed this token and the model accepted it. */
  fromDraft?: boolean;
  /** The whole text of the stream so far, this token's included. */
  cumulativeText: string;
  /** true on the token that ended the stream (stop, length, or a failure); a cancelled stream has none. */
  isFinal: boolean;
}

/** With `{ statsChunk: true }` (createGenerator's options): the stats, just before the metadata chunk. */
export type StatsChunk = { type: 'stats' } & Stats;

export interface MetadataChunk {
  type: 'metadata';
  finishReason: FinishReason;
  stats: Stats;
  /** The model id that ran the stream: the canary's id when a canary served it. */
  model: string;
  variant: Variant;
  /** Requests with `guidance`: whether the output is complete (see GuidanceResult). */
  guidance?: GuidanceResult;
}

export interface ErrorChunk {
  type: 'error';
  error: EngineError;
  /** Streams the runtime failed or refused after routing them: the model id that ran (or would have run) it, and its variant; unset when the bridge failed it. */
  model?: string;
  variant?: Variant;
}

export type GeneratorChunk = TokenChunk | StatsChunk | MetadataChunk | ErrorChunk;

// One wire token as one chunk; `cumulativeText` is the stream's text up to it.
export function tokenChunk(token: TokenOut, cumulativeText: string): TokenChunk {
  const chunk: TokenChunk = { type: 'token', token: token.text, tokenId: token.id, cumulativeText, isFinal: token.final === true };
  if (token.logprob !== undefined) chunk.logprob = token.logprob;
  if (token.top_logprobs !== undefined) {
    chunk.topLogprobs = token.top_logprobs.map((alternative) => ({ token: alternative.text, tokenId: alternative.id, logprob: alternative.logprob }));
  }
  if (token.from_draft !== undefined) chunk.fromDraft = token.from_draft;
  return chunk;
}

// The stream's end as the last chunk.
export function metadataChunk(end: StreamEnd): MetadataChunk {
  const chunk: MetadataChunk = {
    type: 'metadata',
    finishReason: end.finish_reason,
    stats: statsOf(end.stats),
    model: end.model,
    variant: end.variant,
  };
  if (end.guidance !== undefined) chunk.guidance = { complete: end.guidance.complete };
  return chunk;
}

// A failed stream's last chunk; `failed` is the runtime's stream/error, if it sent one.
// A refused generate names who would have served it in its error data instead.
export function errorChunk(error: EngineError, failed?: StreamError): ErrorChunk {
  if (failed !== undefined) return { type: 'error', error, model: failed.model, variant: failed.variant };
  const { model, variant } = error.data;
  if (typeof model !== 'string' || (variant !== 'stable' && variant !== 'canary')) return { type: 'error', error };
  return { type: 'error', error, model, variant };
}

// The wire's stats in camelCase, with the original mlx-serving's names beside ours.
export function statsOf(stats: GenerationStats): Stats {
  const camel = camelizeKeys(stats);
  return { ...camel, tokensGenerated: camel.generatedTokens, timeToFirstToken: camel.ttftMs, totalTime: camel.totalMs };
}

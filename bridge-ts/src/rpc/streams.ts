// The stream notifications (stream/chunk, stream/end, stream/error), checked
// before they reach a generator, and the listener a generator registers.
import type { EngineError } from '../errors/engine-error.js';
import type { Notifications, StreamChunk, StreamEnd, StreamError } from '../wire/generated.js';
import { isErrorObject, isObject } from './incoming.js';

export type StreamMethod = keyof Notifications;

export interface StreamListener {
  chunk(params: StreamChunk): void;
  end(params: StreamEnd): void;
  /** A stream/error from the runtime (`failed`: its params), or the bridge's own failure (the runtime died, ...). */
  error(error: EngineError, failed: StreamError | undefined): void;
}

export function isStreamMethod(method: string): method is StreamMethod {
  return method === 'stream/chunk' || method === 'stream/end' || method === 'stream/error';
}

// The stream id of a well-formed stream notification, or why it is not one.
export function checkStreamParams(method: StreamMethod, params: unknown): { streamId: string } | { reason: string } {
  if (!isObject(params) || typeof params['stream_id'] !== 'string') {
    return { reason: `${method} without a stream_id` };
  }
  const ok =
    method === 'stream/chunk'
      ? Array.isArray(params['tokens']) && params['tokens'].every(isToken)
      : method === 'stream/end'
        ? typeof params['finish_reason'] === 'string' && isObject(params['stats']) && isGuidanceOutcome(params['guidance'])
        : isErrorObject(params['error']);
  return ok ? { streamId: params['stream_id'] } : { reason: `malformed ${method} for stream ${params['stream_id']}` };
}

function isToken(value: unknown): boolean {
  return (
    isObject(value) &&
    typeof value['id'] === 'number' &&
    typeof value['text'] === 'string' &&
    (value['logprob'] === undefined || typeof value['logprob'] === 'number') &&
    (value['top_logprobs'] === undefined || (Array.isArray(value['top_logprobs']) && value['top_logprobs'].every(isAlternative))) &&
    (value['from_draft'] === undefined || typeof value['from_draft'] === 'boolean')
  );
}

// One of a token's top_logprobs.
function isAlternative(value: unknown): boolean {
  return isObject(value) && typeof value['id'] === 'number' && typeof value['text'] === 'string' && typeof value['logprob'] === 'number';
}

// A stream/end's `guidance` (requests with guidance only).
function isGuidanceOutcome(value: unknown): boolean {
  return value === undefined || (isObject(value) && typeof value['complete'] === 'boolean');
}

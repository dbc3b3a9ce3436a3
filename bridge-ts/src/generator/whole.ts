// A generation answered in one piece (`streaming: false`), for generate() and
// generateJson(). An abort, or a timeout, cancels it on the runtime: after an
// abort the runtime answers with the text so far (finish "cancelled").
import { EngineError } from '../errors/engine-error.js';
import { remaining } from '../engine/options.js';
import type { Session } from '../supervisor/launch.js';
import type { GenerateParams, GenerateResult } from '../wire/generated.js';
import { abortedBeforeStart, cancelOnRuntime } from './cancel.js';

export interface WholeOptions {
  timeoutMs: number | undefined;
  signal: AbortSignal | undefined;
  /** The engine method, for messages. */
  caller: string;
}

export async function generateWhole(
  sessionOf: (timeoutMs: number | undefined) => Session | Promise<Session>,
  params: GenerateParams & { stream_id: string },
  { timeoutMs, signal, caller }: WholeOptions,
): Promise<GenerateResult> {
  const started = Date.now();
  if (signal?.aborted) throw abortedBeforeStart(`${caller}()`, signal);
  const now = sessionOf(timeoutMs);
  const session = now instanceof Promise ? await now : now;
  if (signal?.aborted) throw abortedBeforeStart(`${caller}()`, signal);
  const cancel = (): void => void cancelOnRuntime(session, params.stream_id, timeoutMs);
  signal?.addEventListener('abort', cancel);
  try {
    return (await session.client.request('generate', { ...params, streaming: false }, remaining(timeoutMs, started))) as GenerateResult;
  } catch (error) {
    if (EngineError.is(error, 'TIMEOUT')) cancel(); // no one waits for it any more
    throw error;
  } finally {
    signal?.removeEventListener('abort', cancel);
  }
}

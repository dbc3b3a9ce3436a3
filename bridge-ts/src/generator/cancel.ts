// Cancelling a generation on the runtime, shared by generators and generate().
import { EngineError } from '../errors/engine-error.js';
import type { Session } from '../supervisor/launch.js';

// Sends generate/cancel; settles either way (the stream may have just ended,
// or the runtime may be gone, and then there is nothing left to cancel).
export function cancelOnRuntime(session: Session, streamId: string, timeoutMs: number | undefined): Promise<void> {
  return session.client.request('generate/cancel', { stream_id: streamId }, timeoutMs).then(
    () => undefined,
    () => undefined,
  );
}

// An abort that came before anything was sent: nothing runs, nothing to cancel.
export function abortedBeforeStart(what: string, signal: AbortSignal | undefined): EngineError {
  return new EngineError('CANCELLED', `${what} was aborted (AbortSignal) before the runtime started it.`, { cause: signal?.reason });
}

// The one error type of the bridge. `code` is stable: the runtime's
// `data.code` strings (generated from protocol/schema.json) plus the codes of
// failures that happen on this side of the pipe.
import type { ErrorObject } from '../wire/generated.js';
import { RUNTIME_ERROR_CODES } from '../wire/generated.js';

/** Codes the runtime sends as `error.data.code`. */
export type RuntimeErrorCode = keyof typeof RUNTIME_ERROR_CODES;

/** Codes of failures detected by the bridge itself. */
export const BRIDGE_ERROR_CODES = [
  /** The runtime process died (crash, kill -9, out of memory); the call or stream it carried is lost. */
  'RUNTIME_EXITED',
  /** The runtime could not be started, or exited before it answered `runtime/info`. */
  'RUNTIME_START_FAILED',
  /** No answer within `requestTimeoutMs` (or the call's `timeoutMs`). */
  'TIMEOUT',
  /** The runtime wrote something that is not a JSON-RPC message the bridge expects. */
  'PROTOCOL_ERROR',
  /** The engine was disposed (or shut down) before or while the call ran. */
  'ENGINE_DISPOSED',
  /** Arguments rejected by the bridge before anything was sent. */
  'INVALID_OPTIONS',
  /** Aborted through an AbortSignal before the runtime took the request; generateJson() aborted before the JSON was whole. */
  'CANCELLED',
  /** generateJson(): the output was cut (maxTokens, a stop) before the JSON was complete; `data.text` holds it. */
  'GUIDANCE_INCOMPLETE',
] as const;
export type BridgeErrorCode = (typeof BRIDGE_ERROR_CODES)[number];

export type EngineErrorCode = RuntimeErrorCode | BridgeErrorCode;

export interface EngineErrorOptions {
  /** The JSON-RPC numeric code, for errors that came from the runtime. */
  rpcCode?: number | undefined;
  data?: Record<string, unknown> | undefined;
  cause?: unknown;
}

const CODE_OF_NUMBER = new Map<number, RuntimeErrorCode>(
  Object.entries(RUNTIME_ERROR_CODES).map(([name, number]) => [number, name as RuntimeErrorCode]),
);

export class EngineError extends Error {
  override readonly name = 'EngineError';
  /** Stable code; a code this bridge version does not know (from a newer runtime) is passed through as sent. */
  readonly code: EngineErrorCode | (string & {});
  /** The JSON-RPC error code (-32602, -32001, ...) when the runtime sent the error. */
  readonly rpcCode: number | undefined;
  /** Details: the runtime's `error.data` (model, param, ...) or the bridge's (exit code, stderr tail, ...). */
  readonly data: Record<string, unknown>;

  constructor(code: EngineErrorCode | (string & {}), message: string, options: EngineErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.rpcCode = options.rpcCode;
    this.data = options.data ?? {};
  }

  // Maps a JSON-RPC error object (a response's or a stream/error's) by its data.code.
  static fromWire(error: ErrorObject): EngineError {
    const data = error.data ?? {};
    const sent = data['code'];
    const code = typeof sent === 'string' ? sent : (CODE_OF_NUMBER.get(error.code) ?? 'INTERNAL_ERROR');
    return new EngineError(code, error.message, { rpcCode: error.code, data });
  }

  // Argument checks made before anything goes on the wire.
  static invalidOptions(message: string): EngineError {
    return new EngineError('INVALID_OPTIONS', message);
  }

  /** True when `value` is an EngineError, with `code` when given. */
  static is(value: unknown, code?: EngineErrorCode): value is EngineError {
    return value instanceof EngineError && (code === undefined || value.code === code);
  }

  toJSON(): { name: string; code: string; message: string; rpcCode?: number; data: Record<string, unknown> } {
    const json = { name: this.name, code: this.code, message: this.message, data: this.data };
    return this.rpcCode === undefined ? json : { ...json, rpcCode: this.rpcCode };
  }
}

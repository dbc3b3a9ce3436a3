// The events an engine emits, and a typed face over EventEmitter for them.
import { EventEmitter } from 'node:events';
import type { EngineError } from '../errors/engine-error.js';

export interface ReadyEvent {
  pid: number;
  /** The runtime's version and protocol version (from runtime/info). */
  version: string;
  protocolVersion: string;
  /** Restarts so far: 0 for the first start. */
  restarts: number;
}

export interface ExitEvent {
  pid: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** true when the engine stopped it (dispose, shutdown); false when it died. */
  expected: boolean;
  /** What calls in flight were failed with (RUNTIME_EXITED), when it died. */
  error: EngineError | undefined;
}

export interface RestartEvent {
  pid: number;
  /** Restarts so far, this one included. */
  restarts: number;
  /** Which restart in a row this was (1 after a runtime that had stayed up). */
  attempt: number;
  /** Ids of the models loaded again into the new runtime (text and vision models, each as it was). */
  reloaded: string[];
  /** Ids of the models whose draft was attached again. */
  reloadedDrafts: string[];
  /** What could not be loaded again (it is no longer loaded): a model, or (`draft: true`) the draft of a model. */
  failed: { model: string; draft: boolean; error: EngineError }[];
}

export interface EngineEvents {
  ready: [event: ReadyEvent];
  exit: [event: ExitEvent];
  restart: [event: RestartEvent];
  /** One line the runtime wrote to stderr (its log). */
  stderr: [line: string];
  /** The runtime wrote something that breaks the protocol (PROTOCOL_ERROR); the engine goes on. */
  protocolError: [error: EngineError];
  /** A notification that is not for a stream (sent by a newer runtime). */
  notification: [method: string, params: unknown];
}

export type EventName = keyof EngineEvents;
export type Listener<E extends EventName> = (...args: EngineEvents[E]) => void;

export class EngineEmitter {
  readonly #emitter = new EventEmitter();

  on<E extends EventName>(event: E, listener: Listener<E>): void {
    this.#emitter.on(event, listener as (...args: unknown[]) => void);
  }

  once<E extends EventName>(event: E, listener: Listener<E>): void {
    this.#emitter.once(event, listener as (...args: unknown[]) => void);
  }

  off<E extends EventName>(event: E, listener: Listener<E>): void {
    this.#emitter.off(event, listener as (...args: unknown[]) => void);
  }

  /** false when nobody listens. */
  emit<E extends EventName>(event: E, ...args: EngineEvents[E]): boolean {
    return this.#emitter.emit(event, ...args);
  }
}

// The events an engine emits, and a typed face over EventEmitter for them.
import { EventEmitter } from 'node:events';
import type { EngineError } from '../errors/engine-error.js';
import type { CanaryState, PreloadedModel, QosRecovered, QosViolation } from '../wire/generated.js';
import type { Camelize } from '../wire/names.js';
import type { Stats } from '../generator/chunks.js';
import type { ModelHandle } from '../engine/handles.js';

/** A model the runtime loaded and warmed up at start-up (config `model_preload`): `{ modelId, loadMs, warmupMs, batchSizes }`. */
export type PreloadedModelInfo = Camelize<PreloadedModel>;

export interface ReadyEvent {
  pid: number;
  /** The runtime's version and protocol version (from runtime/info). */
  version: string;
  protocolVersion: string;
  /** Restarts so far: 0 for the first start. */
  restarts: number;
  /** The models the runtime preloaded from its config (`model_preload`), warm now; [] when it preloads none. */
  preloaded: PreloadedModelInfo[];
  /** How long the preload took, in ms (0 without one). */
  preloadMs: number;
}

/**
 * A QoS SLO broke (`kind: 'violation'`, from qos/violation) or holds again (`kind: 'recovered'`, from qos/recovered).
 * Both say `slo`, `model`, `threshold`, `windowS` and `action` (what the runtime does about it while it lasts: `shed`,
 * `reduce_batch` or `alert`); a violation also `observed`, `samples`, `policy` and `dryRun`, a recovery `observed`
 * (null when the window has no data left) and `durationS`.
 */
export type QosEvent = ({ kind: 'violation' } & Camelize<QosViolation>) | ({ kind: 'recovered' } & Camelize<QosRecovered>);

/**
 * A canary rollout changed (canary/update): `state` is loading, active (at `schedule[stage]`), promoted, rolled_back
 * (`reason` says which bound broke) or stopped; `percentage` is the share of request keys routed to `canaryModel` now.
 */
export type CanaryEvent = Camelize<CanaryState>;

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

// The original mlx-serving's events (each with a `timestamp`, ms since the epoch).
export interface ModelLoadedEvent { modelId: string; handle: ModelHandle; timestamp: number }
export interface ModelUnloadedEvent { modelId: string; timestamp: number }
/** A model the engine had loaded is gone: the runtime died (it is loaded again on restart), or it was unloaded. */
export interface ModelInvalidatedEvent { modelId: string; reason: 'python_restart' | 'unload' | 'error'; timestamp: number }
export interface GenerationStartedEvent { streamId: string; modelId: string; prompt: string; timestamp: number }
export interface TokenGeneratedEvent { streamId: string; token: string; logprob?: number; timestamp: number }
export interface GenerationCompletedEvent { streamId: string; stats: Stats; timestamp: number }
/** A generation failed (`context`: its stream id). */
export interface ErrorEvent { error: EngineError; context?: string; timestamp: number }
export interface RuntimeStatusEvent { status: 'starting' | 'ready' | 'error' | 'stopped'; previousStatus?: string; timestamp: number }

export interface EngineEvents {
  ready: [event: ReadyEvent];
  exit: [event: ExitEvent];
  restart: [event: RestartEvent];
  /** One line the runtime wrote to stderr (its log). */
  stderr: [line: string];
  /** The runtime wrote something that breaks the protocol (PROTOCOL_ERROR); the engine goes on. */
  protocolError: [error: EngineError];
  /** A QoS SLO broke or recovered (see QosEvent). */
  qos: [event: QosEvent];
  /** A canary rollout changed stage or state (see CanaryEvent). */
  canary: [event: CanaryEvent];
  /** Every notification that is not for a stream, as sent (wire names); the known ones also come as ready, qos and canary. */
  notification: [method: string, params: unknown];
  'model:loaded': [event: ModelLoadedEvent];
  'model:unloaded': [event: ModelUnloadedEvent];
  'model:invalidated': [event: ModelInvalidatedEvent];
  'generation:started': [event: GenerationStartedEvent];
  'generation:token': [event: TokenGeneratedEvent];
  'generation:completed': [event: GenerationCompletedEvent];
  error: [event: ErrorEvent];
  'runtime:status': [event: RuntimeStatusEvent];
}

export type EventName = keyof EngineEvents;
export type Listener<E extends EventName> = (...args: EngineEvents[E]) => void;
/** Listeners by event name (createEngine's `on` option). */
export type EngineListeners = { [E in EventName]?: Listener<E> };

// Every event name, for checking options at run time (the record fails to
// compile when EngineEvents gains or loses one).
const EVENT_NAME_SET: Record<EventName, true> = {
  ready: true, exit: true, restart: true, stderr: true, protocolError: true, qos: true, canary: true, notification: true,
  'model:loaded': true, 'model:unloaded': true, 'model:invalidated': true, 'generation:started': true,
  'generation:token': true, 'generation:completed': true, error: true, 'runtime:status': true,
};
export const EVENT_NAMES = Object.keys(EVENT_NAME_SET) as EventName[];

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
  /** Whether anyone listens (to skip building a per-token event nobody reads). */
  listened(event: EventName): boolean {
    return this.#emitter.listenerCount(event) > 0;
  }

  emit<E extends EventName>(event: E, ...args: EngineEvents[E]): boolean {
    // EventEmitter throws an 'error' nobody listens to; here it is just not heard.
    if (event === 'error' && !this.listened(event)) return false;
    return this.#emitter.emit(event, ...args);
  }
}

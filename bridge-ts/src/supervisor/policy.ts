// The restart policy: how often, and how soon, a runtime that died is
// started again.

export interface RestartPolicy {
  /** Restarts allowed in a row (a runtime that stays up `resetAfterMs` clears the count). 0 disables restarts. */
  maxRestarts: number;
  /** Delay before the first restart. */
  initialDelayMs: number;
  /** Each further restart in a row waits `factor` times longer... */
  factor: number;
  /** ...up to this bound. */
  maxDelayMs: number;
  /** A runtime that ran this long before it died counts as healthy: the next restart is the first again. */
  resetAfterMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = Object.freeze({
  maxRestarts: 5,
  initialDelayMs: 200,
  factor: 2,
  maxDelayMs: 10_000,
  resetAfterMs: 60_000,
});

export const NO_RESTARTS: RestartPolicy = Object.freeze({ ...DEFAULT_RESTART_POLICY, maxRestarts: 0 });

// Exponential backoff: the delay before restart number `attempt` (1-based) in a row.
export function backoffDelay(policy: RestartPolicy, attempt: number): number {
  const delay = policy.initialDelayMs * policy.factor ** Math.max(0, attempt - 1);
  return Math.min(delay, policy.maxDelayMs);
}

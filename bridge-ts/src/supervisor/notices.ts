// The runtime's ops notifications as typed engine events: qos/violation and
// qos/recovered as 'qos' (told apart by `kind`), canary/update as 'canary'.
// (runtime/ready belongs to one runtime's start: see preload.ts.)
import { isObject } from '../rpc/incoming.js';
import type { CanaryState, QosRecovered, QosViolation } from '../wire/generated.js';
import { camelizeKeys } from '../wire/names.js';
import type { EngineEmitter } from './events.js';

// The fields an event cannot do without, by notification.
const REQUIRED: Record<string, readonly string[]> = {
  'qos/violation': ['slo', 'model', 'action'],
  'qos/recovered': ['slo', 'model', 'action'],
  'canary/update': ['stable_model', 'canary_model', 'state'],
};

// Emits the event a notification stands for; returns why a known one is
// malformed (a protocol error), else undefined.
export function emitNotice(events: EngineEmitter, method: string, params: unknown): string | undefined {
  const required = REQUIRED[method];
  if (required === undefined) return undefined;
  if (!isObject(params) || !required.every((field) => typeof params[field] === 'string')) {
    return `the runtime wrote a ${method} without ${required.join(', ')}`;
  }
  if (method === 'canary/update') events.emit('canary', camelizeKeys(params as unknown as CanaryState));
  else if (method === 'qos/violation') events.emit('qos', { kind: 'violation', ...camelizeKeys(params as unknown as QosViolation) });
  else events.emit('qos', { kind: 'recovered', ...camelizeKeys(params as unknown as QosRecovered) });
  return undefined;
}

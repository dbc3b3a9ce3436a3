// Sorting what the runtime writes into responses, notifications and lines
// that break the protocol, without trusting any of it.
import type { ErrorObject } from '../wire/generated.js';

export type RequestId = number | string | null;

export type Incoming =
  | { kind: 'result'; id: RequestId; result: unknown }
  | { kind: 'error'; id: RequestId; error: ErrorObject }
  | { kind: 'notification'; method: string; params: unknown }
  /** `id`: a response to that request, too broken to use (the call fails with PROTOCOL_ERROR). */
  | { kind: 'invalid'; reason: string; id?: number | string };

// One line may hold a batch (an array of responses); hence a list.
export function parseLine(line: string): Incoming[] {
  let message: unknown;
  try {
    message = JSON.parse(line);
  } catch (error) {
    return [{ kind: 'invalid', reason: `not JSON (${(error as Error).message})` }];
  }
  if (Array.isArray(message)) {
    return message.length > 0 ? message.map(classify) : [{ kind: 'invalid', reason: 'an empty array' }];
  }
  return [classify(message)];
}

function classify(message: unknown): Incoming {
  if (!isObject(message)) return { kind: 'invalid', reason: 'not a JSON object' };
  if (message['jsonrpc'] !== '2.0') return { kind: 'invalid', reason: 'no "jsonrpc": "2.0"' };
  if (typeof message['method'] === 'string') {
    if ('id' in message) return { kind: 'invalid', reason: 'a request from the runtime (the bridge serves none)' };
    return { kind: 'notification', method: message['method'], params: message['params'] };
  }
  const id = message['id'];
  if (!(typeof id === 'number' || typeof id === 'string' || id === null)) {
    return { kind: 'invalid', reason: 'neither a notification nor a response with an id' };
  }
  const hasResult = 'result' in message;
  const error = message['error'];
  const broken = (reason: string): Incoming => (id === null ? { kind: 'invalid', reason } : { kind: 'invalid', reason, id });
  if (hasResult === (error !== undefined)) {
    return broken(`response ${JSON.stringify(id)} must have exactly one of "result" and "error"`);
  }
  if (hasResult) return { kind: 'result', id, result: message['result'] };
  if (!isErrorObject(error)) return broken(`response ${JSON.stringify(id)} has a malformed "error"`);
  return { kind: 'error', id, error };
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function isErrorObject(value: unknown): value is ErrorObject {
  return (
    isObject(value) &&
    typeof value['code'] === 'number' &&
    typeof value['message'] === 'string' &&
    (value['data'] === undefined || isObject(value['data']))
  );
}

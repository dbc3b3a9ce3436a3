// Progress callbacks among a call's options: taken out (in either spelling)
// before the options are checked, so the call options stay as they were.
import { EngineError } from '../errors/engine-error.js';

const SNAKE: Record<string, string> = { onProgress: 'on_progress', onPrefillProgress: 'on_prefill_progress' };

export function takeCallback<T>(
  options: object | undefined, name: 'onProgress' | 'onPrefillProgress', caller: string,
): [((report: T) => void) | undefined, object | undefined] {
  if (options === undefined || options === null || typeof options !== 'object') return [undefined, options];
  const { [name]: camel, [SNAKE[name] as string]: snake, ...rest } = options as Record<string, unknown>;
  const callback = camel ?? snake;
  if (callback !== undefined && typeof callback !== 'function') {
    throw EngineError.invalidOptions(`Expected the \`${name}\` option of \`${caller}\` to be a function, got ${typeof callback}.`);
  }
  return [callback as ((report: T) => void) | undefined, rest];
}

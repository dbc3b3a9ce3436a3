// Callers may spell a name two ways (`maxTokens` / `max_tokens`); this folds
// an object's keys onto one canonical spelling and refuses two spellings of
// one name that disagree.
import { describeValue } from '../errors/describe.js';
import { EngineError } from '../errors/engine-error.js';

export function foldNames(values: object, canonical: (name: string) => string, caller: string): Record<string, unknown> {
  const folded: Record<string, unknown> = {};
  const spelled: Record<string, string> = {};
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) continue;
    const key = canonical(name);
    const earlier = spelled[key];
    if (earlier !== undefined && !sameValue(folded[key], value)) {
      throw EngineError.invalidOptions(
        `\`${caller}\` got \`${earlier}\` and \`${name}\`, which name the same thing, with different values ` +
          `(${describeValue(folded[key])} and ${describeValue(value)}); pass only one of them.`,
      );
    }
    folded[key] = value;
    spelled[key] ??= name;
  }
  return folded;
}

function sameValue(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

// Params and options must be plain objects (or left out).
export function objectArgument(value: unknown, what: string): object {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw EngineError.invalidOptions(`Expected ${what} to be an object, got ${describeValue(value)}.`);
  }
  return value;
}

// Name conversion between the wire (snake_case) and TypeScript (camelCase),
// at the type level and at run time, following the same rule as the
// runtime's rpc/params.py: an underscore goes between a lower-case letter or
// digit and the upper-case letter after it.
import { RECORD_FIELDS } from './generated.js';

/** `max_tokens` -> `maxTokens`. */
export type CamelCase<S extends string> = S extends `${infer Head}_${infer Tail}`
  ? `${Head}${CamelCase<Capitalize<Tail>>}`
  : S;

/** `maxTokens` -> `max_tokens`. */
export type SnakeCase<S extends string> = S extends `${infer First}${infer Rest}`
  ? `${First extends Lowercase<First> ? First : `_${Lowercase<First>}`}${SnakeCase<Rest>}`
  : S;

/**
 * The wire shape `T` with every field name in camelCase, deeply. The keys of a record (an index signature: model ids,
 * error codes, flag names) are `string` here and stay as sent at run time.
 */
export type Camelize<T> = T extends readonly (infer Item)[]
  ? Camelize<Item>[]
  : T extends object
    ? { [K in keyof T as K extends string ? CamelCase<K> : K]: Camelize<T[K]> }
    : T;

const CAMEL_BOUNDARY = /(?<=[a-z0-9])(?=[A-Z])/g;
const SNAKE_BOUNDARY = /_([a-z0-9])/g;

// Param names reach the wire in the canonical snake_case spelling.
export function snakeCase(name: string): string {
  return name.replace(CAMEL_BOUNDARY, '_').toLowerCase();
}

// Result keys reach TypeScript callers in camelCase.
export function camelCase(name: string): string {
  return name.replace(SNAKE_BOUNDARY, (_match, letter: string) => letter.toUpperCase());
}

// Results are plain JSON: rename the field names of every object in it. The
// keys of a record field (metrics by model id, errors by code, flags by name)
// are data, not names: `models.my_model` stays `models.my_model`.
export function camelizeKeys<T>(value: T): Camelize<T> {
  return camelizeValue(value, false) as Camelize<T>;
}

const RECORDS: ReadonlySet<string> = new Set(RECORD_FIELDS);

function camelizeValue(value: unknown, isRecord: boolean): unknown {
  if (Array.isArray(value)) return value.map((item) => camelizeValue(item, false));
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) =>
      isRecord ? [key, camelizeValue(item, false)] : [camelCase(key), camelizeValue(item, RECORDS.has(key))],
    ),
  );
}

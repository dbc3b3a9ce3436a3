// Params as callers write them (snake_case, camelCase or an alias) and as the
// wire wants them (canonical snake_case). Both the types and the folding are
// derived from the generated method table, so a param the schema gains is
// accepted here, in both spellings, as soon as the types are regenerated.
import { foldNames, objectArgument } from './fold.js';
import type { CamelCase, Camelize } from './names.js';
import { snakeCase } from './names.js';
import type { Methods } from './generated.js';
import { LEGACY_METHOD_NAMES, METHOD_PARAMS } from './generated.js';

export type Method = keyof Methods;
export type WireParams<M extends Method> = Methods[M]['params'];
export type WireResult<M extends Method> = Methods[M]['result'];
/** What a method resolves to in TypeScript: the wire result with camelCase keys. */
export type Result<M extends Method> = Camelize<WireResult<M>>;

type Aliases<M extends Method> = (typeof METHOD_PARAMS)[M]['aliases'];

// Params whose value is an object of named fields (not the caller's data):
// their own keys take either spelling too. What lies deeper (the properties
// of a JSON Schema in `guidance`) is the caller's and goes out as written.
const FIELD_OBJECT_PARAMS = { generate: ['guidance'] } as const satisfies { [M in Method]?: readonly (keyof WireParams<M>)[] };
type FieldObjectParams<M extends Method> = M extends keyof typeof FIELD_OBJECT_PARAMS ? (typeof FIELD_OBJECT_PARAMS)[M][number] : never;

/** An object of named fields with its own keys all in snake_case or all in camelCase: `{ max_text_length }` or `{ maxTextLength }`. */
type Twins<T> = T extends object ? T | { [K in keyof T as K extends string ? CamelCase<K> : K]: T[K] } : T;
type RequiredKeys<P> = { [K in keyof P]-?: object extends Pick<P, K> ? never : K }[keyof P];

// Aliases that stand for `K` (an alias that is itself a param stands for its own param).
type AliasesOf<P, A, K> = { [Alias in keyof A]: A[Alias] extends K ? (Alias extends keyof P ? never : Alias) : never }[keyof A] &
  string;

/** Every way a caller may name the wire param `K`. */
type Spellings<P, A, K extends string> = K | CamelCase<K> | AliasesOf<P, A, K> | CamelCase<AliasesOf<P, A, K>>;

type AnySpelling<P, A, F> = { [K in keyof P & string as Spellings<P, A, K>]?: K extends F ? Twins<P[K]> : P[K] };

// A required param must be present under one of its spellings.
type OneSpelling<P, A, K extends keyof P & string> = { [S in Spellings<P, A, K>]: { [Name in S]: P[K] } }[Spellings<P, A, K>];

type UnionToIntersection<U> = (U extends unknown ? (box: U) => void : never) extends (box: infer I) => void ? I : never;

// Each required param boxed in a property, so that intersecting the boxes
// intersects the params' "one of these spellings" unions without
// distributing them.
type Boxes<P, A> = { [K in RequiredKeys<P> & string]: { box: OneSpelling<P, A, K> } }[RequiredKeys<P> & string];
type AllRequired<P, A> = [RequiredKeys<P>] extends [never]
  ? unknown
  : UnionToIntersection<Boxes<P, A>> extends infer All extends { box: unknown }
    ? All['box']
    : never;

/** The params of wire method `M` in any spelling: `max_tokens`, `maxTokens`, or an alias such as `stream`. */
export type Params<M extends Method> = AnySpelling<WireParams<M>, Aliases<M>, FieldObjectParams<M>> &
  AllRequired<WireParams<M>, Aliases<M>>;

// Folds a caller's params onto the wire's names, the way the runtime does:
// camelCase to snake_case, then aliases (an alias that is also a param of the
// method stands for its target only when the target itself was not given).
// The fields of a FIELD_OBJECT_PARAMS param are folded to snake_case too.
// A method this bridge does not know (a newer runtime's) gets snake_case names.
export function toWireParams<M extends Method>(method: M, params: unknown, caller: string): WireParams<M> {
  const values = objectArgument(params, `the params of \`${caller}\``);
  const table: { names: readonly string[]; aliases: Readonly<Record<string, string>> } = METHOD_PARAMS[method] ?? { names: [], aliases: {} };
  const sent = new Set(Object.entries(values).flatMap(([name, value]) => (value === undefined ? [] : [snakeCase(name)])));
  const wireName = (name: string): string => {
    const snake = snakeCase(name);
    const target = table.aliases[snake];
    return target !== undefined && (!table.names.includes(snake) || !sent.has(target)) ? target : snake;
  };
  const wire = foldNames(values, wireName, caller);
  for (const name of (FIELD_OBJECT_PARAMS as { [name: string]: readonly string[] | undefined })[method] ?? []) {
    const fields = wire[name];
    if (fields !== null && typeof fields === 'object' && !Array.isArray(fields)) wire[name] = foldNames(fields, snakeCase, `${caller}({ ${name} })`);
  }
  return wire as WireParams<M>;
}

// The method a legacy name of the original mlx-serving stands for (`load_model`: `model/load`), else the name itself.
export function canonicalMethod(method: string): string {
  return (LEGACY_METHOD_NAMES as Readonly<Record<string, string>>)[method] ?? method;
}

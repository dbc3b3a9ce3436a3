// Every public engine method also answers to its snake_case name
// (load_model, create_generator, get_info, ...), for code written against
// the original Python-flavoured API. The twins are derived, not listed, so a
// method added to the engine gets its twin for free.
import type { SnakeCase } from '../wire/names.js';
import { snakeCase } from '../wire/names.js';

/** The snake_case twin of each camelCase member of T. */
export type SnakeCaseTwins<T> = {
  [K in keyof T as K extends string ? (SnakeCase<K> extends K ? never : SnakeCase<K>) : never]: T[K];
};

// Defines the twins on a class prototype (methods only; #private ones are not visible).
export function addSnakeCaseTwins(prototype: object): void {
  for (const name of Object.getOwnPropertyNames(prototype)) {
    const twin = snakeCase(name);
    const descriptor = Object.getOwnPropertyDescriptor(prototype, name);
    if (twin === name || twin in prototype || descriptor === undefined) continue;
    Object.defineProperty(prototype, twin, descriptor);
  }
}

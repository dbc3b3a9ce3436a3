#!/usr/bin/env node
// Writes bridge-ts/src/wire/generated.ts from protocol/schema.json, the wire
// contract, so the TypeScript types can never drift from the runtime's structs.
//
//   node bridge-ts/scripts/generate-wire-types.mjs          rewrite the file
//   node bridge-ts/scripts/generate-wire-types.mjs --check  exit 1 when it is stale
//
// Types come from json-schema-to-typescript; the method and notification maps
// are generated the same way (as schema objects keyed by method name), and the
// error codes, param names, aliases, legacy method names and the fields whose
// keys are data (model ids, error codes, flag names) are emitted as constants.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compile } from 'json-schema-to-typescript';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCHEMA_PATH = join(root, 'protocol', 'schema.json');
const OUT_PATH = join(root, 'bridge-ts', 'src', 'wire', 'generated.ts');
// Envelope shapes the bridge builds and parses itself; their payloads are typed.
const ENVELOPES = new Set(['Request', 'Response', 'ClientMessage', 'ServerMessage']);

// A free-form object (`{"type": "object"}`) is a record, not an empty interface.
function openFreeFormObjects(node) {
  if (Array.isArray(node)) return node.map(openFreeFormObjects);
  if (node === null || typeof node !== 'object') return node;
  const copy = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, openFreeFormObjects(v)]));
  if (copy.type === 'object' && !copy.properties && copy.additionalProperties === undefined) {
    copy.additionalProperties = {};
  }
  return copy;
}

// A schema object whose properties are the keys of `entries`, each required.
function recordOf(title, description, entries) {
  return {
    title,
    description,
    type: 'object',
    properties: Object.fromEntries(entries),
    required: entries.map(([name]) => name),
    additionalProperties: false,
  };
}

// A property's schema, with a $ref into $defs followed.
function resolve(node, defs) {
  return node?.$ref ? defs[node.$ref.replace('#/$defs/', '')] : node;
}

// The property names of a params schema (a $ref into $defs or inline).
function paramNames(schema, defs) {
  return Object.keys(resolve(schema, defs)?.properties ?? {});
}

// Names of the properties whose value is a record keyed by data (a model id,
// an error code, a flag name): results keep those keys as sent when the
// bridge turns field names into camelCase. A name that is a record in one
// place and an object of named fields in another could not be told apart
// there: the schema must not do that.
function recordFields(schema) {
  const defs = schema.$defs;
  const records = new Set();
  const structs = new Set();
  const visit = (node) => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (node === null || typeof node !== 'object') return;
    for (const [name, property] of Object.entries(node.properties ?? {})) {
      const target = resolve(property, defs);
      if (target?.type !== 'object') continue;
      if (target.properties) structs.add(name);
      else if (typeof target.additionalProperties === 'object') records.add(name);
    }
    Object.values(node).forEach(visit);
  };
  visit(schema);
  const both = [...records].filter((name) => structs.has(name));
  if (both.length > 0) throw new Error(`schema.json: ${both.join(', ')} name both records and objects of fields`);
  return [...records].sort();
}

function constants(schema) {
  const methods = schema['x-methods'];
  const paramTable = Object.fromEntries(Object.entries(methods).map(([name, spec]) => [
    name,
    { names: paramNames(spec.params, schema.$defs), aliases: spec.param_aliases },
  ]));
  const legacyNames = Object.fromEntries(Object.entries(methods).flatMap(([name, spec]) => spec.legacy_names.map((legacy) => [legacy, name])));
  const errorCodes = Object.fromEntries(Object.entries(schema['x-errors']).map(([name, e]) => [name, e.code]));
  const json = (value) => JSON.stringify(value, null, 2);
  return [
    `/** Protocol version of protocol/schema.json. */`,
    `export const PROTOCOL_VERSION = ${json(schema['x-protocol-version'])} as const;`,
    ``,
    `/** Error \`data.code\` strings of the runtime, with their JSON-RPC numeric codes. */`,
    `export const RUNTIME_ERROR_CODES = ${json(errorCodes)} as const;`,
    ``,
    `/** Each method's param names (snake_case, as on the wire) and the aliases it accepts. */`,
    `export const METHOD_PARAMS = ${json(paramTable)} as const;`,
    ``,
    `/** Names of the original mlx-serving runtime that the runtime accepts for its methods. */`,
    `export const LEGACY_METHOD_NAMES = ${json(legacyNames)} as const;`,
    ``,
    `/** Result fields whose value is a record keyed by data (model ids, error codes, flag names): its keys stay as sent. */`,
    `export const RECORD_FIELDS = ${json(recordFields(schema))} as const;`,
    ``,
  ].join('\n');
}

async function render() {
  const schema = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8'));
  const defs = Object.fromEntries(Object.entries(schema.$defs).filter(([name]) => !ENVELOPES.has(name)));
  defs.Methods = recordOf('Methods', 'Params and result of each wire method, by method name.',
    Object.entries(schema['x-methods']).map(([name, spec]) => [name, {
      description: spec.summary,
      type: 'object',
      properties: { params: spec.params, result: spec.result },
      required: ['params', 'result'],
      additionalProperties: false,
    }]));
  defs.Notifications = recordOf('Notifications', 'Params of each notification the runtime sends.',
    Object.entries(schema['x-notifications']).map(([name, spec]) => [name, spec.params]));
  const wrapper = openFreeFormObjects({ title: 'Wire', type: 'object', additionalProperties: false, $defs: defs });
  const types = await compile(wrapper, 'Wire', {
    bannerComment: '',
    additionalProperties: false,
    unreachableDefinitions: true,
    ignoreMinAndMaxItems: true,
    strictIndexSignatures: true,
    format: true,
  });
  const body = types
    .replace(/^export interface Wire \{\}\n/m, '')
    // json-schema-to-typescript notes where each $def came from: noise here.
    .replace(/\/\*\*\n \* This interface was referenced by `Wire`'s JSON-Schema\n \* via the `definition` "\w+"\.\n \*\/\n/g, '')
    .replace(/ \*\n \* This interface was referenced by `Wire`'s JSON-Schema\n \* via the `definition` "\w+"\.\n/g, '');
  const source = relative(root, SCHEMA_PATH);
  return [
    `// GENERATED from ${source} by bridge-ts/scripts/generate-wire-types.mjs; do not edit.`,
    `// Regenerate with \`npm run generate\` after the schema changes.`,
    ``,
    body.trimEnd(),
    ``,
    constants(schema),
  ].join('\n');
}

async function main(argv) {
  const text = await render();
  if (argv.includes('--check')) {
    if (readFileSync(OUT_PATH, 'utf8') !== text) {
      console.error(`${relative(root, OUT_PATH)} is stale: run \`npm run generate\``);
      process.exit(1);
    }
    return;
  }
  writeFileSync(OUT_PATH, text);
}

await main(process.argv.slice(2));

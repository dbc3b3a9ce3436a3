// The pieces that need no runtime: the generated wire types, name folding,
// error mapping, NDJSON framing, backoff.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { EngineError, RUNTIME_ERROR_CODES } from 'mlx-serving';
import type { GenerateOutput } from 'mlx-serving';
import { parseJsonOutput } from '../dist/engine/json.js';
import { LineSplitter } from '../dist/transport/lines.js';
import { backoffDelay, DEFAULT_RESTART_POLICY } from '../dist/supervisor/policy.js';
import { ReplayLog } from '../dist/supervisor/replay.js';
import { camelizeKeys } from '../dist/wire/names.js';
import { canonicalMethod, toWireParams } from '../dist/wire/params.js';
import { ROOT } from './helpers.js';

describe('generated wire types', () => {
  test('bridge-ts/src/wire/generated.ts is what protocol/schema.json says (else: npm run generate)', () => {
    const check = spawnSync(process.execPath, [join(ROOT, 'bridge-ts/scripts/generate-wire-types.mjs'), '--check'], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stderr);
  });

  test('every error code and method of the schema is known to the bridge', () => {
    const schema = JSON.parse(readFileSync(join(ROOT, 'protocol/schema.json'), 'utf8')) as {
      'x-errors': Record<string, { code: number }>;
    };
    assert.deepEqual(
      RUNTIME_ERROR_CODES,
      Object.fromEntries(Object.entries(schema['x-errors']).map(([name, error]) => [name, error.code])),
    );
  });
});

describe('param names', () => {
  test('camelCase and aliases fold onto the canonical snake_case names', () => {
    assert.deepEqual(toWireParams('generate', { modelId: 'm', maxTokens: 5, stream: false, addSpecialTokens: true, topP: undefined }, 'generate'), {
      model: 'm',
      max_tokens: 5,
      streaming: false,
      add_bos: true,
    });
    assert.deepEqual(toWireParams('tokenize', { model_id: 'm', text: 'x', add_special_tokens: false }, 'tokenize'), {
      model: 'm',
      text: 'x',
      add_bos: false,
    });
  });

  test('model/load keeps model_id beside model, and a legacy model_id alone means the path', () => {
    assert.deepEqual(toWireParams('model/load', { model: 'models/tiny', modelId: 'tiny' }, 'loadModel'), { model: 'models/tiny', model_id: 'tiny' });
    assert.deepEqual(toWireParams('model/load', { model_id: 'models/tiny' }, 'loadModel'), { model: 'models/tiny' });
  });

  test('values are left alone: only the top-level names are folded', () => {
    const messages = [{ role: 'user', content: 'hi', extraField: 1 }];
    assert.deepEqual(toWireParams('generate', { model: 'm', messages } as never, 'generate'), { model: 'm', messages });
  });

  test("guidance's own fields fold to snake_case; the schema inside it is the caller's and stays as written", () => {
    const schema = { type: 'object', properties: { firstName: { type: 'string' } }, required: ['firstName'] };
    assert.deepEqual(toWireParams('generate', { model: 'm', guidance: { mode: 'json_schema', schema } }, 'generate'), {
      model: 'm',
      guidance: { mode: 'json_schema', schema },
    });
    assert.deepEqual(toWireParams('generate', { model: 'm', guidance: { mode: 'xml', schema: '<!ELEMENT a (#PCDATA)>', maxTextLength: 8 } }, 'generate'), {
      model: 'm',
      guidance: { mode: 'xml', schema: '<!ELEMENT a (#PCDATA)>', max_text_length: 8 },
    });
    // What is not an object is left for the runtime to refuse (INVALID_PARAMS).
    assert.deepEqual(toWireParams('generate', { model: 'm', guidance: 'json' } as never, 'generate'), { model: 'm', guidance: 'json' });
  });

  test("legacy method names stand for their methods; a method the bridge does not know gets snake_case names", () => {
    assert.equal(canonicalMethod('load_vision_model'), 'model/loadVision');
    assert.equal(canonicalMethod('check_draft'), 'model/isDraftCompatible');
    assert.equal(canonicalMethod('model/list'), 'model/list');
    assert.deepEqual(toWireParams('model/future' as never, { someParam: 1 }, 'request'), { some_param: 1 });
  });

  test('two spellings of one param with different values are refused; with the same value, fine', () => {
    assert.throws(() => toWireParams('generate', { model: 'm', maxTokens: 5, max_tokens: 6 }, 'generate'), (error: unknown) => {
      assert.ok(EngineError.is(error, 'INVALID_OPTIONS'));
      assert.match(error.message, /`maxTokens` and `max_tokens`/);
      return true;
    });
    assert.deepEqual(toWireParams('generate', { model: 'm', maxTokens: 5, max_tokens: 5 }, 'generate'), { model: 'm', max_tokens: 5 });
    assert.throws(() => toWireParams('generate', [1, 2], 'generate'), { message: 'Expected the params of `generate` to be an object, got `[1,2]` (array).' });
  });

  test('results come back with camelCase keys, all the way down', () => {
    assert.deepEqual(camelizeKeys({ model_id: 'm', stats: { tokens_per_second: 1 }, models: [{ eos_token_ids: [1] }] }), {
      modelId: 'm',
      stats: { tokensPerSecond: 1 },
      models: [{ eosTokenIds: [1] }],
    });
  });

  test('the keys of a record (model ids, error codes, flag names) stay as sent; the fields inside are camelCased', () => {
    const wire = {
      models: { my_model: { queue_depth: 1, lifetime: { errors_by_code: { MODEL_NOT_LOADED: 1 } } } },
      flags: { prompt_cache: { rollout_percentage: 50, sub_flags: { json_schema: true } } },
    };
    assert.deepEqual(camelizeKeys(wire), {
      models: { my_model: { queueDepth: 1, lifetime: { errorsByCode: { MODEL_NOT_LOADED: 1 } } } },
      flags: { prompt_cache: { rolloutPercentage: 50, subFlags: { json_schema: true } } },
    });
  });
});

describe('EngineError', () => {
  test('takes its code from data.code, else from the JSON-RPC number; unknown codes pass through', () => {
    const fromData = EngineError.fromWire({ code: -32001, message: 'not loaded', data: { code: 'MODEL_NOT_LOADED', model: 'x' } });
    assert.equal(fromData.code, 'MODEL_NOT_LOADED');
    assert.equal(fromData.rpcCode, -32001);
    assert.equal(fromData.data['model'], 'x');
    assert.equal(EngineError.fromWire({ code: -32602, message: 'bad' }).code, 'INVALID_PARAMS');
    assert.equal(EngineError.fromWire({ code: -32099, message: 'new', data: { code: 'SOMETHING_NEW' } }).code, 'SOMETHING_NEW');
    assert.deepEqual(JSON.parse(JSON.stringify(fromData)), {
      name: 'EngineError', code: 'MODEL_NOT_LOADED', message: 'not loaded', rpcCode: -32001, data: { code: 'MODEL_NOT_LOADED', model: 'x' },
    });
  });
});

describe('generateJson results', () => {
  const output = (text: string, finishReason: GenerateOutput['finishReason'], complete?: boolean): GenerateOutput => ({
    text,
    finishReason,
    streamId: 's',
    model: 'm',
    variant: 'stable',
    stats: { promptTokens: 1, cachedTokens: 0, generatedTokens: 2, ttftMs: 1, tokensPerSecond: 1, totalMs: 1, tokensGenerated: 2, timeToFirstToken: 1, totalTime: 1 },
    ...(complete === undefined ? {} : { guidance: { complete } }),
  });

  test('complete JSON is parsed; anything cut is an error that carries the text, never a value', () => {
    assert.deepEqual(parseJsonOutput(output('{"a":[1]}', 'stop', true)).value, { a: [1] });
    const cases = [
      [output('{"a":', 'length', false), 'GUIDANCE_INCOMPLETE', /maxTokens/],
      [output('{"a":', 'stop', false), 'GUIDANCE_INCOMPLETE', /stop sequence/],
      [output('{"a":', 'cancelled', false), 'CANCELLED', /cancelled/],
      [output('{"a":1}', 'stop'), 'GUIDANCE_INCOMPLETE', /finishReason "stop"/], // a runtime that did not say complete
      [output('{"a":', 'stop', true), 'PROTOCOL_ERROR', /does not parse/],
    ] as const;
    for (const [given, code, message] of cases) {
      assert.throws(() => parseJsonOutput(given), (error: unknown) => {
        assert.ok(EngineError.is(error, code), `${given.text} ${given.finishReason}: ${String(error)}`);
        assert.match(error.message, message);
        assert.equal(error.data['text'], given.text);
        return true;
      });
    }
  });
});

test('replay keys: a model id that looks like a draft key is still a model of its own', () => {
  const log = new ReplayLog();
  log.remember({ kind: 'model', id: 'draft:x' }, 'model/load', { model: 'a', model_id: 'draft:x' });
  log.remember({ kind: 'model', id: 'x' }, 'model/load', { model: 'b', model_id: 'x' });
  log.remember({ kind: 'draft', id: 'x' }, 'model/loadDraft', { model: 'x', draft_model: 'c' });
  log.remember({ kind: 'model', id: 'draft:x' }, 'model/load', { model: 'a', model_id: 'draft:x' });
  assert.deepEqual(log.models, ['draft:x', 'x'], 'loaded again: it keeps its place');
  assert.deepEqual(log.drafts, [{ id: 'x', params: { model: 'x', draft_model: 'c' } }]);
  log.forget({ kind: 'draft', id: 'x' });
  assert.deepEqual([log.models, log.drafts], [['draft:x', 'x'], []]);
});

describe('NDJSON framing', () => {
  function split(chunks: Buffer[], maxLineBytes = 1024): { lines: string[]; oversized: number[] } {
    const seen = { lines: [] as string[], oversized: [] as number[] };
    const splitter = new LineSplitter(maxLineBytes, { line: (l) => seen.lines.push(l), oversized: (n) => seen.oversized.push(n) });
    for (const chunk of chunks) splitter.push(chunk);
    splitter.end();
    return seen;
  }

  test('a character split across two reads is decoded whole; CRLF and blank lines are handled', () => {
    const bytes = Buffer.from('{"text":"héllo ✓"}\r\n\n{"b":2}');
    const cut = bytes.indexOf(Buffer.from('✓')) + 1; // inside the 3-byte check mark
    assert.deepEqual(split([bytes.subarray(0, cut), bytes.subarray(cut)]).lines, ['{"text":"héllo ✓"}', '{"b":2}']);
  });

  test('a line over the limit is dropped as it streams by, and the next line is fine', () => {
    const seen = split([Buffer.from('x'.repeat(600)), Buffer.from('y'.repeat(600)), Buffer.from('\n{"ok":1}\n')], 1000);
    assert.deepEqual(seen, { lines: ['{"ok":1}'], oversized: [1200] });
  });
});

test('restart backoff grows exponentially up to its bound', () => {
  const delays = [1, 2, 3, 4, 5, 6, 7, 8].map((attempt) => backoffDelay(DEFAULT_RESTART_POLICY, attempt));
  assert.deepEqual(delays, [200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]);
});

// The pieces that need no runtime: the generated wire types, name folding,
// error mapping, NDJSON framing, backoff.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { EngineError, RUNTIME_ERROR_CODES } from 'mlx-serving';
import { LineSplitter } from '../dist/transport/lines.js';
import { backoffDelay, DEFAULT_RESTART_POLICY } from '../dist/supervisor/policy.js';
import { camelizeKeys } from '../dist/wire/names.js';
import { toWireParams } from '../dist/wire/params.js';
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

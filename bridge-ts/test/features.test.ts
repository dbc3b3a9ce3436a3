// Draft models, vision models and structured output through the bridge,
// against the real runtime and the local tiny models; one engine serves
// every test here (each test leaves it as it found it).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createEngine, EngineError } from 'mlx-serving';
import type { Engine, GeneratorChunk, MetadataChunk, TokenChunk } from 'mlx-serving';
import { z } from 'zod';
import { zodToJsonSchema } from 'zod-to-json-schema';
import { gradientPng, pngDataUrl } from '../../examples/png.js';
import { collect, TINY, TINY_4BIT, TINY_DRAFT, TINY_VISION } from './helpers.js';

const PROMPT = 'The little fox';
// Penalties make the random tiny model write varied tokens (greedy alone repeats one).
const VARIED = { temperature: 0, repetitionPenalty: 1.5, maxTokens: 30 };
const PERSON = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 8 },
    age: { type: 'integer', minimum: 0, maximum: 120 },
    pet: { enum: ['cat', 'dog'] },
  },
  required: ['name', 'age', 'pet'],
  additionalProperties: false,
};
const PHONE = String.raw`\+1-\d{3}-\d{3}-\d{4}`;

let engine: Engine;
let folder: string;
const protocolErrors: EngineError[] = [];

before(async () => {
  engine = await createEngine();
  engine.on('protocolError', (error) => protocolErrors.push(error));
  await engine.loadModel({ model: TINY, modelId: 'tiny' });
  await engine.loadVisionModel({ model: TINY_VISION, modelId: 'vision' });
  folder = mkdtempSync(join(tmpdir(), 'mlx-serving-features-'));
});

after(async () => {
  await engine.dispose();
  rmSync(folder, { recursive: true, force: true });
  assert.deepEqual(protocolErrors, [], 'the real runtime never breaks the protocol');
});

const tokensOf = (chunks: GeneratorChunk[]): TokenChunk[] => chunks.filter((c): c is TokenChunk => c.type === 'token');
const endOf = (chunks: GeneratorChunk[]): MetadataChunk => {
  const end = chunks.at(-1);
  if (end?.type === 'error') throw end.error;
  assert.equal(end?.type, 'metadata');
  return end as MetadataChunk;
};
const errorOf = (chunks: GeneratorChunk[]): EngineError => {
  assert.equal(chunks.length, 1, 'nothing but the error');
  assert.equal(chunks[0]?.type, 'error');
  return (chunks[0] as { error: EngineError }).error;
};

describe('draft models', () => {
  test('attach, use and detach a draft: same greedy tokens, tokens say fromDraft, stats say the acceptance', async () => {
    const plain = tokensOf(await collect(engine.createGenerator({ model: 'tiny', prompt: PROMPT, ...VARIED })));
    assert.ok(plain.every((token) => token.fromDraft === undefined), 'no draft, no fromDraft');

    assert.deepEqual(await engine.isDraftModelCompatible({ model: 'tiny', draftModel: TINY_4BIT }), {
      modelId: 'tiny', draftModel: TINY_4BIT, compatible: true, reasons: [], errors: [],
    });
    const loaded = await engine.loadDraftModel({ model: 'tiny', draftModel: TINY_4BIT });
    assert.equal(loaded.modelId, 'tiny');
    assert.equal(loaded.draft.model, TINY_4BIT);
    assert.equal(loaded.draft.quantization?.bits, 4);
    assert.deepEqual(engine.getInfo().drafts, { tiny: TINY_4BIT });
    assert.deepEqual(engine.getInfo().models, ['tiny', 'vision'], 'a draft is not a model of its own');
    const listed = await engine.listModels();
    assert.equal(listed.find((model) => model.modelId === 'tiny')?.draft?.model, TINY_4BIT);

    const chunks = await collect(engine.createGenerator({ model: 'tiny', prompt: PROMPT, ...VARIED, numDraftTokens: 4 }));
    const drafted = tokensOf(chunks);
    assert.deepEqual(drafted.map((t) => t.tokenId), plain.map((t) => t.tokenId), 'greedy output is the same with a draft');
    assert.ok(drafted.every((token) => typeof token.fromDraft === 'boolean'));
    const { stats } = endOf(chunks);
    assert.ok((stats.draftTokensProposed ?? 0) > 0);
    assert.equal(drafted.filter((token) => token.fromDraft).length, stats.draftTokensAccepted);
    const rate = (stats.draftTokensAccepted ?? 0) / (stats.draftTokensProposed ?? 1);
    assert.ok(Math.abs((stats.draftAcceptanceRate ?? -1) - rate) < 1e-4, 'the rate is accepted / proposed (rounded)');
    const whole = await engine.generateDetailed({ model: 'tiny', prompt: PROMPT, ...VARIED, num_draft_tokens: 2 });
    assert.equal(whole.text, drafted.map((t) => t.token).join(''));
    assert.ok((whole.stats.draftTokensProposed ?? 0) > 0);

    const unloaded = await engine.unloadDraftModel('tiny');
    assert.equal(unloaded.draft.model, TINY_4BIT);
    assert.equal(unloaded.continuedStreams, 0);
    assert.deepEqual(engine.getInfo().drafts, {});
    await assert.rejects(engine.unloadDraftModel({ model: 'tiny' }), { code: 'DRAFT_NOT_LOADED', rpcCode: -32019 });
  });

  test('an incompatible draft: the reasons, and DRAFT_INCOMPATIBLE when loaded; snake_case twins', async () => {
    const answer = await engine.is_draft_model_compatible({ model_id: 'tiny', draft_model: TINY_VISION });
    assert.equal(answer.compatible, false);
    assert.ok(answer.reasons.some((reason) => reason.includes('special tokens differ')), answer.reasons.join('\n'));
    const error = await engine.load_draft_model({ model_id: 'tiny', draft_model: TINY_VISION }).catch((e: unknown) => e);
    assert.ok(EngineError.is(error, 'DRAFT_INCOMPATIBLE'));
    assert.equal(error.rpcCode, -32015);
    assert.deepEqual(error.data['reasons'], answer.reasons);
    assert.deepEqual(engine.getInfo().drafts, {}, 'a failed load is not remembered');
    await assert.rejects(engine.loadDraftModel({ model: 'nope', draftModel: TINY_DRAFT }), { code: 'MODEL_NOT_LOADED' });
  });

  test('unloading a model drops its draft from what a restart would replay', async () => {
    await engine.loadModel({ model: TINY_DRAFT, modelId: 'small' });
    await engine.loadDraftModel({ model: 'small', draftModel: TINY_DRAFT });
    assert.deepEqual(engine.getInfo().drafts, { small: TINY_DRAFT });
    await engine.unload_model('small');
    assert.deepEqual(engine.getInfo().drafts, {});
    assert.deepEqual(engine.getInfo().models, ['tiny', 'vision']);
  });

  test('request() refuses the methods whose engine method keeps the reload bookkeeping, legacy names included', async () => {
    for (const [method, instead] of [
      ['model/loadDraft', /loadDraftModel\(\)/],
      ['model/unloadDraft', /unloadDraftModel\(\)/],
      ['model/loadVision', /loadVisionModel\(\)/],
      ['load_vision_model', /loadVisionModel\(\)/],
      ['load_model', /loadModel\(\)/],
    ] as const) {
      await assert.rejects(engine.request(method as 'model/loadDraft', { model: 'tiny', draftModel: TINY_DRAFT }), { code: 'INVALID_OPTIONS', message: instead });
    }
    // A legacy name of a plain method goes out as its method, with its params folded.
    const answer = await engine.request('check_draft' as 'model/isDraftCompatible', { primaryId: 'tiny', draftId: TINY_DRAFT } as never);
    assert.equal(answer.compatible, true);
  });
});

describe('vision models', () => {
  const png = gradientPng(56, 40);

  test('createVisionGenerator streams from a data: URL and a file; generate() takes images too', async () => {
    const file = join(folder, 'gradient.png');
    writeFileSync(file, png);
    const one = await collect(engine.createVisionGenerator({ model: 'vision', prompt: 'What is this?', images: [pngDataUrl(png)], maxTokens: 6, temperature: 0 }));
    assert.equal(tokensOf(one).length, 6);
    const textOnly = await engine.generateDetailed({ model: 'vision', prompt: 'What is this?', maxTokens: 2 });
    const withOne = endOf(one).stats.promptTokens;
    assert.ok(withOne > textOnly.stats.promptTokens, 'the image adds its tokens to the prompt');

    const two = await collect(engine.create_vision_generator({ model_id: 'vision', prompt: 'What is this?', images: [file, pngDataUrl(png)], max_tokens: 4 }));
    assert.equal(endOf(two).stats.promptTokens - withOne, withOne - textOnly.stats.promptTokens, 'two images, twice the image tokens');
    const whole = await engine.generateDetailed({ model: 'vision', prompt: 'What is this?', image: file, maxTokens: 6, temperature: 0 });
    assert.equal(whole.text, tokensOf(one).map((t) => t.token).join(''), 'the same picture from a file or a data: URL');
  });

  test('without images createVisionGenerator throws INVALID_OPTIONS before sending anything', () => {
    assert.throws(() => engine.createVisionGenerator({ model: 'vision', prompt: 'x' } as never), {
      code: 'INVALID_OPTIONS',
      message: /`createVisionGenerator` needs `images`.*createGenerator\(\)/,
    });
    assert.equal(engine.getInfo().openStreams, 0);
  });

  test('bad images: IMAGE_INVALID, IMAGE_FETCH_FAILED, UNSUPPORTED on a text model; the runtime goes on', async () => {
    const corrupt = join(folder, 'corrupt.png');
    writeFileSync(corrupt, Buffer.concat([png.subarray(0, 16), Buffer.from('garbage'.repeat(20))]));
    const invalid = errorOf(await collect(engine.createVisionGenerator({ model: 'vision', prompt: 'x', images: [pngDataUrl(png), corrupt] })));
    assert.ok(EngineError.is(invalid, 'IMAGE_INVALID'));
    assert.equal(invalid.rpcCode, -32016);
    assert.equal(invalid.data['image'], 1, 'data.image: which image');
    await assert.rejects(engine.generateDetailed({ model: 'vision', prompt: 'x', images: [join(folder, 'none.png')] }), {
      code: 'IMAGE_INVALID',
      message: /no such file/,
    });
    await assert.rejects(engine.generateDetailed({ model: 'vision', prompt: 'x', images: ['http://127.0.0.1:9/cat.png'] }), {
      code: 'IMAGE_FETCH_FAILED',
      rpcCode: -32018,
      message: /127\.0\.0\.1:9\/cat\.png/,
    });
    await assert.rejects(engine.generateDetailed({ model: 'vision', prompt: 'x', images: [] }), { code: 'INVALID_PARAMS' });
    const onText = errorOf(await collect(engine.createVisionGenerator({ model: 'tiny', prompt: 'x', images: [pngDataUrl(png)] })));
    assert.ok(EngineError.is(onText, 'UNSUPPORTED'));
    assert.equal((await engine.generateDetailed({ model: 'vision', prompt: 'x', images: pngDataUrl(png), maxTokens: 2, temperature: 0 })).stats.generatedTokens, 2);
  });
});

describe('structured output', () => {
  test('generateJson returns the parsed value; generate() the text with guidance.complete', async () => {
    const params = { model: 'tiny', prompt: 'Who?', maxTokens: 60, seed: 4, guidance: { mode: 'json_schema', schema: PERSON } } as const;
    const json = await engine.generateJson<{ name: string; age: number; pet: string }>(params);
    assert.equal(json.finishReason, 'stop', 'the stream ends by itself once the object is whole');
    assert.deepEqual(json.guidance, { complete: true });
    assert.deepEqual(json.value, JSON.parse(json.text));
    assert.deepEqual(Object.keys(json.value).sort(), ['age', 'name', 'pet']);
    assert.ok(json.value.name.length >= 1 && json.value.name.length <= 8);
    assert.ok(Number.isInteger(json.value.age) && json.value.age >= 0 && json.value.age <= 120);
    assert.ok(['cat', 'dog'].includes(json.value.pet));
    const whole = await engine.generateDetailed(params);
    assert.equal(whole.text, json.text, 'same seed, same text');
    assert.deepEqual(whole.guidance, { complete: true });
    const plain = await engine.generateDetailed({ model: 'tiny', prompt: 'Who?', maxTokens: 3 });
    assert.equal(plain.guidance, undefined, 'no guidance, no guidance field');
  });

  test('generateJson cut by maxTokens throws GUIDANCE_INCOMPLETE with the text so far; generate() flags it', async () => {
    const params = { model: 'tiny', prompt: 'Who?', maxTokens: 3, seed: 4, guidance: { mode: 'json_schema', schema: PERSON } } as const;
    const error = await engine.generate_json(params).catch((e: unknown) => e);
    assert.ok(EngineError.is(error, 'GUIDANCE_INCOMPLETE'));
    assert.match(error.message, /finishReason "length"/);
    assert.equal(error.data['finishReason'], 'length');
    const cut = await engine.generateDetailed(params);
    assert.equal(error.data['text'], cut.text);
    assert.deepEqual(cut.guidance, { complete: false });
    assert.throws(() => JSON.parse(cut.text), 'the cut text is not JSON');
  });

  test('generateJson needs json_schema guidance: INVALID_OPTIONS before anything is sent', async () => {
    await assert.rejects(engine.generateJson({ model: 'tiny', prompt: 'x' } as never), { code: 'INVALID_OPTIONS', message: /no guidance/ });
    await assert.rejects(engine.generateJson({ model: 'tiny', prompt: 'x', guidance: { mode: 'regex', pattern: 'a' } } as never), {
      code: 'INVALID_OPTIONS',
      message: /got mode "regex"; use generate\(\)/,
    });
  });

  test('createGenerator takes guidance: the streamed text matches, the metadata says complete', async () => {
    const generator = engine.createGenerator({ model: 'tiny', prompt: 'Call me at', maxTokens: 40, seed: 2, guidance: { mode: 'regex', pattern: PHONE } });
    const chunks = await collect(generator);
    assert.match(tokensOf(chunks).map((t) => t.token).join(''), new RegExp(`^${PHONE}$`));
    assert.deepEqual(endOf(chunks).guidance, { complete: true });
    assert.deepEqual(generator.guidance, { complete: true });
    assert.equal(generator.finishReason, 'stop');
  });

  test('guidance fields take camelCase too (maxTextLength); the schema inside is sent as written', async () => {
    const dtd = '<!ELEMENT note (#PCDATA)>';
    const xml = await engine.generateDetailed({ model: 'tiny', prompt: 'x', maxTokens: 40, seed: 1, guidance: { mode: 'xml', schema: dtd, maxTextLength: 3 } });
    assert.match(xml.text, /^<note>[^<]{0,3}<\/note>$/s);
    await assert.rejects(engine.generateDetailed({ model: 'tiny', prompt: 'x', guidance: { mode: 'xml', schema: dtd, maxTextLength: 3, max_text_length: 4 } as never }), {
      code: 'INVALID_OPTIONS',
      message: /`maxTextLength` and `max_text_length`/,
    });
    // Property names are the schema's own: `user_name` must stay as it is.
    const schema = { type: 'object', properties: { user_name: { enum: ['ann'] } }, required: ['user_name'], additionalProperties: false };
    const json = await engine.generateJson({ model: 'tiny', prompt: 'x', maxTokens: 20, guidance: { mode: 'json_schema', schema } });
    assert.deepEqual(json.value, { user_name: 'ann' });
  });

  test('xml guidance takes an XSD as well as a DTD', async () => {
    const xsd =
      '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element name="flag"><xs:complexType>' +
      '<xs:attribute name="on" type="xs:boolean" use="required"/></xs:complexType></xs:element></xs:schema>';
    const xml = await engine.generateDetailed({ model: 'tiny', prompt: 'x', maxTokens: 40, seed: 1, guidance: { mode: 'xml', schema: xsd } });
    assert.match(xml.text, /^<flag on="(true|false|1|0)"\/>$/);
    assert.deepEqual(xml.guidance, { complete: true });
    const unsupported = xsd.replace('type="xs:boolean"', 'type="xs:dateTime"');
    const error = await engine.generateDetailed({ model: 'tiny', prompt: 'x', guidance: { mode: 'xml', schema: unsupported } }).catch((e: unknown) => e);
    assert.ok(EngineError.is(error, 'GUIDANCE_INVALID'));
    assert.match(error.message, /xs:dateTime/);
  });

  test('a bad schema or pattern: GUIDANCE_INVALID up front, as a rejection or as the one error chunk', async () => {
    const error = await engine.generateDetailed({ model: 'tiny', prompt: 'x', guidance: { mode: 'json_schema', schema: { type: 'bogus' } } }).catch((e: unknown) => e);
    assert.ok(EngineError.is(error, 'GUIDANCE_INVALID'));
    assert.equal(error.rpcCode, -32007);
    assert.equal(error.data['mode'], 'json_schema');
    await assert.rejects(engine.generateJson({ model: 'tiny', prompt: 'x', guidance: { mode: 'json_schema', schema: { type: 'bogus' } } }), { code: 'GUIDANCE_INVALID' });
    const chunks = await collect(engine.createGenerator({ model: 'tiny', prompt: 'x', guidance: { mode: 'regex', pattern: '(' } }));
    assert.equal(errorOf(chunks).code, 'GUIDANCE_INVALID');
    const onVision = await engine.generateDetailed({ model: 'vision', prompt: 'x', guidance: { mode: 'regex', pattern: 'a+' } }).catch((e: unknown) => e);
    assert.ok(EngineError.is(onVision, 'UNSUPPORTED'), 'guidance on a vision model is refused clearly');
  });

  test('a zod schema through zod-to-json-schema: every value passes schema.parse', async () => {
    const Order = z.object({
      item: z.enum(['tea', 'coffee', 'cake']),
      quantity: z.number().int().min(1).max(9),
      note: z.string().max(6),
      urgent: z.boolean(),
      extras: z.array(z.enum(['milk', 'sugar'])).max(2),
    });
    const schema = zodToJsonSchema(Order);
    for (const seed of [1, 2, 3]) {
      const { value } = await engine.generateJson<z.infer<typeof Order>>({
        model: 'tiny', prompt: 'Order:', maxTokens: 80, seed, temperature: 1, guidance: { mode: 'json_schema', schema },
      });
      assert.deepEqual(Order.parse(value), value, `seed ${seed}`);
    }
  });
});

// Every TypeScript snippet of the user guide (the document this project
// implements: shared/seed/USER_GUIDE.md), as written, with only the model
// names changed (and `maxTokens` room for structured output; a greedy runtime
// config where an assert depends on what the model emits). Text snippets
// run on the tiny model; structured output on SmolLM2, a real model that
// closes its strings; vision on the tiny vision model, with a file path, a
// data: URL and an http URL on 127.0.0.1.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { zodToJsonSchema } from 'zod-to-json-schema';
import { createEngine, EngineError, generateText, withEngine } from 'mlx-serving';
import type { Engine } from 'mlx-serving';
import { gradientPng, pngDataUrl } from '../../examples/png.js';
import { collect, ROOT, SMOLLM2, TINY, TINY_VISION } from './helpers.js';

// Greedy with a repetition penalty (see the file): the snippets that assert a bound
// the tiny model must reach, and the structured-output snippets on SmolLM2.
const GREEDY = { configPath: fileURLToPath(new URL('./fixtures/guide-greedy.yaml', import.meta.url)) };

// What a snippet printed with process.stdout.write / console.log.
function capture(): { write: (text: string) => void; text: () => string } {
  let out = '';
  return { write: (text) => void (out += text), text: () => out };
}

describe('Quick Start', () => {
  let engine: Engine;
  before(async () => {
    engine = await createEngine(GREEDY);
    await engine.loadModel({ model: TINY });
  });
  after(() => engine.dispose());

  test('createGenerator({ prompt, maxTokens }) streams the only loaded model', async () => {
    const out = capture();
    const generator = engine.createGenerator({
      prompt: "Hello",
      maxTokens: 50
    });

    for await (const chunk of generator) {
      if (chunk.type === 'token') {
        out.write(chunk.token); // Process each token in real-time
      }
    }
    assert.equal(generator.finishReason, 'length');
    assert.ok(out.text().length > 0);
  });

  test('generate() resolves with the complete response as a string', async () => {
    const text = await engine.generate({
      prompt: "Hello",
      maxTokens: 50
    });

    assert.equal(typeof text, 'string'); // Complete response as string
    assert.ok(text.length > 0);
  });
});

test('Hello World: load, stream with the model named, shut down', async () => {
  const out = capture();
  const engine = await createEngine(GREEDY);

  // Load the model first
  await engine.loadModel({ model: TINY });

  // Stream tokens in real-time
  const generator = engine.createGenerator({
    model: TINY,
    prompt: 'What is the capital of France?',
    maxTokens: 50,
  });

  for await (const chunk of generator) {
    if (chunk.type === 'token') {
      out.write(chunk.token);
    }
  }

  // Clean shutdown
  await engine.shutdown();
  assert.equal(generator.stats?.generatedTokens, 50);
  assert.equal(engine.getInfo().status, 'stopped');
});

describe('Migration Guide', () => {
  test('Python-compatible style: load_model, create_generator({ prompt }), dispose', async () => {
    const out = capture();
    const engine = await createEngine();

    await engine.load_model({
      model: TINY
    });

    for await (const chunk of engine.create_generator({ prompt: "Hello" })) {
      if (chunk.type === 'token') {
        out.write(chunk.token);
      }
    }

    await engine.dispose();
    assert.ok(out.text().length > 0);
  });

  test('native style: loadModel, createGenerator({ prompt }), dispose', async () => {
    const out = capture();
    const engine = await createEngine();

    await engine.loadModel({
      model: TINY
    });

    for await (const chunk of engine.createGenerator({ prompt: "Hello" })) {
      if (chunk.type === 'token') {
        out.write(chunk.token);
      }
    }

    await engine.dispose();
    assert.ok(out.text().length > 0);
  });

  test('example 1: max_tokens at load time is the model default; the request sets temperature', async () => {
    const chunks: number[] = [];
    let finishReason: string | undefined;
    const engine = await createEngine();
    const loaded = await engine.load_model({ model: TINY, max_tokens: 100 });

    for await (const chunk of engine.create_generator({
      prompt: "Hello",
      temperature: 0.7
    })) {
      if (chunk.type === 'token') chunks.push(chunk.tokenId);
      else if (chunk.type === 'metadata') finishReason = chunk.finishReason;
    }

    await engine.dispose();
    assert.equal(loaded.defaults?.maxTokens, 100);
    // Sampled at 0.7, the model may end on its own first (finish 'stop'); it never goes past the bound.
    if (finishReason === 'length') assert.equal(chunks.length, 100, 'the load-time max_tokens bounds the stream');
    else assert.ok(finishReason === 'stop' && chunks.length < 100, `${finishReason}: ${chunks.length} tokens`);
  });

  test('example 2: a draft named alone attaches to the only loaded model', async () => {
    const engine = await createEngine();
    const out = capture();
    await engine.load_model({ model: TINY });
    await engine.load_draft_model({ model: join(ROOT, 'models/tiny-draft') });

    for await (const chunk of engine.create_generator({ prompt: "Explain AI" })) {
      if (chunk.type === 'token') out.write(chunk.token);
    }
    const drafts = engine.getInfo().drafts;
    await engine.dispose();
    assert.deepEqual(drafts, { [TINY]: join(ROOT, 'models/tiny-draft') });
  });

  test('withEngine: the text comes back, the engine is disposed', async () => {
    let disposed: Engine | undefined;
    const result = await withEngine(async (engine) => {
      disposed = engine;
      await engine.load_model({ model: TINY });

      let text = '';
      for await (const chunk of engine.create_generator({ prompt: "Hi" })) {
        if (chunk.type === 'token') text += chunk.token;
      }

      return text;  // Engine auto-disposed after this
    });
    assert.ok(result.length > 0);
    assert.equal(disposed?.getInfo().status, 'stopped');
  });
});

describe('Structured Output', () => {
  let engine: Engine;
  before(async () => {
    engine = await createEngine(GREEDY);
    await engine.load_model({ model: SMOLLM2 });
  });
  after(() => engine.dispose());

  test('quick start: a user profile that matches its schema', async () => {
    const userSchema = {
      type: "object",
      properties: {
        name: { type: "string" },
        age: { type: "integer" },
        email: { type: "string", format: "email" }
      },
      required: ["name", "age", "email"]
    };

    const result = await engine.generate({
      model: SMOLLM2,
      prompt: "Generate a user profile for John Doe, age 30.",
      guidance: {
        mode: "json_schema",
        schema: userSchema
      },
      maxTokens: 300,
    });

    const user = JSON.parse(result) as { name: string; age: number; email: string };
    assert.ok(typeof user.name === 'string' && Number.isInteger(user.age) && user.email.includes('@'), result);
  });

  test('a product, a nested order and a todo array, each valid JSON of its schema', async () => {
    const productSchema = {
      type: "object",
      properties: {
        name: { type: "string" },
        price: { type: "number", minimum: 0 },
        in_stock: { type: "boolean" }
      },
      required: ["name", "price"]
    };

    const product = await engine.generate({
      prompt: "Create a product: MacBook Pro",
      guidance: { mode: "json_schema", schema: productSchema },
      maxTokens: 300,
    });
    const parsedProduct = JSON.parse(product) as { name: string; price: number };
    assert.ok(typeof parsedProduct.name === 'string' && parsedProduct.price >= 0, product);

    const orderSchema = {
      type: "object",
      properties: {
        order_id: { type: "string" },
        customer: {
          type: "object",
          properties: {
            name: { type: "string" },
            email: { type: "string", format: "email" }
          },
          required: ["name", "email"]
        },
        items: {
          type: "array",
          items: {
            type: "object",
            properties: {
              product: { type: "string" },
              quantity: { type: "integer", minimum: 1 }
            }
          }
        }
      },
      required: ["order_id", "customer", "items"]
    };

    const order = await engine.generate({
      prompt: "Create an order for customer Alice with 2 MacBooks",
      guidance: { mode: "json_schema", schema: orderSchema },
      maxTokens: 400,
    });
    const parsedOrder = JSON.parse(order) as { order_id: string; customer: { email: string }; items: unknown[] };
    assert.ok(typeof parsedOrder.order_id === 'string' && parsedOrder.customer.email.includes('@') && Array.isArray(parsedOrder.items), order);

    const todoListSchema = {
      type: "array",
      items: {
        type: "object",
        properties: {
          task: { type: "string" },
          priority: { type: "string", enum: ["high", "medium", "low"] },
          completed: { type: "boolean" }
        },
        required: ["task", "priority"]
      }
    };

    const todos = await engine.generate({
      prompt: "Generate 3 todo tasks for today",
      guidance: { mode: "json_schema", schema: todoListSchema },
      maxTokens: 400,
    });
    const parsedTodos = JSON.parse(todos) as { task: string; priority: string }[];
    assert.ok(Array.isArray(parsedTodos) && parsedTodos.every((todo) => ['high', 'medium', 'low'].includes(todo.priority)), todos);
  });

  test('XML mode: an article of the DTD', async () => {
    const result = await engine.generate({
      prompt: "Generate an article about AI",
      guidance: {
        mode: "xml",
        schema: `
          <!DOCTYPE article [
            <!ELEMENT article (title, author, content)>
            <!ELEMENT title (#PCDATA)>
            <!ELEMENT author (#PCDATA)>
            <!ELEMENT content (#PCDATA)>
          ]>
        `
      },
      maxTokens: 400,
    });

    assert.match(result, /^\s*<article>\s*<title>[^<]*<\/title>\s*<author>[^<]*<\/author>\s*<content>[^<]*<\/content>\s*<\/article>\s*$/, result);
  });

  test('regex mode: a US phone number', async () => {
    const result = await engine.generate({
      prompt: "Generate a phone number",
      guidance: {
        mode: "regex",
        pattern: "\\+1-\\d{3}-\\d{3}-\\d{4}"  // US phone format
      }
    });

    assert.match(result, /^\+1-\d{3}-\d{3}-\d{4}$/);
  });

  test('TypeScript integration: a zod schema through zod-to-json-schema, parsed back by zod', async () => {
    // Define schema with Zod
    const UserSchema = z.object({
      name: z.string(),
      age: z.number().int().positive(),
      email: z.string().email(),
      roles: z.array(z.enum(['admin', 'user', 'guest']))
    });

    type User = z.infer<typeof UserSchema>;

    // Convert to JSON Schema for Outlines
    const jsonSchema = zodToJsonSchema(UserSchema);

    // Generate with type safety
    const result = await engine.generate({
      prompt: "Create a user profile for Sarah",
      guidance: { mode: "json_schema", schema: jsonSchema },
      maxTokens: 400,
    });

    // Parse and validate
    const user: User = UserSchema.parse(JSON.parse(result));
    assert.equal(typeof user.name, 'string');  // Type-safe access
  });
});

describe('Vision Models', () => {
  let engine: Engine;
  let folder: string;
  let server: ReturnType<typeof createServer>;
  let url: string;
  const png = gradientPng(32, 32);

  before(async () => {
    folder = mkdtempSync(join(tmpdir(), 'mlx-serving-guide-'));
    writeFileSync(join(folder, 'image1.png'), png);
    writeFileSync(join(folder, 'image2.png'), gradientPng(32, 32, 255));
    server = createServer((_request, response) => response.writeHead(200, { 'content-type': 'image/png' }).end(png));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/image.png`;
    const config = join(folder, 'runtime.yaml');
    writeFileSync(config, 'vision:\n  fetch_allow: ["127.0.0.1"]\n');
    engine = await createEngine({ configPath: config });
    // Load vision model
    await engine.loadVisionModel({
      model: TINY_VISION
    });
  });
  after(async () => {
    await engine.dispose();
    server.close();
    rmSync(folder, { recursive: true, force: true });
  });

  test('quick start: one image by path, a data: URL, an http URL on 127.0.0.1', async () => {
    for (const image of [join(folder, 'image1.png'), pngDataUrl(png), url]) {
      const out = capture();
      let prompt = 0;
      // Generate with image
      for await (const chunk of engine.createVisionGenerator({
        prompt: "Describe this image in detail.",
        images: [image],
        maxTokens: 200
      })) {
        if (chunk.type === 'token') {
          out.write(chunk.token);
        } else if (chunk.type === 'metadata') prompt = chunk.stats.promptTokens;
      }
      assert.ok(prompt > 0, `ran with ${image.slice(0, 40)}`);
    }
  });

  test('multiple images: the prompt holds both', async () => {
    let twoImages = 0;
    for await (const chunk of engine.createVisionGenerator({
      prompt: "Compare these two images. What are the differences?",
      images: [
        join(folder, 'image1.png'),
        join(folder, 'image2.png')
      ],
      maxTokens: 300
    })) {
      // Process chunks
      if (chunk.type === 'metadata') twoImages = chunk.stats.promptTokens;
    }
    let oneImage = 0;
    for await (const chunk of engine.createVisionGenerator({ prompt: "Compare these two images. What are the differences?", images: [join(folder, 'image1.png')], maxTokens: 1 })) {
      if (chunk.type === 'metadata') oneImage = chunk.stats.promptTokens;
    }
    assert.ok(twoImages > oneImage, `${twoImages} prompt tokens with two images, ${oneImage} with one`);
  });

  test('use cases: the generators the guide awaits stream when iterated', async () => {
    const caption = await engine.createVisionGenerator({
      prompt: "Generate a detailed caption for this image.",
      images: [join(folder, 'image1.png')]
    });
    const answer = await engine.createVisionGenerator({
      prompt: "How many people are in this image?",
      images: [url]
    });
    const analysis = await engine.createVisionGenerator({
      prompt: "Compare the before and after images. What changed?",
      images: [join(folder, 'image1.png'), join(folder, 'image2.png')]
    });
    for (const generator of [caption, answer, analysis]) {
      const last = (await collect(generator)).at(-1);
      assert.equal(last?.type, 'metadata');
    }
  });
});

describe('Quick Reference', () => {
  test('core API: the basic flow, then withEngine with generateText', async () => {
    const lines: string[] = [];
    // Basic flow
    const engine = await createEngine();
    await engine.loadModel({ model: TINY });

    for await (const chunk of engine.createGenerator({ prompt: "Hi" })) {
      if (chunk.type === 'token') lines.push(chunk.token);
    }

    await engine.dispose();

    // Context manager style
    const result = await withEngine(async (engine) => {
      await engine.loadModel({ model: TINY });
      return await generateText(engine, "Hello");  // Auto-dispose
    });
    assert.ok(lines.length > 0 && result.length > 0);
  });

  test('error handling: a model that is not there is an EngineError with a code', async () => {
    const engine = await createEngine();
    let seen: string | undefined;
    try {
      await engine.loadModel({ model: "invalid-model" });
    } catch (error) {
      if (error instanceof EngineError) {
        seen = `${error.code} ${error.message}`;
      }
    }
    await engine.dispose();
    assert.match(seen ?? '', /^MODEL_NOT_FOUND /);
  });

  test('debugging: verbose, the stderr event, getInfo()', async () => {
    const logged: string[] = [];
    // Enable verbose logging
    const engine = await createEngine({ verbose: true });

    // Monitor Python stderr
    engine.on('stderr', (data) => logged.push(`[Python] ${data}`));

    // Check runtime status
    const info = engine.getInfo();
    await engine.loadModel({ model: TINY });
    await engine.dispose();
    assert.equal(info.status, 'ready');
    assert.ok(Number.isInteger(info.pid));
    assert.ok(logged.some((line) => line.includes('loaded')), 'the load is logged');
  });
});

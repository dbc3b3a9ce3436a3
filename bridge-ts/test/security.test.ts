// Hostile use of the bridge, against the real runtime: aborted signals,
// hostile lines through engine.request(), and what the runtime refuses to
// read or fetch, seen as EngineErrors; the engine serves on after each.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createEngine } from 'mlx-serving';
import type { Engine } from 'mlx-serving';
import { collect, eventually, TINY } from './helpers.js';

describe('hostile input through the bridge', () => {
  let engine: Engine;
  before(async () => {
    engine = await createEngine();
    await engine.loadModel({ model: TINY, modelId: 'tiny' });
  });
  after(async () => {
    await engine.dispose();
  });

  test('generators made with an aborted signal are not left open', async () => {
    const generators = [1, 2, 3].map(() => engine.createGenerator({ model: 'tiny', prompt: 'hi' }, { signal: AbortSignal.abort() }));
    for (const generator of generators) {
      const chunks = await collect(generator);
      assert.equal(chunks.at(-1)?.type, 'error');
    }
    await eventually(() => engine.getInfo().openStreams === 0, 'no open streams');
    assert.equal(engine.getInfo().openStreams, 0);
  });

  test('a DTD that smuggles an external entity is GUIDANCE_INVALID', async () => {
    const dtd = '<!ENTITY % p "&#60;!ENTITY &#37; q SYST&#69;M \'file:///dev/zero\'&#62;"> %p; %q; <!ELEMENT root (#PCDATA)>';
    await assert.rejects(engine.generateDetailed({ model: 'tiny', prompt: 'x', maxTokens: 4, guidance: { mode: 'xml', schema: dtd } }), {
      code: 'GUIDANCE_INVALID',
      message: /parameter entities/,
    });
    assert.ok((await engine.generateDetailed({ model: 'tiny', prompt: 'x', maxTokens: 2 })).text !== undefined);
  });

  test('a model folder with a FIFO is refused, and the engine serves on', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'mlx-serving-fifo-'));
    execFileSync('mkfifo', [join(folder, 'config.json')]);
    await assert.rejects(engine.loadModel({ model: folder, modelId: 'fifo' }), { code: 'MODEL_LOAD_FAILED', message: /not a regular file/ });
    assert.deepEqual((await engine.tokenize({ model: 'tiny', text: 'hi' })).tokens.length > 0, true);
  });
});

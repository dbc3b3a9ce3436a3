// Compile-time tests of the public types (`npm run typecheck` compiles this
// file; nothing runs it). Each @ts-expect-error must be an error, or tsc fails.
import type {
  CanaryEvent,
  CreateEngineOptions,
  Distribution,
  Engine,
  GeneratorChunk,
  JsonOutput,
  Metrics,
  ModelMetrics,
  Params,
  PreloadedModelInfo,
  QosEvent,
  Result,
  Variant,
  VisionGenerateParams,
} from 'mlx-serving';

export async function typesOfTheApi(engine: Engine): Promise<void> {
  // Params in camelCase, snake_case, mixed, and the aliases.
  await engine.generate({ model: 'm', prompt: 'hi', maxTokens: 5, top_p: 0.9, stopSequences: ['.'] });
  await engine.generate({ model_id: 'm', prompt: [1, 2, 3], max_tokens: 5, stream: false, add_special_tokens: true });
  await engine.tokenize({ modelId: 'm', text: 'x', addSpecialTokens: false });
  await engine.loadModel('models/tiny');
  await engine.load_model({ model: 'models/tiny', model_id: 'tiny' });
  await engine.unload_model('tiny');

  // @ts-expect-error a param of the wrong type
  await engine.generate({ model: 'm', prompt: 'hi', maxTokens: 'five' });
  // `model` may be left out (the only loaded model); generate() resolves with the text.
  const text: string = await engine.generate({ prompt: 'hi' });
  void text;
  // @ts-expect-error an unknown param
  await engine.generate({ model: 'm', prompt: 'hi', maxTokenz: 5 });
  // @ts-expect-error tokenize needs text
  await engine.tokenize({ model: 'm' });

  // Results come back in camelCase.
  const loaded = await engine.loadModel('models/tiny');
  const contextLength: number = loaded.contextLength;
  // @ts-expect-error the snake_case key is not there
  void loaded.context_length;
  const state: Result<'runtime/state'> = await engine.request('runtime/state');
  const active: number = state.activeStreams;
  void [contextLength, active];

  // Chunks are a discriminated union.
  for await (const chunk of engine.createGenerator({ model: 'm', prompt: 'hi' })) {
    const typed: GeneratorChunk = chunk;
    if (chunk.type === 'token') void (chunk.token + chunk.tokenId);
    else if (chunk.type === 'metadata') void (chunk.finishReason + chunk.stats.tokensPerSecond);
    else if (chunk.type === 'error') void chunk.error.code;
    void typed;
  }

  // Every public method has its snake_case twin, with the same type.
  const twin: Engine['createGenerator'] = engine.create_generator;
  const info = engine.get_info();
  void [twin, info.restarts];
  // @ts-expect-error no twin for a name that is not a method
  void engine.load_models;
}

export async function typesOfDraftsVisionAndGuidance(engine: Engine): Promise<void> {
  // Drafts: both spellings and the twins; results in camelCase.
  const draft = await engine.loadDraftModel({ model: 'm', draftModel: 'models/tiny-draft' });
  const draftPath: string = draft.draft.path;
  await engine.load_draft_model({ model_id: 'm', draft_model: 'models/tiny-draft' });
  const check = await engine.isDraftModelCompatible({ model: 'm', draft_model: 'd' });
  const why: string[] = check.reasons;
  const ok: boolean = (await engine.is_draft_model_compatible({ primaryId: 'm', draftId: 'd' })).compatible;
  const continued: number = (await engine.unloadDraftModel('m')).continuedStreams;
  await engine.unload_draft_model({ model: 'm' });
  const drafts: Record<string, string> = engine.getInfo().drafts;
  void [draftPath, why, ok, continued, drafts];
  // The original's form: only the draft, for the only loaded text model.
  await engine.loadDraftModel({ model: 'models/tiny-draft' });
  // @ts-expect-error a draft's path is a string
  await engine.loadDraftModel({ model: 'm', draftModel: 1 });

  // Vision: loadVisionModel as loadModel; createVisionGenerator requires images.
  const vision = await engine.loadVisionModel('models/tiny-vision');
  const kind: 'text' | 'vision' = vision.kind;
  await engine.load_vision_model({ model: 'models/tiny-vision', modelId: 'v' });
  engine.createVisionGenerator({ model: 'v', prompt: 'hi', images: ['a.png', 'data:image/png;base64,AA=='] });
  engine.create_vision_generator({ model_id: 'v', messages: [{ role: 'user', content: 'hi' }], image: 'a.png', max_tokens: 5 });
  const visionParams: VisionGenerateParams = { model: 'v', prompt: 'hi', images: 'a.png' };
  void [kind, visionParams];
  // @ts-expect-error createVisionGenerator without images
  engine.createVisionGenerator({ model: 'v', prompt: 'hi' });
  // @ts-expect-error images are strings
  await engine.generate({ model: 'v', prompt: 'hi', images: [1] });

  // Draft tokens per round in both spellings; chunks say fromDraft and the guidance outcome.
  for await (const chunk of engine.createGenerator({ model: 'm', prompt: 'hi', numDraftTokens: 4, num_draft_tokens: 4 })) {
    if (chunk.type === 'token') {
      const fromDraft: boolean | undefined = chunk.fromDraft;
      void fromDraft;
    } else if (chunk.type === 'metadata') {
      const rate: number | undefined = chunk.stats.draftAcceptanceRate;
      const complete: boolean | undefined = chunk.guidance?.complete;
      void [rate, complete];
    }
  }

  // Guidance: each mode; a guidance field in either spelling; results say complete.
  const whole = await engine.generateDetailed({ model: 'm', prompt: 'hi', guidance: { mode: 'regex', pattern: 'a+' } });
  const complete: boolean | undefined = whole.guidance?.complete;
  await engine.generate({ model: 'm', prompt: 'hi', guidance: { mode: 'xml', schema: '<!ELEMENT a (#PCDATA)>', maxTextLength: 8 } });
  await engine.generate({ model: 'm', prompt: 'hi', guidance: { mode: 'xml', schema: '<!ELEMENT a (#PCDATA)>', max_text_length: 8 } });
  // @ts-expect-error regex guidance needs its pattern
  await engine.generate({ model: 'm', prompt: 'hi', guidance: { mode: 'regex' } });
  // @ts-expect-error an unknown mode
  await engine.generate({ model: 'm', prompt: 'hi', guidance: { mode: 'yaml', schema: {} } });

  // generateJson: json_schema guidance required; the value typed as asked.
  const json: JsonOutput<{ name: string }> = await engine.generateJson<{ name: string }>({
    model: 'm', prompt: 'hi', guidance: { mode: 'json_schema', schema: { type: 'object' } },
  });
  const name: string = json.value.name;
  const sure: true = json.guidance.complete;
  const unknownValue: unknown = (await engine.generate_json({ model: 'm', prompt: 'hi', guidance: { mode: 'json_schema', schema: {} } })).value;
  void [complete, name, sure, unknownValue];
  // @ts-expect-error generateJson without guidance
  await engine.generateJson({ model: 'm', prompt: 'hi' });
  // @ts-expect-error generateJson with another mode
  await engine.generateJson({ model: 'm', prompt: 'hi', guidance: { mode: 'regex', pattern: 'a' } });
}

// A required param with several spellings: at least one of them.
export const cancel: Params<'generate/cancel'>[] = [{ stream_id: 'a' }, { streamId: 'a' }];
// @ts-expect-error generate/cancel needs its stream id
export const noCancel: Params<'generate/cancel'> = {};

export async function typesOfOps(engine: Engine): Promise<void> {
  // Metrics: typed from the wire, in camelCase; records keyed by model id and error code.
  const metrics: Metrics = await engine.getMetrics();
  const model: ModelMetrics | undefined = metrics.models['tiny'];
  const p99: number | null | undefined = model?.window.ttftMs.p99;
  const ttft: Distribution = metrics.overall.lifetime.ttftMs;
  const overloaded: number | undefined = metrics.overall.lifetime.errorsByCode['OVERLOADED'];
  const shedding: string[] = metrics.qos.shedding;
  const canaryState: 'active' | 'loading' | 'promoted' | 'rolled_back' | 'stopped' | undefined = metrics.canary[0]?.state;
  await engine.getMetrics('tiny');
  await engine.get_metrics({ model_id: 'tiny' });
  const text: string = await engine.getPrometheusMetrics();
  const reloaded: string[] = (await engine.reload_config()).flagsChanged;
  const flags = await engine.getFlags({ requestKey: 'user-1' });
  const onForKey: boolean | undefined = flags.flags['prompt_cache']?.onForKey;
  await engine.get_flags();
  void [p99, ttft, overloaded, shedding, canaryState, text, reloaded, onForKey];
  // @ts-expect-error getMetrics takes a model id, not a number
  await engine.getMetrics(1);
  // @ts-expect-error flags/get has no `model`
  await engine.getFlags({ model: 'tiny' });
  // @ts-expect-error the snake_case key is not there
  void metrics.overall.lifetime.ttft_ms;

  // Events: qos is a union told apart by kind; canary and ready are typed too.
  engine.on('qos', (event: QosEvent) => {
    if (event.kind === 'violation') void (event.observed + event.samples + String(event.dryRun));
    else void (event.durationS + (event.observed ?? 0));
    const action: 'alert' | 'reduce_batch' | 'shed' = event.action;
    void action;
  });
  engine.on('canary', (event: CanaryEvent) => void (event.percentage + event.stableModel + (event.reason ?? '')));
  engine.on('ready', (event) => void event.preloaded.map(({ modelId, warmupMs, batchSizes }) => [modelId, warmupMs, batchSizes]));
  // @ts-expect-error a recovery has no samples
  engine.on('qos', (event) => event.kind === 'recovered' && event.samples);
  // @ts-expect-error no such event
  engine.on('qos/violation', () => {});

  // Who served a request: results, metadata chunks, error chunks, the generator.
  const whole = await engine.generateDetailed({ model: 'm', prompt: 'hi', userId: 'user-1' });
  const variant: Variant = whole.variant;
  const servedBy: string = whole.model;
  const generator = engine.createGenerator({ model: 'm', prompt: 'hi', request_key: 'user-1' });
  for await (const chunk of generator) {
    if (chunk.type === 'metadata') void (chunk.model + chunk.variant);
    if (chunk.type === 'error') void (chunk.model ?? chunk.variant);
  }
  const generatorVariant: Variant | undefined = generator.variant;
  const info = engine.getInfo();
  const preloading: boolean = info.preloading;
  const preloaded: PreloadedModelInfo[] = info.preloaded;
  void [variant, servedBy, generatorVariant, preloading, preloaded];
  // @ts-expect-error a variant is canary or stable
  const wrong: Variant = 'beta';
  void wrong;
}

export const opsOptions: CreateEngineOptions[] = [
  { configPath: 'runtime.yaml', flagsPath: 'flags.yaml', waitForPreload: false },
  { flags_path: 'flags.yaml', wait_for_preload: true },
  // @ts-expect-error waitForPreload is a boolean
  { waitForPreload: 'no' },
];

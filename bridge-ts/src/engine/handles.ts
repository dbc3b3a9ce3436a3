// A loaded model as the original mlx-serving described it (a ModelHandle:
// `descriptor`, `state`, `contextLength`, `metadata`), beside our own fields
// (modelId, path, kind, vocabSize, defaults, ...), built from the runtime's
// model info.
import type { ModelInfo } from '../wire/generated.js';
import type { Camelize } from '../wire/names.js';

export interface ModelDescriptor {
  /** The model id (what requests name). */
  id: string;
  /** Where it was loaded from: a local folder here (no hub at run time). */
  source: 'huggingface' | 'local';
  /** The folder it was loaded from. */
  path: string;
  modality: 'text' | 'vision';
  /** The library that runs it. */
  family: 'mlx-lm' | 'mlx-vlm';
}

export type ModelHandle = Camelize<ModelInfo> & {
  /** The model id (= modelId). */
  id: string;
  descriptor: ModelDescriptor;
  /** Always 'ready': a handle exists once the model is loaded. */
  state: 'ready';
  /** The original's metadata: `processorType` (vision models), `vocabSize`, `parameters`, `quantization`, `supportedFormats`. */
  metadata: { processorType?: string; vocabSize: number; parameters: number; quantization: Camelize<ModelInfo>['quantization']; supportedFormats?: string[] };
};

const IMAGE_FORMATS = ['jpeg', 'png', 'webp', 'bmp'];

// Our model info (camelCase: runtime/info's, or a load result) with the original's handle fields beside it.
export function modelHandle<I extends Camelize<ModelInfo>>(info: I): I & ModelHandle {
  const vision = info.kind === 'vision';
  const metadata: ModelHandle['metadata'] = { vocabSize: info.vocabSize, parameters: info.parameters, quantization: info.quantization };
  if (vision) {
    metadata.supportedFormats = IMAGE_FORMATS;
    if (typeof info.processorType === 'string') metadata.processorType = info.processorType;
  }
  return {
    ...info,
    id: info.modelId,
    descriptor: { id: info.modelId, source: 'local', path: info.path, modality: info.kind, family: vision ? 'mlx-vlm' : 'mlx-lm' },
    state: 'ready',
    metadata,
  };
}

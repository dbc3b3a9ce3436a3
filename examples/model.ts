// Which model the examples load: the first argument, else $MLX_SERVING_MODEL,
// else the repo's demo model (`npm run demo` trains it), else the tiny test
// model (`npm test` builds it). Any mlx-lm model folder works. The vision
// example takes an mlx-vlm model folder: the first argument, else
// $MLX_SERVING_VISION_MODEL, else the tiny test vision model.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const demo = fileURLToPath(new URL('../models/demo', import.meta.url));
const tiny = fileURLToPath(new URL('../models/tiny', import.meta.url));
const tinyVision = fileURLToPath(new URL('../models/tiny-vision', import.meta.url));

export const modelPath: string = process.argv[2] ?? process.env['MLX_SERVING_MODEL'] ?? (existsSync(demo) ? demo : tiny);
export const visionModelPath: string = process.argv[2] ?? process.env['MLX_SERVING_VISION_MODEL'] ?? tinyVision;

// Which model the examples load: the first argument, else $MLX_SERVING_MODEL,
// else the repo's demo model (`npm run demo` trains it), else the tiny test
// model (`npm test` builds it). Any mlx-lm model folder works.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const demo = fileURLToPath(new URL('../models/demo', import.meta.url));
const tiny = fileURLToPath(new URL('../models/tiny', import.meta.url));

export const modelPath: string = process.argv[2] ?? process.env['MLX_SERVING_MODEL'] ?? (existsSync(demo) ? demo : tiny);

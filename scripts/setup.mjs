#!/usr/bin/env node
// Installs what is missing, and only that: the Python venv with the pinned
// dependencies, the node modules, the local models.
//
//   node scripts/setup.mjs                  venv + node modules
//   node scripts/setup.mjs --models test    ... + the tiny test models
//   node scripts/setup.mjs --models demo    ... + the trained demo model
//   node scripts/setup.mjs --models bench   ... + the CPU benchmark models
//
// Each step keeps a stamp (a hash of its inputs) and is skipped while the
// stamp matches, so running it before every `npm test` costs nothing.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const venv = join(root, '.venv');
const venvPython = join(venv, process.platform === 'win32' ? 'Scripts/python.exe' : 'bin/python');
const MODEL_SETS = {
  test: ['tiny', 'tiny-draft', 'tiny-4bit', 'tiny-vision'],
  demo: ['demo'],
  bench: ['tiny', 'demo', 'demo-draft', 'small', 'llama-1b-f32'],
};

function run(command, args, options = {}) {
  console.error(`[setup] ${command} ${args.join(' ')}`);
  const done = spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options });
  if (done.error) throw new Error(`could not run ${command}: ${done.error.message}`);
  if (done.status !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${done.status}`);
}

function hashOf(...files) {
  const hash = createHash('sha256');
  for (const file of files) hash.update(existsSync(join(root, file)) ? readFileSync(join(root, file)) : file);
  return hash.digest('hex');
}

// Runs `step` unless `stampFile` holds `stamp`; writes the stamp after success.
function once(stampFile, stamp, step) {
  if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return;
  step();
  writeFileSync(stampFile, stamp);
}

function findPython() {
  const candidates = [process.env.MLX_SERVING_BOOTSTRAP_PYTHON, 'python3', 'python'].filter(Boolean);
  for (const candidate of candidates) {
    const probe = spawnSync(candidate, ['-c', 'import sys; print(sys.version_info >= (3, 10))'], {
      encoding: 'utf8',
    });
    if (probe.status === 0 && probe.stdout.trim() === 'True') return candidate;
  }
  throw new Error('Python 3.10+ not found: install it, or set MLX_SERVING_BOOTSTRAP_PYTHON');
}

function setupPython() {
  if (!existsSync(venvPython)) run(findPython(), ['-m', 'venv', venv]);
  once(join(venv, '.mlx-serving-stamp'), hashOf('pyproject.toml', 'python/constraints.txt'), () => {
    run(venvPython, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check',
      '-c', 'python/constraints.txt', '-e', '.[dev]']);
  });
}

function setupNode() {
  // Skip inside `npm install` itself (postinstall), which is installing them now.
  if (process.env.npm_lifecycle_event === 'postinstall') return;
  const lock = join(root, 'package-lock.json');
  if (!existsSync(lock)) return;
  once(join(root, 'node_modules', '.mlx-serving-stamp'), hashOf('package-lock.json'), () => {
    run('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts']);
  });
}

function setupModels(set) {
  const names = MODEL_SETS[set];
  if (!names) throw new Error(`unknown model set ${set}; expected one of ${Object.keys(MODEL_SETS)}`);
  run(venvPython, ['scripts/make_models.py', '--out', 'models', ...names]);
}

function main(argv) {
  const models = argv.includes('--models') ? argv[argv.indexOf('--models') + 1] : undefined;
  setupPython();
  setupNode();
  if (models) setupModels(models);
}

try {
  main(process.argv.slice(2));
} catch (error) {
  console.error(`[setup] ${error.message}`);
  process.exit(1);
}

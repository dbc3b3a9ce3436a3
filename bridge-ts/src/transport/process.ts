// One running runtime process: protocol lines out of stdout, messages into
// stdin, stderr lines for logs, and one exit report after the last line.
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { LineSplitter } from './lines.js';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be spawned at all (ENOENT, EACCES, ...). */
  error?: Error;
}

export interface ProcessHandlers {
  line(text: string): void;
  oversized(bytes: number): void;
  stderr(line: string): void;
  /** Called once, after every line the process wrote has been handed over. */
  exit(info: ExitInfo): void;
}

export interface ProcessOptions {
  maxLineBytes: number;
  /** Wire and stderr logging (the `verbose` option); undefined for none. */
  log: ((line: string) => void) | undefined;
}

const STDERR_TAIL_LINES = 40;
const MAX_STDERR_LINE_BYTES = 64 * 1024;
const LOG_LINE_CHARS = 2000;
// After exit, how long to wait for stdout to reach EOF (a grandchild may hold the pipe).
const DRAIN_AFTER_EXIT_MS = 1000;

export class RuntimeProcess {
  readonly pid: number | undefined;
  /** Settles with the exit report, after every line the process wrote was handed over. */
  readonly exited: Promise<ExitInfo>;
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #log: ((line: string) => void) | undefined;
  readonly #stderrTail: string[] = [];
  #exit: ExitInfo | undefined;

  constructor(child: ChildProcessWithoutNullStreams, handlers: ProcessHandlers, options: ProcessOptions) {
    this.#child = child;
    this.pid = child.pid;
    this.#log = options.log;
    const stdout = new LineSplitter(options.maxLineBytes, {
      line: (text) => {
        this.#log?.(`← ${clip(text)}`);
        handlers.line(text);
      },
      oversized: (bytes) => handlers.oversized(bytes),
    });
    const stderr = new LineSplitter(MAX_STDERR_LINE_BYTES, {
      line: (text) => this.#onStderr(text, handlers),
      oversized: (bytes) => this.#onStderr(`[${bytes} bytes of stderr on one line, not shown]`, handlers),
    });
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    // A dead runtime makes writes fail with EPIPE; the exit report covers it.
    child.stdin.on('error', () => {});
    const outputDone = Promise.all([ended(child.stdout), ended(child.stderr)]);
    let reportExit: (info: ExitInfo) => void = () => {};
    this.exited = new Promise((resolve) => (reportExit = resolve));
    const finish = (info: ExitInfo): void => {
      if (this.#exit !== undefined) return;
      this.#exit = info;
      // Deliver every line already written before reporting the exit.
      child.stdout.resume();
      void Promise.race([outputDone, delay(DRAIN_AFTER_EXIT_MS)]).then(() => {
        stdout.end();
        stderr.end();
        handlers.exit(info);
        reportExit(info);
      });
    };
    child.once('exit', (code, signal) => finish({ code, signal }));
    child.once('error', (error) => finish({ code: null, signal: null, error }));
  }

  /** Whether the process is still running (no exit seen yet). */
  get alive(): boolean {
    return this.#exit === undefined;
  }

  /** The last lines the runtime wrote to stderr, for error messages. */
  get stderrTail(): readonly string[] {
    return this.#stderrTail;
  }

  // Writes one message as one line; false when stdin is already closed.
  send(message: unknown): boolean {
    if (!this.alive || !this.#child.stdin.writable) return false;
    const line = JSON.stringify(message);
    this.#log?.(`→ ${clip(line)}`);
    this.#child.stdin.write(`${line}\n`);
    return true;
  }

  // Flow control: stop taking lines from stdout while consumers are behind.
  pause(): void {
    if (this.alive) this.#child.stdout.pause();
  }

  resume(): void {
    this.#child.stdout.resume();
  }

  // EOF on stdin: the runtime finishes its streams and exits.
  closeInput(): void {
    this.#child.stdin.end();
  }

  kill(signal: NodeJS.Signals): void {
    if (this.alive) this.#child.kill(signal);
  }

  #onStderr(line: string, handlers: ProcessHandlers): void {
    this.#stderrTail.push(line);
    if (this.#stderrTail.length > STDERR_TAIL_LINES) this.#stderrTail.shift();
    this.#log?.(`[runtime] ${line}`);
    handlers.stderr(line);
  }
}

function ended(stream: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', () => resolve());
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function clip(text: string): string {
  return text.length > LOG_LINE_CHARS ? `${text.slice(0, LOG_LINE_CHARS)}… (${text.length} chars)` : text;
}

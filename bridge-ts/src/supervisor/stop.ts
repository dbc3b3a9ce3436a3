// Graceful stop, execa-style: ask (runtime/shutdown, then EOF on stdin),
// wait, then SIGTERM, wait, then SIGKILL. Resolves once the process is gone.
import type { ExitInfo } from '../transport/process.js';
import type { Session } from './launch.js';

export interface StopOptions {
  /** true: let in-flight streams finish first; false: the runtime cancels them. */
  drain: boolean;
  /** How long to wait for the runtime to exit on its own (draining included) before SIGTERM. */
  graceMs: number;
  /** How long after SIGTERM before SIGKILL. */
  forceKillAfterMs: number;
}

export async function stopSession(session: Session, options: StopOptions): Promise<ExitInfo> {
  const { process: runtime, client } = session;
  if (runtime.alive) {
    // The answer comes at once (the runtime drains in the background); a dead
    // or stuck runtime is caught by the waits below.
    await client.request('runtime/shutdown', { drain: options.drain }, options.forceKillAfterMs).catch(() => {});
    runtime.closeInput();
  }
  if (await exitsWithin(session, options.graceMs)) return runtime.exited;
  runtime.kill('SIGTERM');
  if (await exitsWithin(session, options.forceKillAfterMs)) return runtime.exited;
  runtime.kill('SIGKILL');
  return runtime.exited;
}

function exitsWithin(session: Session, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void session.process.exited.then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

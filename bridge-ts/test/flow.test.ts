// FlowControl alone: which stream is told it is behind or caught up, and when
// the whole pipe is paused, with members whose pause answers the test controls.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlowControl } from '../dist/generator/flow.js';
import type { FlowMember } from '../dist/generator/flow.js';

// A member whose behind() calls are recorded and answered by the test.
function member(): FlowMember & { calls: boolean[]; answer(paused: boolean): void } {
  const calls: boolean[] = [];
  const answers: ((paused: boolean) => void)[] = [];
  return {
    calls,
    behind(behind: boolean): Promise<boolean> {
      calls.push(behind);
      return new Promise<boolean>((resolve) => answers.push(resolve));
    },
    answer(paused: boolean): void {
      answers.shift()?.(paused);
    },
  };
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('a member over the mark is told once; at half the mark it is told it caught up', () => {
  const pipe: boolean[] = [];
  const flow = new FlowControl(8, (paused) => pipe.push(paused));
  const a = member();
  flow.report(a, 8);
  assert.deepEqual(a.calls, [], 'at the mark is not over it');
  flow.report(a, 9);
  flow.report(a, 20);
  assert.deepEqual(a.calls, [true], 'asked to pause once, however far behind');
  assert.deepEqual(pipe, [true], 'the pipe pauses until the runtime acknowledges');
  flow.report(a, 5);
  assert.deepEqual(a.calls, [true], 'between half and the mark: still behind');
  flow.report(a, 4);
  assert.deepEqual(a.calls, [true, false]);
  assert.deepEqual(pipe, [true, false]);
  assert.deepEqual(flow.streams, { pausedStreams: 0, streamPauses: 1 });
});

test('an acknowledged pause releases the pipe; the stream stays counted as paused', async () => {
  const pipe: boolean[] = [];
  const flow = new FlowControl(4, (paused) => pipe.push(paused));
  const a = member();
  flow.report(a, 5);
  a.answer(true);
  await flush();
  assert.deepEqual(pipe, [true, false]);
  assert.deepEqual(flow.streams, { pausedStreams: 1, streamPauses: 1 });
});

test('a refused pause keeps the pipe paused until the member catches up', async () => {
  const pipe: boolean[] = [];
  const flow = new FlowControl(4, (paused) => pipe.push(paused));
  const a = member();
  flow.report(a, 5);
  a.answer(false);
  await flush();
  assert.deepEqual(pipe, [true], 'nothing stopped the stream on the runtime: the pipe holds it');
  flow.report(a, 2);
  assert.deepEqual(pipe, [true, false]);
});

test('a waiting consumer keeps the pipe read, whoever is behind', () => {
  const pipe: boolean[] = [];
  const flow = new FlowControl(4, (paused) => pipe.push(paused));
  flow.waiting(true);
  flow.report(member(), 5);
  assert.deepEqual(pipe, [], 'no pause while a consumer waits for a chunk');
  flow.waiting(false);
  assert.deepEqual(pipe, [true]);
});

test('release() drops a member: no resume is sent and it holds the pipe no more', () => {
  const pipe: boolean[] = [];
  const flow = new FlowControl(4, (paused) => pipe.push(paused));
  const a = member();
  const b = member();
  flow.report(a, 5);
  flow.report(b, 5);
  flow.release(a);
  assert.deepEqual(pipe, [true], 'b still holds it');
  flow.release(b);
  assert.deepEqual(pipe, [true, false]);
  assert.deepEqual(a.calls, [true], 'an ended stream is not resumed');
  assert.deepEqual(flow.streams.pausedStreams, 0);
});

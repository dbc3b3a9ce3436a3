// LineSplitter alone: NDJSON framing over reads cut anywhere.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LineSplitter } from '../dist/transport/lines.js';

function splitter(maxLineBytes = 1024): { lines: string[]; oversized: number[]; splitter: LineSplitter } {
  const lines: string[] = [];
  const oversized: number[] = [];
  return {
    lines,
    oversized,
    splitter: new LineSplitter(maxLineBytes, { line: (text) => lines.push(text), oversized: (bytes) => oversized.push(bytes) }),
  };
}

test('lines come out whole and in order, however the reads cut them', () => {
  const { lines, splitter: s } = splitter();
  s.push(Buffer.from('{"a":1}\n{"b"'));
  assert.deepEqual(lines, ['{"a":1}']);
  s.push(Buffer.from(':2}\n{"c":3}\n{"d":'));
  s.push(Buffer.from('4}\n'));
  assert.deepEqual(lines, ['{"a":1}', '{"b":2}', '{"c":3}', '{"d":4}']);
});

test('a character cut between two reads is decoded whole', () => {
  const { lines, splitter: s } = splitter();
  const bytes = Buffer.from('"é😀"\n');
  for (let i = 0; i < bytes.length; i++) s.push(bytes.subarray(i, i + 1));
  assert.deepEqual(lines, ['"é😀"']);
});

test('CRLF endings lose the CR; blank lines are skipped', () => {
  const { lines, splitter: s } = splitter();
  s.push(Buffer.from('one\r\n\n  \ntwo\n'));
  assert.deepEqual(lines, ['one', 'two']);
});

test('a line over the limit is reported with its size, never held, and the next line is read', () => {
  const { lines, oversized, splitter: s } = splitter(10);
  s.push(Buffer.from('short\n0123456'));
  s.push(Buffer.from('789abcdef'));
  s.push(Buffer.from('ghij\nnext\n'));
  assert.deepEqual(lines, ['short', 'next']);
  assert.deepEqual(oversized, [20]);
  s.push(Buffer.from('0123456789\n'));
  assert.deepEqual(lines, ['short', 'next', '0123456789'], 'exactly the limit is fine');
});

test('at end of input a last line without its newline still counts', () => {
  const { lines, oversized, splitter: s } = splitter(4);
  s.push(Buffer.from('ab\ncd'));
  s.end();
  assert.deepEqual(lines, ['ab', 'cd']);
  s.push(Buffer.from('toolong'));
  s.end();
  assert.deepEqual(oversized, [7]);
  s.end();
  assert.deepEqual(lines, ['ab', 'cd'], 'nothing left: end() adds nothing');
});

// NDJSON framing: bytes in, one callback per complete line out.
//
// Works on bytes, not strings, so a multi-byte character split across two
// reads is decoded whole ("\n" never occurs inside a UTF-8 sequence). A line
// longer than `maxLineBytes` is dropped as it streams by, never held whole.
const NEWLINE = 0x0a;

export interface LineHandlers {
  line(text: string): void;
  oversized(bytes: number): void;
}

export class LineSplitter {
  readonly #maxLineBytes: number;
  readonly #handlers: LineHandlers;
  readonly #decoder = new TextDecoder('utf-8');
  #parts: Buffer[] = [];
  #partBytes = 0;
  #skipping = false;

  constructor(maxLineBytes: number, handlers: LineHandlers) {
    this.#maxLineBytes = maxLineBytes;
    this.#handlers = handlers;
  }

  // Feeds one read; complete lines are handed over in order.
  push(chunk: Buffer): void {
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
      this.#collect(chunk.subarray(start, end));
      this.#finishLine();
      start = end + 1;
    }
    if (start < chunk.length) this.#collect(chunk.subarray(start));
  }

  // At end of input, a last line without its newline still counts.
  end(): void {
    if (this.#partBytes > 0 || this.#skipping) this.#finishLine();
  }

  #collect(piece: Buffer): void {
    this.#partBytes += piece.length;
    if (this.#skipping) return;
    if (this.#partBytes > this.#maxLineBytes) {
      this.#skipping = true;
      this.#parts = [];
      return;
    }
    if (piece.length > 0) this.#parts.push(piece);
  }

  #finishLine(): void {
    const bytes = this.#partBytes;
    const parts = this.#parts;
    const skipped = this.#skipping;
    this.#parts = [];
    this.#partBytes = 0;
    this.#skipping = false;
    if (skipped) {
      this.#handlers.oversized(bytes);
      return;
    }
    const text = this.#decoder.decode(parts.length === 1 ? parts[0] : Buffer.concat(parts)).replace(/\r$/, '');
    if (text.trim() !== '') this.#handlers.line(text);
  }
}

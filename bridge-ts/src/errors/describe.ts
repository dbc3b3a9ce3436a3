// Renders a received value for option and argument errors, execa-style:
// "got `-1` (number)", so the message says what was wrong, not only that.
export function describeValue(value: unknown): string {
  if (value === null) return '`null`';
  if (Array.isArray(value)) return `\`${shorten(safeJson(value))}\` (array)`;
  if (typeof value === 'string') return `\`${shorten(JSON.stringify(value))}\` (string)`;
  if (typeof value === 'function') return `a function`;
  if (typeof value === 'object') return `\`${shorten(safeJson(value))}\` (object)`;
  return `\`${String(value)}\` (${typeof value})`;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function shorten(text: string, limit = 80): string {
  return text.length > limit ? `${text.slice(0, limit - 1)}…` : text;
}

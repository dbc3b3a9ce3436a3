// Images as callers give them (a path, a URL, a base64 string, or the
// original's `{ source, format? }` with a string or Buffer source) as the
// wire takes them: strings, or `{ source, format }` with the bytes in base64.
import { describeValue } from '../errors/describe.js';
import { EngineError } from '../errors/engine-error.js';
import type { ImageSource } from '../wire/generated.js';

type WireImage = string | ImageSource;

export function wireImages(images: unknown, caller: string): WireImage | WireImage[] {
  return Array.isArray(images) ? images.map((image, index) => wireImage(image, caller, index)) : wireImage(images, caller, 0);
}

function wireImage(image: unknown, caller: string, index: number): WireImage {
  if (typeof image === 'string' || image === null || typeof image !== 'object' || !('source' in image)) return image as WireImage;
  const { source, ...rest } = image as Omit<ImageSource, 'source'> & { source: unknown };
  if (source instanceof Uint8Array) return { ...rest, source: Buffer.from(source.buffer, source.byteOffset, source.byteLength).toString('base64') };
  if (typeof source !== 'string') {
    throw EngineError.invalidOptions(`\`${caller}\`: image ${index} has a \`source\` that is ${describeValue(source)}; expected a path, a URL, base64 or a Buffer.`);
  }
  return { ...rest, source };
}

// A PNG made in memory, so the vision example needs no image file and no
// network: a colour gradient, encoded as the PNG format lays it out (the
// signature, then IHDR, IDAT and IEND chunks, each with its CRC-32; the
// pixel rows deflated with zlib). crc32 is in node:zlib since Node 20.15.
import { crc32, deflateSync } from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** An RGB PNG of `width` x `height` pixels: red grows left to right, green top to bottom, `blue` throughout. */
export function gradientPng(width: number, height: number, blue = 128): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8 bits per channel, RGB, deflate, no filter method, no interlace
  const row = 1 + width * 3; // each row starts with its filter type (0: none)
  const pixels = Buffer.alloc(row * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = y * row + 1 + x * 3;
      pixels[at] = Math.round((255 * x) / Math.max(1, width - 1));
      pixels[at + 1] = Math.round((255 * y) / Math.max(1, height - 1));
      pixels[at + 2] = blue;
    }
  }
  return Buffer.concat([SIGNATURE, chunk('IHDR', header), chunk('IDAT', deflateSync(pixels)), chunk('IEND', Buffer.alloc(0))]);
}

/** The same image as a `data:` URL, which `images` takes as it takes a file path. */
export function pngDataUrl(png: Buffer): string {
  return `data:image/png;base64,${png.toString('base64')}`;
}

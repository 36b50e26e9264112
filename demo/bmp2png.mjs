// Converts the SDL example's screenshots (uncompressed 24- or 32-bit BMP, as
// SDL_SaveBMP writes them) to PNG, so that `make check-demo-sdl` can keep them
// under tests/out/ for a person to look at. Node's own zlib: no new
// dependency (node is already needed for the grammar and the editor tests).
//
//   node demo/bmp2png.mjs IN.bmp OUT.png
import fs from 'node:fs';
import zlib from 'node:zlib';

function fail(msg) {
  process.stderr.write(`bmp2png: ${msg}\n`);
  process.exit(1);
}

/** {width, height, rgba} of an uncompressed BMP (BI_RGB or BI_BITFIELDS). */
function readBmp(buf) {
  if (buf.length < 54 || buf.toString('latin1', 0, 2) !== 'BM') fail('not a BMP file');
  const offset = buf.readUInt32LE(10);
  const headerSize = buf.readUInt32LE(14);
  const width = buf.readInt32LE(18);
  const rawHeight = buf.readInt32LE(22);
  const bpp = buf.readUInt16LE(28);
  const compression = buf.readUInt32LE(30);
  const height = Math.abs(rawHeight);
  if (width <= 0 || height === 0) fail(`bad size ${width}×${rawHeight}`);
  if (!(bpp === 24 && compression === 0) && !(bpp === 32 && (compression === 0 || compression === 3))) {
    fail(`unsupported BMP: ${bpp} bits, compression ${compression}`);
  }
  // 32-bit pixels are B, G, R, A bytes unless the header says otherwise
  let masks = [0x00ff0000, 0x0000ff00, 0x000000ff, 0xff000000];
  if (compression === 3) {
    const at = headerSize >= 52 ? 54 : 14 + headerSize; // in the header (V2+) or after it
    masks = [0, 1, 2].map((i) => buf.readUInt32LE(at + 4 * i));
    masks.push(headerSize >= 56 ? buf.readUInt32LE(at + 12) : 0);
  }
  const channel = (px, mask) => {
    if (!mask) return 255;
    const shift = Math.clz32(0) - Math.clz32(mask & -mask) - 1; // index of the lowest set bit
    return Math.round((((px & mask) >>> 0) >>> shift) * 255 / (mask >>> shift));
  };
  const stride = Math.ceil((width * bpp) / 32) * 4;
  if (offset + stride * height > buf.length) fail('truncated pixel data');
  const rgba = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    const row = offset + stride * (rawHeight > 0 ? height - 1 - y : y); // bottom-up unless negative
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      if (bpp === 24) {
        rgba[o] = buf[row + x * 3 + 2];
        rgba[o + 1] = buf[row + x * 3 + 1];
        rgba[o + 2] = buf[row + x * 3];
        rgba[o + 3] = 255;
      } else {
        const px = buf.readUInt32LE(row + x * 4);
        for (let c = 0; c < 4; c++) rgba[o + c] = channel(px, masks[c]);
      }
    }
  }
  return { width, height, rgba };
}

function crc32(bytes) {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])));
  return Buffer.concat([head, data, crc]);
}

/** An 8-bit RGBA PNG, every row with filter type 0. */
function writePng({ width, height, rgba }) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 6, 0, 0, 0], 8); // depth 8, RGBA, deflate, no filter method, no interlace
  const raw = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) rgba.copy(raw, y * (width * 4 + 1) + 1, y * width * 4, (y + 1) * width * 4);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const [input, output] = process.argv.slice(2);
if (!input || !output) fail('usage: node demo/bmp2png.mjs IN.bmp OUT.png');
fs.writeFileSync(output, writePng(readBmp(fs.readFileSync(input))));

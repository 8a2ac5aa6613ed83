/**
 * PNG masks: a small synchronous decoder to 8-bit gray and an encoder for 8-bit gray images.
 *
 * Decoding yields what OpenCV's `cv2.imread(path, cv2.IMREAD_GRAYSCALE)` yields (the call the official
 * MeViS scorer makes), following libpng's transformations without gamma: 1/2/4-bit gray is scaled to
 * 0..255, 16-bit samples keep their high byte, alpha is dropped, palette entries expand to RGB, and RGB
 * becomes gray as `(9797 R + 19234 G + 3737 B) >> 15` unless R = G = B. All bit depths, color types and
 * Adam7 interlacing are accepted; critical-chunk CRCs are checked. It is several times faster than a
 * round trip through sharp for the small mask images of an evaluation (measured in tests/metrics).
 *
 * @example
 * ```ts
 * import { decodePng, encodePng } from "./png.ts";
 * const bytes = encodePng(new Uint8Array([0, 255, 255, 0]), 2, 2);
 * const { width, height, data } = decodePng(bytes); // 2, 2, [0, 255, 255, 0]
 * ```
 * @module
 */
import { deflateSync, inflateSync } from "node:zlib";

/** A decoded image: `data` is 8-bit gray, row-major, `width * height` bytes. */
export interface GrayImage {
  width: number;
  height: number;
  data: Uint8Array;
}

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** CRC-32 (the PNG/zlib polynomial) of `bytes[start, end)`. */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = -1;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/**
 * Decodes a PNG to 8-bit gray as `cv2.IMREAD_GRAYSCALE` does. `name` (a path) goes into error messages.
 *
 * @example
 * ```ts
 * const img = decodePng(await Deno.readFile("pred/vid/0/00000.png"), "pred/vid/0/00000.png");
 * ```
 */
export function decodePng(bytes: Uint8Array, name = "PNG"): GrayImage {
  const fail = (msg: string): never => {
    throw new Error(`${name}: ${msg}`);
  };
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) fail("not a PNG file (bad signature)");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let width = 0, height = 0, depth = 0, colorType = -1, interlace = 0;
  let palette: Uint8Array | null = null;
  const idat: Uint8Array[] = [];
  let idatLength = 0;
  let pos = 8;
  let ended = false;
  while (pos + 12 <= bytes.length) {
    const length = view.getUint32(pos);
    const type = String.fromCharCode(bytes[pos + 4], bytes[pos + 5], bytes[pos + 6], bytes[pos + 7]);
    const start = pos + 8;
    const end = start + length;
    if (end + 4 > bytes.length) fail(`chunk ${type} runs past the end of the file`);
    // libpng rejects a bad CRC on critical chunks (upper-case first letter) and ignores ancillary ones.
    if (type.charCodeAt(0) < 97 && crc32(bytes, pos + 4, end) !== view.getUint32(end)) {
      fail(`CRC mismatch in chunk ${type}`);
    }
    if (type === "IHDR") {
      if (length !== 13) fail("IHDR chunk has the wrong length");
      width = view.getUint32(start);
      height = view.getUint32(start + 4);
      depth = bytes[start + 8];
      colorType = bytes[start + 9];
      interlace = bytes[start + 12];
    } else if (type === "PLTE") {
      palette = bytes.subarray(start, end);
    } else if (type === "IDAT") {
      idat.push(bytes.subarray(start, end));
      idatLength += length;
    } else if (type === "IEND") {
      ended = true;
      break;
    }
    pos = end + 4;
  }
  if (colorType < 0) fail("missing IHDR chunk");
  if (!ended) fail("truncated file (no IEND chunk)");
  if (width === 0 || height === 0) fail(`invalid size ${width}x${height}`);
  const channels = ({ 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as Record<number, number>)[colorType];
  const okDepth = colorType === 0 ? [1, 2, 4, 8, 16] : colorType === 3 ? [1, 2, 4, 8] : [8, 16];
  if (channels === undefined || !okDepth.includes(depth)) {
    fail(`unsupported color type ${colorType} with bit depth ${depth}`);
  }
  if (colorType === 3 && palette === null) fail("palette image without a PLTE chunk");
  if (interlace > 1) fail(`unknown interlace method ${interlace}`);

  let compressed: Uint8Array;
  if (idat.length === 1) compressed = idat[0];
  else {
    compressed = new Uint8Array(idatLength);
    let o = 0;
    for (const c of idat) {
      compressed.set(c, o);
      o += c.length;
    }
  }
  let raw: Uint8Array;
  try {
    raw = inflateSync(compressed);
  } catch (e) {
    return fail(`corrupt image data (${(e as Error).message})`);
  }

  const bitsPerPixel = channels * depth;
  const bpp = Math.max(1, bitsPerPixel >> 3); // filter distance in bytes
  const out = new Uint8Array(width * height);
  const toGray = grayConverter(colorType, depth, palette, fail);
  const direct = colorType === 0 && depth === 8 && interlace === 0;
  // Adam7 passes as [x0, y0, dx, dy]; a plain image is one pass covering everything.
  const passes = interlace === 1
    ? [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]]
    : [[0, 0, 1, 1]];
  let offset = 0;
  for (const [x0, y0, dx, dy] of passes) {
    const pw = Math.ceil((width - x0) / dx);
    const ph = Math.ceil((height - y0) / dy);
    if (pw <= 0 || ph <= 0) continue;
    const stride = Math.ceil((pw * bitsPerPixel) / 8);
    if (offset + ph * (stride + 1) > raw.length) fail("image data is shorter than the image size needs");
    if (direct) {
      // 8-bit gray, not interlaced: rows are unfiltered straight into the output.
      let prev = new Uint8Array(stride);
      for (let y = 0; y < ph; y++) {
        const cur = out.subarray(y * width, (y + 1) * width);
        unfilter(raw[offset], raw.subarray(offset + 1, offset + 1 + stride), prev, cur, 1) ||
          fail(`unknown filter type ${raw[offset]} on row ${y}`);
        offset += stride + 1;
        prev = cur;
      }
      continue;
    }
    let prev = new Uint8Array(stride);
    let cur = new Uint8Array(stride);
    for (let y = 0; y < ph; y++) {
      const filter = raw[offset];
      unfilter(filter, raw.subarray(offset + 1, offset + 1 + stride), prev, cur, bpp) ||
        fail(`unknown filter type ${filter} on row ${y}`);
      offset += stride + 1;
      toGray(cur, pw, out, (y0 + y * dy) * width + x0, dx);
      const t = prev;
      prev = cur;
      cur = t;
    }
  }
  return { width, height, data: out };
}

/** Reverses one scanline's filter into `cur` (given the previous reconstructed line); false if unknown. */
function unfilter(
  filter: number,
  line: Uint8Array,
  prev: Uint8Array,
  cur: Uint8Array,
  bpp: number,
): boolean {
  const n = line.length;
  const head = Math.min(bpp, n); // the first pixel has no left neighbour
  switch (filter) {
    case 0:
      cur.set(line);
      return true;
    case 1:
      for (let i = 0; i < head; i++) cur[i] = line[i];
      for (let i = head; i < n; i++) cur[i] = line[i] + cur[i - bpp];
      return true;
    case 2:
      for (let i = 0; i < n; i++) cur[i] = line[i] + prev[i];
      return true;
    case 3:
      for (let i = 0; i < head; i++) cur[i] = line[i] + (prev[i] >> 1);
      for (let i = head; i < n; i++) cur[i] = line[i] + ((cur[i - bpp] + prev[i]) >> 1);
      return true;
    case 4:
      for (let i = 0; i < head; i++) cur[i] = line[i] + prev[i];
      for (let i = head; i < n; i++) {
        const a = cur[i - bpp];
        const b = prev[i];
        const c = prev[i - bpp];
        const p = a + b - c;
        const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        cur[i] = line[i] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
      }
      return true;
    default:
      return false;
  }
}

type RowToGray = (row: Uint8Array, n: number, out: Uint8Array, at: number, step: number) => void;

/** libpng's integer RGB to gray (no gamma): exact when the channels agree, else truncated weights. */
function rgbGray(r: number, g: number, b: number): number {
  return r === g && r === b ? r : (9797 * r + 19234 * g + 3737 * b) >> 15;
}

/** libpng's 16-bit RGB to gray (rounded), then the high byte (strip to 8 bits). */
function rgbGray16(r: number, g: number, b: number): number {
  return ((9797 * r + 19234 * g + 3737 * b + 16384) >>> 15) >> 8;
}

function grayConverter(
  colorType: number,
  depth: number,
  palette: Uint8Array | null,
  fail: (msg: string) => never,
): RowToGray {
  if (colorType === 0 && depth === 8) {
    return (row, n, out, at, step) => {
      if (step === 1) out.set(row.subarray(0, n), at);
      else for (let i = 0; i < n; i++) out[at + i * step] = row[i];
    };
  }
  if (colorType === 0 && depth === 16) {
    return (row, n, out, at, step) => step1(n, out, at, step, (i) => row[2 * i]);
  }
  if (colorType === 0 || colorType === 3) {
    const lut = new Uint8Array(256);
    if (colorType === 0) {
      const scale = 255 / ((1 << depth) - 1);
      for (let v = 0; v < 1 << depth; v++) lut[v] = v * scale;
    } else {
      const entries = palette!.length / 3;
      for (let v = 0; v < entries; v++) {
        lut[v] = rgbGray(palette![3 * v], palette![3 * v + 1], palette![3 * v + 2]);
      }
    }
    const entries = colorType === 3 ? palette!.length / 3 : 256;
    const mask = (1 << depth) - 1;
    const perByte = 8 / depth;
    return (row, n, out, at, step) => {
      for (let i = 0; i < n; i++) {
        const shift = 8 - depth * (1 + (i % perByte));
        const v = (row[Math.floor(i / perByte)] >> shift) & mask;
        if (v >= entries) fail(`palette index ${v} is out of range (${entries} entries)`);
        out[at + i * step] = lut[v];
      }
    };
  }
  if (colorType === 4) {
    return depth === 8
      ? (row, n, out, at, step) => step1(n, out, at, step, (i) => row[2 * i])
      : (row, n, out, at, step) => step1(n, out, at, step, (i) => row[4 * i]);
  }
  const c = colorType === 2 ? 3 : 4; // RGB or RGBA (alpha dropped)
  if (depth === 8) {
    return (row, n, out, at, step) =>
      step1(n, out, at, step, (i) => rgbGray(row[c * i], row[c * i + 1], row[c * i + 2]));
  }
  const w16 = (row: Uint8Array, j: number) => (row[j] << 8) | row[j + 1];
  return (row, n, out, at, step) =>
    step1(
      n,
      out,
      at,
      step,
      (i) => rgbGray16(w16(row, 2 * c * i), w16(row, 2 * c * i + 2), w16(row, 2 * c * i + 4)),
    );
}

function step1(n: number, out: Uint8Array, at: number, step: number, value: (i: number) => number): void {
  for (let i = 0; i < n; i++) out[at + i * step] = value(i);
}

/**
 * Encodes an 8-bit gray image (row-major `width * height` bytes) as a non-interlaced PNG.
 *
 * @example
 * ```ts
 * await Deno.writeFile("mask.png", encodePng(new Uint8Array([0, 255, 255, 0]), 2, 2));
 * ```
 */
export function encodePng(gray: Uint8Array, width: number, height: number, level = 6): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`encodePng: invalid size ${width}x${height}`);
  }
  if (gray.length !== width * height) {
    throw new Error(`encodePng: ${gray.length} bytes given for a ${width}x${height} image`);
  }
  // Filter type 0 on every row: masks are long runs, which deflate handles well without filtering.
  const raw = new Uint8Array(height * (width + 1));
  for (let y = 0; y < height; y++) raw.set(gray.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // gray
  const chunks = [
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw, { level })),
    chunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(8 + chunks.reduce((s, c) => s + c.length, 0));
  out.set(SIGNATURE);
  let o = 8;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/**
 * Encodes a binary mask (nonzero = foreground) as a 0/255 gray PNG, the format of MeViS predictions.
 *
 * @example
 * ```ts
 * const png = encodeMaskPng(new Uint8Array([0, 1, 1, 0]), 2, 2); // decodes to [0, 255, 255, 0]
 * ```
 */
export function encodeMaskPng(mask: ArrayLike<number>, width: number, height: number): Uint8Array {
  const gray = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) gray[i] = mask[i] !== 0 ? 255 : 0;
  return encodePng(gray, width, height);
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  v.setUint32(8 + data.length, crc32(out, 4, 8 + data.length));
  return out;
}

/**
 * Image resizing that reproduces Pillow byte for byte, because detectron2 (and so the original DsHmp) resizes
 * every input frame with PIL `BILINEAR` and every mask with PIL `NEAREST`.
 *
 * - {@link resizeBilinear} is Pillow's separable convolution resampler for 8-bit images: a triangle filter
 *   whose support widens by the shrink factor (so shrinking is antialiased), weights normalised in float64,
 *   then rounded to 22-bit fixed point; the horizontal pass runs first and its result is rounded to uint8
 *   before the vertical pass.
 * - {@link resizeNearest} is Pillow's nearest-neighbour scaling: source index `trunc(0.5 * s + i * s)` with
 *   `s = in / out`, the position accumulated by repeated float64 addition as Pillow does.
 *
 * Images are interleaved (HWC) `Uint8Array`s with any channel count; a mask is a one-channel image.
 *
 * @example
 * ```ts
 * import { resizeBilinear, resizeNearest } from "./resize.ts";
 * const rgb = { data: new Uint8Array(4 * 6 * 3), height: 4, width: 6, channels: 3 };
 * const small = resizeBilinear(rgb, 3, 4); // { height: 3, width: 4, channels: 3, data: ... }
 * const mask = { data: new Uint8Array(4 * 6), height: 4, width: 6, channels: 1 };
 * const bigger = resizeNearest(mask, 8, 12);
 * ```
 * @module
 */

import type { ImageU8 } from "../io/image.ts";

/**
 * Pillow's fixed-point precision for 8-bit resampling: 32 bits less 8 for the value and 2 for overflow.
 * With non-negative weights summing to about 2^22, every product and sum stays below 2^31, so 32-bit
 * integer arithmetic (`Math.imul`, `| 0`, an `Int32Array`) is exact.
 */
const PRECISION_BITS = 22;
const HALF = 1 << (PRECISION_BITS - 1);

/** Per-output-pixel filter windows: first source index, tap count and fixed-point weights. */
interface Coefficients {
  /** `ksize` weights per output pixel; unused taps are zero. */
  weights: Int32Array;
  /** First source index of each output pixel. */
  start: Int32Array;
  /** Number of taps of each output pixel. */
  count: Int32Array;
  ksize: number;
}

function bilinearFilter(x: number): number {
  if (x < 0) x = -x;
  return x < 1 ? 1 - x : 0;
}

/** Filter windows for resizing `inSize` samples to `outSize`, as Pillow's `precompute_coeffs` does. */
function precomputeCoefficients(inSize: number, outSize: number): Coefficients {
  const scale = inSize / outSize;
  const filterScale = scale < 1 ? 1 : scale;
  // Widening the support by the shrink factor is what makes a downscale antialiased.
  const support = 1 * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const weights = new Int32Array(outSize * ksize);
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const invFilterScale = 1 / filterScale;
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    // C's (int) cast truncates toward zero.
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = bilinearFilter((x + xmin - center + 0.5) * invFilterScale);
      k[x] = w;
      ww += w;
    }
    const base = xx * ksize;
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x] / ww : k[x];
      // Pillow's rounding of a non-negative weight (the triangle filter has no negative lobe).
      weights[base + x] = Math.trunc(0.5 + w * (1 << PRECISION_BITS));
    }
    start[xx] = xmin;
    count[xx] = xmax;
  }
  return { weights, start, count, ksize };
}

/** Rounds a fixed-point accumulator to uint8 with Pillow's clamp. */
function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

function horizontalPass(src: ImageU8, outWidth: number): ImageU8 {
  const { height, width, channels: c } = src;
  const { weights, start, count, ksize } = precomputeCoefficients(width, outWidth);
  const out = new Uint8Array(height * outWidth * c);
  const input = src.data;
  for (let y = 0; y < height; y++) {
    const rowIn = y * width * c;
    let q = y * outWidth * c;
    for (let xx = 0; xx < outWidth; xx++) {
      const kb = xx * ksize;
      const n = count[xx];
      let p = rowIn + start[xx] * c;
      if (c === 3) {
        // The common RGB case: all three channels in one sweep over the taps, as Pillow does.
        let s0 = HALF, s1 = HALF, s2 = HALF;
        for (let x = 0; x < n; x++, p += 3) {
          const k = weights[kb + x];
          s0 = (s0 + Math.imul(input[p], k)) | 0;
          s1 = (s1 + Math.imul(input[p + 1], k)) | 0;
          s2 = (s2 + Math.imul(input[p + 2], k)) | 0;
        }
        out[q++] = clip8(s0);
        out[q++] = clip8(s1);
        out[q++] = clip8(s2);
      } else {
        for (let ch = 0; ch < c; ch++, p++) {
          let ss = HALF;
          for (let x = 0, pp = p; x < n; x++, pp += c) ss += input[pp] * weights[kb + x];
          out[q++] = clip8(ss);
        }
      }
    }
  }
  return { data: out, height, width: outWidth, channels: c };
}

function verticalPass(src: ImageU8, outHeight: number): ImageU8 {
  const { height, width, channels: c } = src;
  const { weights, start, count, ksize } = precomputeCoefficients(height, outHeight);
  const rowLen = width * c;
  const out = new Uint8Array(outHeight * rowLen);
  const input = src.data;
  const acc = new Int32Array(rowLen);
  for (let yy = 0; yy < outHeight; yy++) {
    const kb = yy * ksize;
    const n = count[yy];
    acc.fill(HALF);
    // Row-major accumulation visits memory in order; the integer sums are the same as Pillow's.
    for (let y = 0; y < n; y++) {
      const k = weights[kb + y];
      const rowIn = (start[yy] + y) * rowLen;
      for (let i = 0; i < rowLen; i++) acc[i] += Math.imul(input[rowIn + i], k);
    }
    const rowOut = yy * rowLen;
    for (let i = 0; i < rowLen; i++) out[rowOut + i] = clip8(acc[i]);
  }
  return { data: out, height: outHeight, width, channels: c };
}

function checkImage(img: ImageU8, newHeight: number, newWidth: number, what: string): void {
  const { data, height, width, channels } = img;
  if (!(data instanceof Uint8Array)) throw new Error(`${what}: image data must be a Uint8Array`);
  for (const [name, v] of [["height", height], ["width", width], ["channels", channels]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new Error(`${what}: image ${name} must be a positive integer, got ${v}`);
    }
  }
  if (data.length !== height * width * channels) {
    throw new Error(
      `${what}: image data has ${data.length} bytes, expected ${height}x${width}x${channels} = ${
        height * width * channels
      }`,
    );
  }
  if (!Number.isInteger(newHeight) || !Number.isInteger(newWidth) || newHeight < 1 || newWidth < 1) {
    throw new Error(`${what}: target size must be positive integers, got ${newHeight}x${newWidth}`);
  }
}

function copyImage(img: ImageU8): ImageU8 {
  return { data: img.data.slice(), height: img.height, width: img.width, channels: img.channels };
}

/**
 * Resizes an 8-bit HWC image to `newHeight` x `newWidth` exactly as Pillow's
 * `Image.resize((newWidth, newHeight), Image.BILINEAR)` does (antialiased when shrinking).
 * Returns a new image; the same size gives a copy.
 *
 * @example
 * ```ts
 * import { resizeBilinear } from "./resize.ts";
 * const img = { data: new Uint8Array([0, 255, 0, 255]), height: 1, width: 4, channels: 1 };
 * resizeBilinear(img, 1, 2).data; // Uint8Array [128, 128]
 * ```
 */
export function resizeBilinear(img: ImageU8, newHeight: number, newWidth: number): ImageU8 {
  checkImage(img, newHeight, newWidth, "resizeBilinear");
  const needH = newWidth !== img.width;
  const needV = newHeight !== img.height;
  if (!needH && !needV) return copyImage(img);
  // Horizontal first even for very tall images: the vertical-first order Pillow adopted in 2026 came
  // after the original's environment.
  const h = needH ? horizontalPass(img, newWidth) : img;
  return needV ? verticalPass(h, newHeight) : h;
}

/** Source indices of nearest scaling, with the float64 position accumulated step by step as Pillow does. */
function nearestIndices(inSize: number, outSize: number): Int32Array {
  const step = inSize / outSize;
  const idx = new Int32Array(outSize);
  let pos = step * 0.5;
  for (let i = 0; i < outSize; i++) {
    const j = Math.trunc(pos);
    // Pillow leaves a pixel whose source falls outside the image at zero (only rounding could cause it).
    idx[i] = j < inSize ? j : -1;
    pos += step;
  }
  return idx;
}

/**
 * Resizes an 8-bit HWC image (typically a one-channel mask) exactly as Pillow's
 * `Image.resize((newWidth, newHeight), Image.NEAREST)` does; detectron2 resizes segmentation masks this way.
 *
 * @example
 * ```ts
 * import { resizeNearest } from "./resize.ts";
 * const mask = { data: new Uint8Array([0, 1, 1, 0]), height: 2, width: 2, channels: 1 };
 * resizeNearest(mask, 4, 4).data; // each source pixel becomes a 2x2 block
 * ```
 */
export function resizeNearest(img: ImageU8, newHeight: number, newWidth: number): ImageU8 {
  checkImage(img, newHeight, newWidth, "resizeNearest");
  if (newHeight === img.height && newWidth === img.width) return copyImage(img);
  const { width, channels: c, data } = img;
  const xs = nearestIndices(width, newWidth);
  const ys = nearestIndices(img.height, newHeight);
  const out = new Uint8Array(newHeight * newWidth * c);
  for (let y = 0; y < newHeight; y++) {
    if (ys[y] < 0) continue;
    const rowIn = ys[y] * width * c;
    const rowOut = y * newWidth * c;
    for (let x = 0; x < newWidth; x++) {
      if (xs[x] < 0) continue;
      const p = rowIn + xs[x] * c;
      const q = rowOut + x * c;
      for (let ch = 0; ch < c; ch++) out[q + ch] = data[p + ch];
    }
  }
  return { data: out, height: newHeight, width: newWidth, channels: c };
}

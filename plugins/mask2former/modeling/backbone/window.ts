/**
 * Window helpers of the Swin Transformer: cutting a `[B, H, W, C]` map into non-overlapping
 * `ws x ws` windows and back ({@link windowPartition}, {@link windowReverse}), the relative position
 * index that looks up the bias table ({@link relativePositionIndex}), and the additive mask of the
 * shifted windows ({@link shiftedWindowMask}).
 *
 * @example
 * ```ts
 * import { windowPartition, windowReverse } from "./window.ts";
 * import * as ops from "../../../../core/tensor/ops.ts";
 * const x = ops.randn([2, 14, 21, 8]);
 * const w = windowPartition(x, 7); // [2 * 2 * 3, 7, 7, 8]
 * const y = windowReverse(w, 7, 14, 21); // equal to x
 * ```
 * @module
 */
import * as ops from "../../../../core/tensor/ops.ts";
import type { Tensor } from "../../../../core/tensor/ops.ts";

/**
 * Splits `x` `[B, H, W, C]` (H and W multiples of `windowSize`) into windows
 * `[B * H/ws * W/ws, ws, ws, C]`, ordered by sample, then window row, then window column.
 *
 * @example
 * ```ts
 * import { windowPartition } from "./window.ts";
 * import * as ops from "../../../../core/tensor/ops.ts";
 * windowPartition(ops.ones([1, 14, 14, 3]), 7).shape; // [4, 7, 7, 3]
 * ```
 */
export function windowPartition(x: Tensor, windowSize: number): Tensor {
  const [b, h, w, c] = x.shape;
  if (x.rank !== 4 || h % windowSize !== 0 || w % windowSize !== 0) {
    throw new Error(`windowPartition: [${x.shape}] is not [B, H, W, C] with H, W multiples of ${windowSize}`);
  }
  return ops.tidy(() => {
    const grid = ops.reshape(x, [b, h / windowSize, windowSize, w / windowSize, windowSize, c]);
    return ops.reshape(ops.permute(grid, [0, 1, 3, 2, 4, 5]), [-1, windowSize, windowSize, c]);
  });
}

/**
 * The inverse of {@link windowPartition}: windows `[B * H/ws * W/ws, ws, ws, C]` back to
 * `[B, H, W, C]`.
 *
 * @example
 * ```ts
 * import { windowReverse } from "./window.ts";
 * import * as ops from "../../../../core/tensor/ops.ts";
 * windowReverse(ops.ones([4, 7, 7, 3]), 7, 14, 14).shape; // [1, 14, 14, 3]
 * ```
 */
export function windowReverse(windows: Tensor, windowSize: number, h: number, w: number): Tensor {
  const perSample = (h / windowSize) * (w / windowSize);
  const b = windows.shape[0] / perSample;
  if (!Number.isInteger(b)) {
    throw new Error(`windowReverse: ${windows.shape[0]} windows do not tile ${h}x${w} maps of ${windowSize}`);
  }
  return ops.tidy(() => {
    const grid = ops.reshape(windows, [b, h / windowSize, w / windowSize, windowSize, windowSize, -1]);
    return ops.reshape(ops.permute(grid, [0, 1, 3, 2, 4, 5]), [b, h, w, -1]);
  });
}

/**
 * For every pair of positions (i, j) of a `wh x ww` window (row-major), the row of the bias table
 * `[(2wh-1)(2ww-1), heads]` holding their relative offset: `(dy + wh-1) * (2ww-1) + (dx + ww-1)` with
 * `dy = y_i - y_j`, `dx = x_i - x_j`. Returned flat, `[wh*ww, wh*ww]` row-major.
 *
 * @example
 * ```ts
 * import { relativePositionIndex } from "./window.ts";
 * const idx = relativePositionIndex(7, 7); // 49 * 49 entries in [0, 169)
 * idx[0]; // 84: a position with itself sits at the table's centre
 * ```
 */
export function relativePositionIndex(wh: number, ww: number): Int32Array {
  const n = wh * ww;
  const out = new Int32Array(n * n);
  for (let i = 0; i < n; i++) {
    const yi = Math.floor(i / ww);
    const xi = i % ww;
    for (let j = 0; j < n; j++) {
      const dy = yi - Math.floor(j / ww) + wh - 1;
      const dx = xi - (j % ww) + ww - 1;
      out[i * n + j] = dy * (2 * ww - 1) + dx;
    }
  }
  return out;
}

/** `[start, stop)` of Python's `slice(start, stop)` over a length `n` axis (negative = from the end). */
function pySlice(start: number, stop: number | null, n: number): [number, number] {
  const at = (i: number) => Math.min(n, Math.max(0, i < 0 ? n + i : i));
  return [at(start), stop === null ? n : at(stop)];
}

/**
 * The additive attention mask of shifted-window attention on a padded `hp x wp` map: after rolling
 * the map by `-shift`, the positions that came from different regions must not attend to each other.
 * Regions are the bands `[0, -ws)`, `[-ws, -shift)`, `[-shift, end)` along each axis (Python slices,
 * so on a map of a single window the first band is empty); pairs from different regions get
 * `maskValue` (-100 in Swin), others 0. Returned flat, `[nW, ws*ws, ws*ws]` with windows in
 * {@link windowPartition}'s order.
 *
 * @example
 * ```ts
 * import { shiftedWindowMask } from "./window.ts";
 * const m = shiftedWindowMask(7, 7, 7, 3); // one window: 49 * 49 entries of 0 or -100
 * ```
 */
export function shiftedWindowMask(
  hp: number,
  wp: number,
  windowSize: number,
  shift: number,
  maskValue = -100,
): Float32Array {
  if (hp % windowSize !== 0 || wp % windowSize !== 0) {
    throw new Error(`shiftedWindowMask: ${hp}x${wp} is not a multiple of the window ${windowSize}`);
  }
  const bands = (n: number) => [
    pySlice(0, -windowSize, n),
    pySlice(-windowSize, -shift, n),
    pySlice(-shift, null, n),
  ];
  // Region label per pixel, later bands overwriting earlier ones as the original's slice assignment does.
  const label = new Int32Array(hp * wp);
  let cnt = 0;
  for (const [h0, h1] of bands(hp)) {
    for (const [w0, w1] of bands(wp)) {
      for (let y = h0; y < h1; y++) label.fill(cnt, y * wp + w0, y * wp + w1);
      cnt++;
    }
  }
  const n = windowSize * windowSize;
  const nwh = hp / windowSize;
  const nww = wp / windowSize;
  const out = new Float32Array(nwh * nww * n * n);
  const win = new Int32Array(n);
  for (let a = 0; a < nwh; a++) {
    for (let b = 0; b < nww; b++) {
      for (let i = 0; i < n; i++) {
        win[i] =
          label[(a * windowSize + Math.floor(i / windowSize)) * wp + b * windowSize + (i % windowSize)];
      }
      const base = (a * nww + b) * n * n;
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) if (win[i] !== win[j]) out[base + i * n + j] = maskValue;
      }
    }
  }
  return out;
}

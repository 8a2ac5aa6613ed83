/**
 * Boundary accuracy F of the DAVIS/MeViS benchmarks (`db_eval_boundary` / `f_measure`, `bound_th` 0.008).
 *
 * The boundary of a mask (`seg2bmap`) is every pixel that differs from its east, south or south-east
 * neighbour; on the last row only east counts, on the last column only south, and the bottom-right
 * pixel is never a boundary (so a full-frame mask has none). A boundary pixel of one mask is matched
 * when the other mask has a boundary pixel inside the disk `dx^2 + dy^2 <= r^2` around it (skimage's
 * `disk(r)` used as a cv2.dilate kernel, clipped at the image edge), `r = ceil(0.008 * sqrt(h^2 + w^2))`.
 * Precision = matched prediction boundary / prediction boundary, recall likewise for the ground truth,
 * F = 2PR / (P + R) with the official edge cases (both boundaries empty: 1; one empty: 0).
 *
 * Only boundary pixels matter, so instead of dilating dense images this keeps each boundary as sorted
 * x lists per row and, for a pixel, looks in the other boundary's rows `y - r .. y + r` for an x within
 * the disk's half-width of that row (a binary search per row, nearest rows first, stopping at a hit).
 *
 * Masks are row-major (`h * w`, index `y * w + x`); nonzero = foreground.
 *
 * @example
 * ```ts
 * import { boundaryF } from "./boundary.ts";
 * const gt = new Uint8Array(100).fill(1, 20, 60); // rows 2..5 of a 10x10 frame
 * const pred = new Uint8Array(100).fill(1, 30, 60);
 * boundaryF(gt, pred, 10, 10); // 1: every boundary pixel has a partner within r = 1
 * ```
 * @module
 */

/** The boundary bound of the benchmarks: a fraction of the image diagonal. */
export const BOUND_TH = 0.008;

/** Boundary pixels of a mask: row `y` holds `xs[rowStart[y] .. rowStart[y + 1])`, ascending. */
export interface Boundary {
  height: number;
  width: number;
  count: number;
  rowStart: Int32Array;
  xs: Int32Array;
}

/** Counts behind one frame's F, as the official code would compute them. */
export interface BoundaryStats {
  /** The dilation radius in pixels. */
  boundPix: number;
  nPredBoundary: number;
  nGtBoundary: number;
  /** Prediction boundary pixels with a ground-truth boundary pixel within the disk. */
  predMatched: number;
  /** Ground-truth boundary pixels with a prediction boundary pixel within the disk. */
  gtMatched: number;
  f: number;
}

/**
 * The disk radius of `f_measure`: `bound_th` itself when it is at least 1, else
 * `ceil(bound_th * ||(h, w)||)` (numpy's norm: the square root of the sum of squares).
 *
 * @example
 * ```ts
 * boundPixels(720, 1280); // 12
 * ```
 */
export function boundPixels(h: number, w: number, boundTh = BOUND_TH): number {
  return boundTh >= 1 ? boundTh : Math.ceil(boundTh * Math.sqrt(h * h + w * w));
}

/**
 * skimage's `disk(r)`: a `(2r + 1) x (2r + 1)` row-major 0/1 array, 1 where `x^2 + y^2 <= r^2` for
 * integer offsets from the centre. Kept for reference and tests; matching uses {@link diskHalfWidths}.
 *
 * @example
 * ```ts
 * disk(1); // [0, 1, 0, 1, 1, 1, 0, 1, 0]
 * ```
 */
export function disk(r: number): Uint8Array {
  const n = 2 * Math.floor(r) + 1;
  const c = Math.floor(r);
  const out = new Uint8Array(n * n);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) out[y * n + x] = (x - c) ** 2 + (y - c) ** 2 <= r * r ? 1 : 0;
  }
  return out;
}

/**
 * For `dy = 0 .. r`, the largest `dx` with `dx^2 + dy^2 <= r^2`: the disk's half-width on each row.
 *
 * @example
 * ```ts
 * diskHalfWidths(2); // [2, 1, 0]
 * ```
 */
export function diskHalfWidths(r: number): Int32Array {
  const R = Math.floor(r);
  const out = new Int32Array(R + 1);
  for (let dy = 0; dy <= R; dy++) {
    let dx = 0;
    // Integer test, the same comparison skimage makes, so no square-root rounding can creep in.
    while ((dx + 1) * (dx + 1) + dy * dy <= r * r) dx++;
    out[dy] = dx;
  }
  return out;
}

/** Per row, the first and last foreground x (`lo > hi` for an empty row). */
export interface RowSpans {
  lo: Int32Array;
  hi: Int32Array;
}

/**
 * First and last foreground pixel of every row. Background rows are skipped four bytes at a time, which
 * is what makes the later passes cheap: they only visit the columns between these bounds.
 *
 * @example
 * ```ts
 * rowSpans(new Uint8Array([0, 1, 1, 0, 0, 0]), 2, 3); // lo [1, 3], hi [2, -1]
 * ```
 */
export function rowSpans(mask: ArrayLike<number>, h: number, w: number): RowSpans {
  const lo = new Int32Array(h).fill(w);
  const hi = new Int32Array(h).fill(-1);
  const words = mask instanceof Uint8Array && mask.byteOffset % 4 === 0
    ? new Uint32Array(mask.buffer, mask.byteOffset, mask.length >> 2)
    : null;
  for (let y = 0; y < h; y++) {
    const r = y * w;
    let x = 0;
    if (words) {
      // Bytes up to a word boundary, then whole words while they are zero.
      while (x < w && ((r + x) & 3) !== 0 && mask[r + x] === 0) x++;
      if (x < w && ((r + x) & 3) === 0) {
        let k = (r + x) >> 2;
        const kEnd = (r + w) >> 2;
        while (k < kEnd && words[k] === 0) k++;
        x = (k << 2) - r;
      }
    }
    while (x < w && mask[r + x] === 0) x++;
    if (x === w) continue;
    lo[y] = x;
    let z = w - 1;
    if (words) {
      while (z > x && ((r + z + 1) & 3) !== 0 && mask[r + z] === 0) z--;
      if (z > x && ((r + z + 1) & 3) === 0) {
        let k = ((r + z + 1) >> 2) - 1;
        const kStart = (r + x + 4) >> 2;
        while (k >= kStart && words[k] === 0) k--;
        z = ((k + 1) << 2) - 1 - r;
      }
    }
    while (mask[r + z] === 0) z--;
    hi[y] = z;
  }
  return { lo, hi };
}

let scratch = new Int32Array(0);

/**
 * The boundary (`_seg2bmap`) of a mask as per-row sorted x lists. `spans` ({@link rowSpans} of the
 * same mask) may be passed when already computed.
 *
 * @example
 * ```ts
 * const b = boundary(new Uint8Array([1, 1, 0, 0]), 2, 2); // the top row differs from the one below
 * b.count; // 2
 * b.xs; // [0, 1] (both in row 0: b.rowStart = [0, 2, 2])
 * ```
 */
export function boundary(mask: ArrayLike<number>, h: number, w: number, spans?: RowSpans): Boundary {
  if (mask.length !== h * w) throw new Error(`mask has ${mask.length} pixels, expected ${h}x${w}`);
  const { lo, hi } = spans ?? rowSpans(mask, h, w);
  if (scratch.length < h * w) scratch = new Int32Array(h * w);
  const xs = scratch;
  const rowStart = new Int32Array(h + 1);
  let n = 0;
  for (let y = 0; y < h; y++) {
    rowStart[y] = n;
    const r = y * w;
    if (y < h - 1) {
      // Left of both rows' foreground (and right of it) all four neighbours are background, except
      // the pixel just left of the foreground, whose east or south-east neighbour is foreground.
      const x0 = Math.max(0, Math.min(lo[y], lo[y + 1]) - 1);
      const x1 = Math.max(hi[y], hi[y + 1]);
      if (x1 < 0) continue;
      const s = r + w;
      let a = mask[r + x0] !== 0;
      let aS = mask[s + x0] !== 0;
      const xe = Math.min(x1, w - 2);
      for (let x = x0; x <= xe; x++) {
        // a / aS: this pixel and the one below; b / bS: their east neighbours.
        const b = mask[r + x + 1] !== 0;
        const bS = mask[s + x + 1] !== 0;
        if (a !== b || a !== aS || a !== bS) xs[n++] = x;
        a = b;
        aS = bS;
      }
      if (x1 === w - 1 && (mask[r + w - 1] !== 0) !== (mask[s + w - 1] !== 0)) xs[n++] = w - 1;
    } else {
      if (hi[y] < 0) continue;
      const x0 = Math.max(0, lo[y] - 1);
      const xe = Math.min(hi[y], w - 2);
      let a = mask[r + x0] !== 0;
      for (let x = x0; x <= xe; x++) {
        const b = mask[r + x + 1] !== 0;
        if (a !== b) xs[n++] = x;
        a = b;
      }
    }
  }
  rowStart[h] = n;
  return { height: h, width: w, count: n, rowStart, xs: xs.slice(0, n) };
}

/**
 * The dense boundary map of `_seg2bmap` (row-major 0/1), for inspection and tests.
 *
 * @example
 * ```ts
 * seg2bmap(new Uint8Array([1, 0, 0, 0]), 2, 2); // [1, 0, 0, 0]
 * ```
 */
export function seg2bmap(mask: ArrayLike<number>, h: number, w: number): Uint8Array {
  const b = boundary(mask, h, w);
  const out = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let i = b.rowStart[y]; i < b.rowStart[y + 1]; i++) out[y * w + b.xs[i]] = 1;
  }
  return out;
}

/**
 * How many pixels of boundary `a` have a pixel of boundary `b` within the disk of radius `r`, i.e. the
 * sum of `a * cv2.dilate(b, disk(r))`.
 *
 * @example
 * ```ts
 * const a = boundary(gtMask, h, w), b = boundary(predMask, h, w);
 * const recallHits = matchedCount(a, b, boundPixels(h, w));
 * ```
 */
export function matchedCount(a: Boundary, b: Boundary, r: number): number {
  if (a.height !== b.height || a.width !== b.width) {
    throw new Error(`boundaries of ${a.height}x${a.width} and ${b.height}x${b.width} cannot be matched`);
  }
  if (a.count === 0 || b.count === 0) return 0;
  const half = diskHalfWidths(r);
  const R = half.length - 1;
  const h = a.height;
  const bStart = b.rowStart, bx = b.xs;
  let matched = 0;
  for (let y = 0; y < h; y++) {
    const end = a.rowStart[y + 1];
    if (a.rowStart[y] === end) continue;
    // Skip a's row at once when b has no pixel in the band of rows the disk reaches.
    const lo = Math.max(0, y - R), hi = Math.min(h - 1, y + R);
    if (bStart[lo] === bStart[hi + 1]) continue;
    for (let i = a.rowStart[y]; i < end; i++) {
      const x = a.xs[i];
      // Rows in the order 0, -1, +1, -2, +2, ...: a match is usually close.
      for (let k = 0; k <= 2 * R; k++) {
        const dy = k & 1 ? -((k + 1) >> 1) : k >> 1;
        const yy = y + dy;
        if (yy < 0 || yy >= h) continue;
        let l = bStart[yy], u = bStart[yy + 1];
        if (l === u) continue;
        const dx = half[dy < 0 ? -dy : dy];
        const left = x - dx;
        // First x in row yy that is >= left; a hit when it is also <= x + dx.
        while (l < u) {
          const m = (l + u) >> 1;
          if (bx[m] < left) l = m + 1;
          else u = m;
        }
        if (l < bStart[yy + 1] && bx[l] <= x + dx) {
          matched++;
          break;
        }
      }
    }
  }
  return matched;
}

/**
 * The counts and F of one frame (`f_measure(pred, gt)` with `bound_th`).
 *
 * @example
 * ```ts
 * boundaryStats(gt, pred, h, w).f;
 * ```
 */
export function boundaryStats(
  gt: ArrayLike<number>,
  pred: ArrayLike<number>,
  h: number,
  w: number,
  boundTh = BOUND_TH,
  spans?: { gt: RowSpans; pred: RowSpans },
): BoundaryStats {
  const r = boundPixels(h, w, boundTh);
  const gtB = boundary(gt, h, w, spans?.gt);
  const predB = boundary(pred, h, w, spans?.pred);
  const predMatched = matchedCount(predB, gtB, r);
  const gtMatched = matchedCount(gtB, predB, r);
  return {
    boundPix: r,
    nPredBoundary: predB.count,
    nGtBoundary: gtB.count,
    predMatched,
    gtMatched,
    f: fFromCounts(predB.count, gtB.count, predMatched, gtMatched),
  };
}

/**
 * F from boundary counts with the official edge cases, computed in the official order of operations.
 *
 * @example
 * ```ts
 * fFromCounts(10, 20, 10, 10); // P = 1, R = 0.5: 2/3
 * fFromCounts(0, 0, 0, 0); // 1
 * ```
 */
export function fFromCounts(nPred: number, nGt: number, predMatched: number, gtMatched: number): number {
  let precision: number, recall: number;
  if (nPred === 0 && nGt > 0) {
    precision = 1;
    recall = 0;
  } else if (nPred > 0 && nGt === 0) {
    precision = 0;
    recall = 1;
  } else if (nPred === 0 && nGt === 0) {
    precision = 1;
    recall = 1;
  } else {
    precision = predMatched / nPred;
    recall = gtMatched / nGt;
  }
  return precision + recall === 0 ? 0 : 2 * precision * recall / (precision + recall);
}

/**
 * F of one frame: `db_eval_boundary(gt, pred)` for 2-D masks.
 *
 * @example
 * ```ts
 * boundaryF(new Uint8Array(16), new Uint8Array(16), 4, 4); // 1 (no boundary on either side)
 * ```
 */
export function boundaryF(
  gt: ArrayLike<number>,
  pred: ArrayLike<number>,
  h: number,
  w: number,
  boundTh = BOUND_TH,
): number {
  return boundaryStats(gt, pred, h, w, boundTh).f;
}

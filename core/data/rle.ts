/**
 * COCO run-length encoding, compatible with what pycocotools writes (`mask.encode`, `mask_dict.json`).
 *
 * A COCO RLE walks the mask in COLUMN-major order (down the first column, then the second, ...) and
 * stores alternating run lengths starting with a background run (which may be 0). The compressed form
 * packs each run length into 6-bit characters (offset 48, 5 payload bits, bit 0x20 = "more follows",
 * sign-extended from bit 0x10 of the last character); from the fourth run on, the value stored is the
 * difference to the run two places back, which keeps the numbers small.
 *
 * Everything else in this project works on ROW-major masks (`h * w`, index `y * w + x`), so
 * {@link rleDecode} returns a row-major `Uint8Array` of 0/1 and {@link rleEncode} takes a row-major mask
 * (any nonzero value is foreground). The transposition happens inside, run by run.
 *
 * @example
 * ```ts
 * import { rleArea, rleDecode, rleEncode } from "./rle.ts";
 * const mask = new Uint8Array([0, 1, 1, 1, 0, 0]); // h = 2, w = 3, row-major
 * const rle = rleEncode(mask, 2, 3); // { size: [2, 3], counts: "121O0" }
 * rleDecode(rle); // Uint8Array [0, 1, 1, 1, 0, 0]
 * rleArea(rle); // 3
 * ```
 * @module
 */

/** A COCO RLE: `size` is `[height, width]`; `counts` compressed (string) or plain run lengths. */
export interface Rle {
  size: [number, number];
  counts: string | number[];
}

/** An RLE as this module writes it: always the compressed string form. */
export interface CompressedRle {
  size: [number, number];
  counts: string;
}

/**
 * Parses a compressed `counts` string into run lengths.
 *
 * @example
 * ```ts
 * countsFromString("121O0"); // Uint32Array [1, 2, 1, 1, 1]
 * ```
 */
export function countsFromString(s: string): Uint32Array {
  const out = new Uint32Array(s.length);
  let m = 0;
  let p = 0;
  while (p < s.length) {
    // A run length is at most 2^32, i.e. 7 characters; JS bit operations are 32-bit, so accumulate
    // with multiplication to keep the sign extension right for wide values.
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      if (p >= s.length) throw new Error(`RLE counts string ends inside a number at character ${p}`);
      const c = s.charCodeAt(p) - 48;
      if (c < 0 || c > 63) {
        throw new Error(`RLE counts string has an invalid character ${JSON.stringify(s[p])} at ${p}`);
      }
      x += (c & 0x1f) * 2 ** (5 * k);
      more = (c & 0x20) !== 0;
      p++;
      k++;
      if (!more && (c & 0x10) !== 0) x -= 2 ** (5 * k);
    }
    // pycocotools diffs against the run two back only from the fourth run on (its `m > 2` test).
    if (m > 2) x += out[m - 2];
    if (x < 0 || x > 0xffffffff) throw new Error(`RLE counts string decodes to run length ${x} at run ${m}`);
    out[m++] = x;
  }
  return out.slice(0, m);
}

/**
 * Packs run lengths into a compressed `counts` string (the inverse of {@link countsFromString}).
 *
 * @example
 * ```ts
 * countsToString([1, 2, 1, 1, 1]); // "121O0" (the 4th run is stored as 1 - 2)
 * ```
 */
export function countsToString(counts: ArrayLike<number>): string {
  const chars: number[] = [];
  for (let i = 0; i < counts.length; i++) {
    let x = counts[i];
    if (i > 2) x -= counts[i - 2];
    let more = true;
    while (more) {
      // Arithmetic shift by 5 written with floor division: x can exceed 31 bits in magnitude.
      let c = ((x % 32) + 32) % 32;
      x = Math.floor(x / 32);
      more = (c & 0x10) !== 0 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      chars.push(c + 48);
    }
  }
  // Chunked so that very long strings do not overflow the argument limit.
  let s = "";
  for (let i = 0; i < chars.length; i += 8192) s += String.fromCharCode(...chars.slice(i, i + 8192));
  return s;
}

/** Run lengths of an RLE, checked to cover exactly `h * w` pixels. */
export function rleCounts(rle: Rle): Uint32Array {
  const [h, w] = checkSize(rle);
  let counts: Uint32Array;
  if (typeof rle.counts === "string") counts = countsFromString(rle.counts);
  else if (Array.isArray(rle.counts)) counts = Uint32Array.from(rle.counts);
  else throw new Error(`RLE counts must be a string or an array of numbers`);
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i];
  if (total !== h * w) {
    throw new Error(`RLE runs cover ${total} pixels but size ${h}x${w} has ${h * w}`);
  }
  return counts;
}

/**
 * Decodes an RLE to a ROW-major `Uint8Array` of 0/1 (`h * w`, index `y * w + x`).
 *
 * @example
 * ```ts
 * rleDecode({ size: [2, 3], counts: "121O0" }); // [0, 1, 1, 1, 0, 0]
 * ```
 */
export function rleDecode(rle: Rle): Uint8Array {
  const [h, w] = checkSize(rle);
  const out = new Uint8Array(h * w);
  rleDecodeAdd(rle, out);
  return out;
}

/**
 * Adds an RLE's foreground (1 per pixel) into a ROW-major uint8 buffer, wrapping at 256 like numpy's
 * `uint8 +=`; this is how the MeViS scorer sums an expression's objects.
 *
 * @example
 * ```ts
 * const sum = new Uint8Array(6);
 * rleDecodeAdd({ size: [2, 3], counts: "121O0" }, sum); // mask [0, 1, 1, 1, 0, 0]
 * rleDecodeAdd({ size: [2, 3], counts: "111000" }, sum); // mask [0, 0, 0, 1, 1, 1]
 * sum; // [0, 1, 1, 2, 1, 1]
 * ```
 */
export function rleDecodeAdd(rle: Rle, out: Uint8Array): void {
  const [h, w] = checkSize(rle);
  if (out.length !== h * w) {
    throw new Error(`RLE of size ${h}x${w} does not fit a buffer of ${out.length} pixels`);
  }
  const counts = rleCounts(rle);
  let k = 0; // column-major index of the run start
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i];
    if (i & 1) {
      // Foreground run: walk down the columns, writing at row-major positions.
      let col = Math.floor(k / h);
      let row = k - col * h;
      let pos = row * w + col;
      for (let j = 0; j < n; j++) {
        out[pos]++;
        if (++row === h) {
          row = 0;
          col++;
          pos = col;
        } else {
          pos += w;
        }
      }
    }
    k += n;
  }
}

/**
 * Encodes a ROW-major mask (`h * w`, nonzero = foreground) as a compressed COCO RLE.
 *
 * @example
 * ```ts
 * rleEncode(new Uint8Array([0, 1, 1, 1, 0, 0]), 2, 3); // { size: [2, 3], counts: "121O0" }
 * ```
 */
export function rleEncode(mask: ArrayLike<number>, h: number, w: number): CompressedRle {
  checkDims(h, w);
  if (mask.length !== h * w) throw new Error(`mask has ${mask.length} pixels, expected ${h}x${w}`);
  const counts: number[] = [];
  let current = 0; // value of the run being counted, starting with background as COCO does
  let run = 0;
  for (let x = 0; x < w; x++) {
    for (let pos = x, y = 0; y < h; y++, pos += w) {
      const v = mask[pos] !== 0 ? 1 : 0;
      if (v !== current) {
        counts.push(run);
        run = 0;
        current = v;
      }
      run++;
    }
  }
  counts.push(run);
  return { size: [h, w], counts: countsToString(counts) };
}

/**
 * Number of foreground pixels of an RLE.
 *
 * @example
 * ```ts
 * rleArea({ size: [2, 3], counts: "121O0" }); // 3
 * ```
 */
export function rleArea(rle: Rle): number {
  const counts = rleCounts(rle);
  let a = 0;
  for (let i = 1; i < counts.length; i += 2) a += counts[i];
  return a;
}

/**
 * Union (default) or intersection of RLEs of one size, computed on the runs without decoding.
 *
 * @example
 * ```ts
 * const a = rleEncode(new Uint8Array([1, 1, 0, 0]), 2, 2);
 * const b = rleEncode(new Uint8Array([0, 1, 1, 0]), 2, 2);
 * rleDecode(rleMerge([a, b])); // [1, 1, 1, 0]
 * rleDecode(rleMerge([a, b], true)); // [0, 1, 0, 0]
 * ```
 */
export function rleMerge(rles: Rle[], intersect = false): CompressedRle {
  if (rles.length === 0) throw new Error("rleMerge needs at least one RLE");
  const [h, w] = checkSize(rles[0]);
  let acc = rleCounts(rles[0]);
  for (let i = 1; i < rles.length; i++) {
    const [hi, wi] = checkSize(rles[i]);
    if (hi !== h || wi !== w) throw new Error(`rleMerge: RLE ${i} is ${hi}x${wi}, RLE 0 is ${h}x${w}`);
    acc = mergeCounts(acc, rleCounts(rles[i]), intersect);
  }
  return { size: [h, w], counts: countsToString(acc) };
}

/** Merges two run-length lists of the same total with OR / AND, producing canonical runs. */
function mergeCounts(a: Uint32Array, b: Uint32Array, intersect: boolean): Uint32Array {
  const out: number[] = [];
  let ia = 0, ib = 0; // current run index in each
  let ra = a.length > 0 ? a[0] : 0, rb = b.length > 0 ? b[0] : 0; // pixels left in each current run
  let current = 0;
  let run = 0;
  for (;;) {
    // Skip exhausted (including zero-length) runs.
    while (ra === 0 && ia < a.length - 1) ra = a[++ia];
    while (rb === 0 && ib < b.length - 1) rb = b[++ib];
    if (ra === 0 || rb === 0) break;
    const step = Math.min(ra, rb);
    const va = ia & 1, vb = ib & 1;
    const v = intersect ? va & vb : va | vb;
    if (v !== current) {
      out.push(run);
      run = 0;
      current = v;
    }
    run += step;
    ra -= step;
    rb -= step;
  }
  out.push(run);
  return Uint32Array.from(out);
}

function checkSize(rle: Rle): [number, number] {
  if (rle === null || typeof rle !== "object" || !Array.isArray(rle.size) || rle.size.length !== 2) {
    throw new Error(`not an RLE object (expected {size: [h, w], counts})`);
  }
  const [h, w] = rle.size;
  checkDims(h, w);
  return [h, w];
}

function checkDims(h: number, w: number): void {
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 0 || w < 0) {
    throw new Error(`invalid RLE size [${h}, ${w}]`);
  }
}

/**
 * J, F and numpy means against straightforward dense re-implementations of the official formulation
 * (numpy's shifted-array `_seg2bmap`, cv2.dilate with skimage's disk) on random masks, the hand-worked
 * edge cases, and means against values computed with numpy.
 * @module
 */
import {
  boundary,
  boundaryF,
  boundaryStats,
  boundPixels,
  disk,
  diskHalfWidths,
  fFromCounts,
  frameMeasures,
  jaccard,
  matchedCount,
  numpyMean,
  numpySum,
  pairwiseSum,
  regionCounts,
  rowSpans,
  seg2bmap,
} from "../../core/metrics/mod.ts";
import { Generator } from "../../core/random.ts";
import { assert, assertEquals, assertStrictEquals, assertThrows } from "../assert.ts";

/** `_seg2bmap` as numpy writes it: XOR with the east, south and south-east shifted copies. */
function denseSeg2bmap(m: Uint8Array, h: number, w: number): Uint8Array {
  const at = (y: number, x: number) => (y < h && x < w && m[y * w + x] !== 0 ? 1 : 0);
  const b = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = at(y, x);
      b[y * w + x] = (v ^ at(y, x + 1)) | (v ^ at(y + 1, x)) | (v ^ at(y + 1, x + 1));
    }
  }
  for (let x = 0; x < w; x++) b[(h - 1) * w + x] = at(h - 1, x) ^ at(h - 1, x + 1);
  for (let y = 0; y < h; y++) b[y * w + w - 1] = at(y, w - 1) ^ at(y + 1, w - 1);
  b[h * w - 1] = 0;
  return b;
}

/** cv2.dilate(b, disk(r)) with the constant border that never wins. */
function denseDilate(b: Uint8Array, h: number, w: number, r: number): Uint8Array {
  const k = disk(r);
  const n = 2 * r + 1;
  const out = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let v = 0;
      for (let i = 0; i < n && !v; i++) {
        for (let j = 0; j < n && !v; j++) {
          const yy = y + i - r, xx = x + j - r;
          if (k[i * n + j] && yy >= 0 && yy < h && xx >= 0 && xx < w && b[yy * w + xx]) v = 1;
        }
      }
      out[y * w + x] = v;
    }
  }
  return out;
}

function randomMask(g: Generator, h: number, w: number): Uint8Array {
  const m = new Uint8Array(h * w);
  const kind = Math.floor(g.uniform() * 4);
  if (kind === 0) return m; // empty
  if (kind === 1) m.fill(1); // full, then holes
  const blobs = 1 + Math.floor(g.uniform() * 4);
  for (let k = 0; k < blobs; k++) {
    const cy = g.uniform() * h, cx = g.uniform() * w, rad = 1 + g.uniform() * Math.min(h, w) / 2;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) if ((y - cy) ** 2 + (x - cx) ** 2 <= rad * rad) m[y * w + x] ^= 1;
    }
  }
  if (kind === 3) { for (let i = 0; i < m.length; i++) if (g.uniform() < 0.03) m[i] = m[i] ? 0 : 255; }
  return m;
}

Deno.test("metrics: skimage's disk and its row half-widths", () => {
  assertEquals(disk(1), new Uint8Array([0, 1, 0, 1, 1, 1, 0, 1, 0]));
  // disk(2): the corners and the points (±1, ±2) next to them... are in only when x^2 + y^2 <= 4.
  assertEquals(
    disk(2),
    new Uint8Array([0, 0, 1, 0, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 0]),
  );
  for (const r of [1, 2, 3, 5, 12, 17]) {
    const d = disk(r), half = diskHalfWidths(r), n = 2 * r + 1;
    for (let dy = -r; dy <= r; dy++) {
      let count = 0;
      for (let j = 0; j < n; j++) count += d[(dy + r) * n + j];
      assertEquals(count, 2 * half[Math.abs(dy)] + 1, `r ${r} dy ${dy}`);
    }
  }
  assertEquals(boundPixels(720, 1280), 12);
  assertEquals(boundPixels(37, 53), 1);
  assertEquals(boundPixels(9, 211), 2);
  assertEquals(boundPixels(100, 100, 3), 3); // a bound_th of 1 or more is already in pixels
});

Deno.test("metrics: boundaries equal numpy's _seg2bmap on random masks", () => {
  const g = new Generator(11);
  for (let trial = 0; trial < 60; trial++) {
    const h = 1 + Math.floor(g.uniform() * 30), w = 1 + Math.floor(g.uniform() * 30);
    const m = randomMask(g, h, w);
    assertEquals(seg2bmap(m, h, w), denseSeg2bmap(m, h, w), `trial ${trial} (${h}x${w})`);
    const spans = rowSpans(m, h, w);
    for (let y = 0; y < h; y++) {
      let lo = w, hi = -1;
      for (let x = 0; x < w; x++) {
        if (m[y * w + x]) {
          lo = Math.min(lo, x);
          hi = x;
        }
      }
      assertEquals([spans.lo[y], spans.hi[y]], [lo, hi], `row ${y} of trial ${trial}`);
    }
  }
  // A full frame has no boundary; a single pixel has itself as boundary plus its north/west/nw cells.
  assertEquals(boundary(new Uint8Array(12).fill(1), 3, 4).count, 0);
  const dot = new Uint8Array(9);
  dot[4] = 1;
  assertEquals(seg2bmap(dot, 3, 3), new Uint8Array([1, 1, 0, 1, 1, 0, 0, 0, 0]));
});

Deno.test("metrics: matched boundary counts equal a dense cv2.dilate with disk(r)", () => {
  const g = new Generator(12);
  for (let trial = 0; trial < 40; trial++) {
    const h = 2 + Math.floor(g.uniform() * 40), w = 2 + Math.floor(g.uniform() * 40);
    const r = 1 + Math.floor(g.uniform() * 5);
    const a = randomMask(g, h, w), b = randomMask(g, h, w);
    const ba = denseSeg2bmap(a, h, w), bb = denseSeg2bmap(b, h, w);
    const dil = denseDilate(bb, h, w, r);
    let expected = 0;
    for (let i = 0; i < h * w; i++) expected += ba[i] & dil[i];
    assertEquals(matchedCount(boundary(a, h, w), boundary(b, h, w), r), expected, `trial ${trial} r ${r}`);
  }
});

Deno.test("metrics: J and F edge cases by hand", () => {
  const [h, w] = [6, 8];
  const empty = new Uint8Array(h * w);
  const full = new Uint8Array(h * w).fill(1);
  const box = new Uint8Array(h * w);
  for (let y = 1; y < 4; y++) box.fill(1, y * w + 2, y * w + 6);
  // Empty union: J = 1; both boundaries empty: F = 1.
  assertEquals(frameMeasures(empty, empty, h, w).j, 1);
  assertEquals(frameMeasures(empty, empty, h, w).f, 1);
  // Empty prediction against an object: J = 0; P = 1, R = 0 -> F = 0.
  assertEquals(jaccard(box, empty), 0);
  assertEquals(boundaryF(box, empty, h, w), 0);
  // A full-frame mask has no boundary: against a full ground truth J = F = 1 ...
  assertEquals(frameMeasures(full, full, h, w).j, 1);
  assertEquals(frameMeasures(full, full, h, w).f, 1);
  // ... and against the box the ground truth has a boundary, the prediction none: F = 0.
  const m = frameMeasures(box, full, h, w);
  assertEquals([m.nGtBoundary, m.nPredBoundary, m.f], [boundary(box, h, w).count, 0, 0]);
  assertEquals(m.j, 12 / 48);
  // Prediction boundary present, ground truth empty: P = 0, R = 1 -> F = 0.
  assertEquals(boundaryF(empty, box, h, w), 0);
  // Identical masks: F = 1; nonzero values other than 1 are foreground too.
  assertEquals(boundaryF(box, box.map((v) => v * 255), h, w), 1);
  assertEquals(regionCounts(box.map((v) => v * 2), box), { inter: 12, union: 12 });
  // P + R = 0 and the ordinary formula, in the official order of operations.
  assertEquals(fFromCounts(5, 7, 0, 0), 0);
  assertStrictEquals(fFromCounts(3, 7, 1, 2), 2 * (1 / 3) * (2 / 7) / (1 / 3 + 2 / 7));
  // A shifted copy far beyond the radius matches nothing; within it, everything.
  const far = new Uint8Array(64 * 64), near = new Uint8Array(64 * 64), base = new Uint8Array(64 * 64);
  for (let y = 10; y < 20; y++) {
    base.fill(1, y * 64 + 10, y * 64 + 20);
    near.fill(1, y * 64 + 11, y * 64 + 21);
    far.fill(1, (y + 30) * 64 + 40, (y + 30) * 64 + 50);
  }
  const s = boundaryStats(base, far, 64, 64);
  assertEquals([s.boundPix, s.predMatched, s.gtMatched, s.f], [1, 0, 0, 0]);
  assertEquals(boundaryF(base, near, 64, 64), 1);
  assertThrows(() => frameMeasures(box, empty, 5, 8), /6x8|5x8/);
  assertThrows(() => regionCounts(box, new Uint8Array(3)), /differ in size/);
});

Deno.test("metrics: means follow numpy's pairwise summation", () => {
  // Values computed with numpy 2.4 for a_i = 1/(i+1) + 0.001 * ((7919 i) mod 13).
  const seq = (n: number) => Array.from({ length: n }, (_, i) => 1 / (i + 1) + 1e-3 * ((i * 7919) % 13));
  const expected: [number, number, number][] = [
    [5, 0.4606666666666667, 2.3033333333333337],
    [9, 0.3194409171075838, 2.8749682539682544],
    [100, 0.057793775176396195, 5.779377517639619],
    [129, 0.048138752174989675, 6.209899030573668],
    [1000, 0.013480470860550344, 13.480470860550344],
    [10000, 0.006977560603604438, 69.77560603604438],
    [20000, 0.006523736410861466, 130.4747282172293],
  ];
  for (const [n, mean, sum] of expected) {
    const a = Float64Array.from(seq(n));
    assertStrictEquals(numpyMean(a), mean, `mean of ${n}`);
    assertStrictEquals(numpySum(a), sum, `sum of ${n}`);
  }
  // Below 8 elements it is a plain left-to-right sum.
  assertStrictEquals(pairwiseSum([0.1, 0.2, 0.3]), 0.1 + 0.2 + 0.3);
  // Long arrays are one pairwise sum, not blocks of 8192 (these three differ between the two).
  const wide = (n: number) =>
    Float64Array.from({ length: n }, (_, i) => ((i * 7919) % 1009) / 7 + 1 / (i + 1));
  for (
    const [n, mean, sum] of [
      [12345, 72.00063632283721, 888847.8554054254],
      [20000, 72.00608832212515, 1440121.766442503],
      [30001, 71.9990724286727, 2160044.1719326098],
    ]
  ) {
    assertStrictEquals(numpyMean(wide(n)), mean, `mean of ${n}`);
    assertStrictEquals(numpySum(wide(n)), sum, `sum of ${n}`);
  }
  assert(Number.isNaN(numpyMean([])));
});

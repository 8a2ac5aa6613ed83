/**
 * COCO RLE: every mask of the MeViS scorer fixture (written by pycocotools) decodes and re-encodes to the
 * same string; random masks round-trip; area, merge and the uint8 sum agree with dense computations.
 * @module
 */
import { fileURLToPath } from "node:url";
import {
  countsFromString,
  countsToString,
  type Rle,
  rleArea,
  rleDecode,
  rleDecodeAdd,
  rleEncode,
  rleMerge,
} from "../../core/data/rle.ts";
import { Generator } from "../../core/random.ts";
import { assert, assertEquals, assertThrows } from "../assert.ts";

const FIXTURES = Deno.env.get("DSHMP_EVAL_FIXTURES") ??
  fileURLToPath(new URL("../../../shared/fixtures/mevis_eval", import.meta.url));

/** A random row-major mask: blobs of rectangles, so runs cross column boundaries. */
function randomMask(g: Generator, h: number, w: number, density: number): Uint8Array {
  const m = new Uint8Array(h * w);
  if (density >= 1) return m.fill(1);
  const rects = Math.floor(g.uniform() * 6);
  for (let k = 0; k < rects; k++) {
    const y0 = Math.floor(g.uniform() * h), x0 = Math.floor(g.uniform() * w);
    const y1 = Math.min(h, y0 + 1 + Math.floor(g.uniform() * h)),
      x1 = Math.min(w, x0 + 1 + Math.floor(g.uniform() * w));
    for (let y = y0; y < y1; y++) m.fill(1, y * w + x0, y * w + x1);
  }
  for (let i = 0; i < m.length; i++) if (g.uniform() < density) m[i] ^= 1;
  return m;
}

Deno.test("rle: every fixture mask re-encodes to pycocotools' string", () => {
  const dict = JSON.parse(Deno.readTextFileSync(`${FIXTURES}/mask_dict.json`)) as Record<
    string,
    (Rle | null)[]
  >;
  let masks = 0, nulls = 0;
  for (const [id, list] of Object.entries(dict)) {
    for (const [t, rle] of list.entries()) {
      if (rle === null) {
        nulls++;
        continue;
      }
      const [h, w] = rle.size;
      const mask = rleDecode(rle);
      assertEquals(mask.length, h * w);
      const again = rleEncode(mask, h, w);
      assertEquals(again, { size: [h, w], counts: rle.counts }, `anno ${id} frame ${t}`);
      let sum = 0;
      for (const v of mask) sum += v;
      assertEquals(rleArea(rle), sum, `area of anno ${id} frame ${t}`);
      masks++;
    }
  }
  assert(masks > 200, `only ${masks} masks in the fixture`);
  assert(nulls > 0, "the fixture should contain null entries");
});

Deno.test("rle: hand-checked encoding (column-major runs, background first, diff from the 4th run)", () => {
  // [[0, 1, 1], [1, 0, 0]] read down the columns: 0 1 | 1 0 | 1 0 -> runs 1, 2, 1, 1, 1.
  const rle = rleEncode(new Uint8Array([0, 1, 1, 1, 0, 0]), 2, 3);
  assertEquals(rle, { size: [2, 3], counts: "121O0" });
  assertEquals([...countsFromString("121O0")], [1, 2, 1, 1, 1]);
  // A mask starting with foreground has an empty first background run.
  assertEquals([...countsFromString(rleEncode(new Uint8Array([1, 0]), 2, 1).counts as string)], [0, 1, 1]);
  // Large runs and negative differences survive the 5-bit packing.
  const counts = [0, 5_000_000, 3, 1, 4_999_999, 2 ** 31, 7, 0, 2 ** 32 - 1];
  assertEquals([...countsFromString(countsToString(counts))], counts);
});

Deno.test("rle: random masks round-trip, including empty, full and thin ones", () => {
  const g = new Generator(8);
  const shapes: [number, number][] = [[1, 1], [1, 17], [23, 1], [5, 7], [37, 53], [64, 64], [9, 211]];
  for (const [h, w] of shapes) {
    for (const density of [0, 1, 0.02, 0.5]) {
      const mask = randomMask(g, h, w, density);
      const rle = rleEncode(mask, h, w);
      assertEquals(rleDecode(rle), mask, `${h}x${w} density ${density}`);
      assertEquals(rleDecode({ size: [h, w], counts: [...countsFromString(rle.counts)] }), mask);
    }
  }
  assertEquals(rleEncode(new Uint8Array(0), 0, 0), { size: [0, 0], counts: "0" });
  assertEquals(rleDecode({ size: [0, 4], counts: "0" }), new Uint8Array(0));
  // Any nonzero value is foreground.
  assertEquals(rleDecode(rleEncode(new Uint8Array([0, 255, 7, 0]), 2, 2)), new Uint8Array([0, 1, 1, 0]));
});

Deno.test("rle: merge, area and the uint8 sum match dense computations", () => {
  const g = new Generator(9);
  const [h, w] = [31, 47];
  for (let trial = 0; trial < 20; trial++) {
    const masks = [0, 1, 2].map(() => randomMask(g, h, w, trial % 3 === 0 ? 0 : 0.1));
    const rles = masks.map((m) => rleEncode(m, h, w));
    const union = masks[0].map((_, i) => masks[0][i] | masks[1][i] | masks[2][i]);
    const inter = masks[0].map((_, i) => masks[0][i] & masks[1][i] & masks[2][i]);
    assertEquals(rleDecode(rleMerge(rles)), union);
    assertEquals(rleDecode(rleMerge(rles, true)), inter);
    // Merged RLEs are canonical: the same string as encoding the dense result.
    assertEquals(rleMerge(rles).counts, rleEncode(union, h, w).counts);
    const sum = new Uint8Array(h * w);
    for (const r of rles) rleDecodeAdd(r, sum);
    assertEquals(sum, masks[0].map((_, i) => masks[0][i] + masks[1][i] + masks[2][i]));
    assertEquals(rleArea(rleMerge(rles)), union.reduce((a, b) => a + b, 0));
  }
  // The sum wraps like numpy's uint8 +=.
  const full = rleEncode(new Uint8Array(4).fill(1), 2, 2);
  const acc = new Uint8Array(4);
  for (let i = 0; i < 257; i++) rleDecodeAdd(full, acc);
  assertEquals(acc, new Uint8Array(4).fill(1));
});

Deno.test("rle: malformed input is rejected with a reason", () => {
  assertThrows(() => rleDecode({ size: [2, 2], counts: "12" }), /cover 3 pixels but size 2x2 has 4/);
  assertThrows(() => countsFromString("1 2"), /invalid character/);
  assertThrows(() => countsFromString("1_"), /ends inside a number/);
  assertThrows(() => rleDecode({ size: [-1, 2], counts: "" }), /invalid RLE size/);
  assertThrows(() => rleDecodeAdd({ size: [2, 2], counts: "04" }, new Uint8Array(5)), /does not fit/);
  assertThrows(
    () => rleMerge([{ size: [2, 2], counts: "4" }, { size: [1, 4], counts: "4" }]),
    /RLE 1 is 1x4/,
  );
  assertThrows(() => rleEncode(new Uint8Array(3), 2, 2), /3 pixels, expected 2x2/);
});

Deno.test("rle: decode and encode throughput", () => {
  const g = new Generator(10);
  const [h, w] = [720, 1280];
  const masks = [0, 1, 2, 3].map(() => randomMask(g, h, w, 0.0005));
  const rles = masks.map((m) => rleEncode(m, h, w));
  const reps = 5;
  let t = performance.now();
  for (let r = 0; r < reps; r++) for (const rle of rles) rleDecode(rle);
  const decodeMs = performance.now() - t;
  t = performance.now();
  for (let r = 0; r < reps; r++) for (const m of masks) rleEncode(m, h, w);
  const encodeMs = performance.now() - t;
  const mp = (reps * masks.length * h * w) / 1e6;
  console.log(
    `rle 720p: decode ${(mp / decodeMs * 1000).toFixed(0)} MP/s, encode ${
      (mp / encodeMs * 1000).toFixed(0)
    } MP/s`,
  );
  // Far below what the scorer needs would mean a pathological slowdown (e.g. per-pixel allocation).
  assert(mp / decodeMs * 1000 > 20, `decode at ${mp / decodeMs * 1000} MP/s`);
  assert(mp / encodeMs * 1000 > 20, `encode at ${mp / encodeMs * 1000} MP/s`);
});

/**
 * Fake MeViS-layout splits for the data tests: JPEG frames (blue background, each object's box red),
 * `meta_expressions.json` and its `_idx` variant, `mask_dict.json` with COCO RLE masks.
 * @module
 */
import { join } from "node:path";
import { rleEncode } from "../../core/data/rle.ts";
import { writeJpeg } from "../../core/io/image.ts";
import { BadDataReport } from "../../plugins/mevis/data/bad_data.ts";

/** A rectangle `[y0, x0, y1, x1)` per frame (null: the object is absent in that frame). */
export type Boxes = ([number, number, number, number] | null)[];

/** One fake video: frame count, its objects' boxes by anno id, its expressions. */
export interface FakeVideo {
  frames: number;
  objects: Record<string, Boxes>;
  expressions: Record<string, { exp: string; obj_id: number[]; anno_id: number[] }>;
}

/**
 * Writes `<root>/mevis/<folder>` with JPEGs (blue background, each object's box red), meta_expressions
 * (plus the `_idx` variant with running `idx`) and mask_dict.json.
 */
export async function writeFakeSplit(
  root: string,
  folder: string,
  videos: Record<string, FakeVideo>,
  size: [number, number] = [24, 32],
): Promise<string> {
  const [h, w] = size;
  const dir = join(root, "mevis", folder);
  const meta: Record<string, unknown> = {};
  const metaIdx: Record<string, unknown> = {};
  const maskDict: Record<string, unknown> = {};
  let idx = 0;
  for (const [vid, v] of Object.entries(videos)) {
    const names = Array.from({ length: v.frames }, (_, i) => String(i).padStart(5, "0"));
    await Deno.mkdir(join(dir, "JPEGImages", vid), { recursive: true });
    for (let f = 0; f < v.frames; f++) {
      const data = new Uint8Array(h * w * 3);
      for (let p = 0; p < h * w; p++) data[p * 3 + 2] = 220;
      for (const boxes of Object.values(v.objects)) {
        const b = boxes[f];
        if (!b) continue;
        for (let y = b[0]; y < b[2]; y++) {
          for (let x = b[1]; x < b[3]; x++) data.set([220, 0, 0], (y * w + x) * 3);
        }
      }
      await writeJpeg(join(dir, "JPEGImages", vid, `${names[f]}.jpg`), {
        data,
        height: h,
        width: w,
        channels: 3,
      }, {
        quality: 95,
      });
    }
    for (const [anno, boxes] of Object.entries(v.objects)) {
      maskDict[anno] = boxes.map((b) => {
        if (!b) return null;
        const m = new Uint8Array(h * w);
        for (let y = b[0]; y < b[2]; y++) m.fill(1, y * w + b[1], y * w + b[3]);
        return rleEncode(m, h, w);
      });
    }
    // Frames listed out of order: the loader sorts them.
    meta[vid] = { expressions: v.expressions, frames: [...names].reverse() };
    const withIdx: Record<string, unknown> = {};
    for (const [eid, e] of Object.entries(v.expressions)) withIdx[eid] = { ...e, idx: idx++ };
    metaIdx[vid] = { expressions: withIdx, frames: [...names].reverse() };
  }
  await Deno.writeTextFile(join(dir, "meta_expressions.json"), JSON.stringify({ videos: meta }));
  await Deno.writeTextFile(join(dir, "meta_expressions_idx.json"), JSON.stringify({ videos: metaIdx }));
  await Deno.writeTextFile(join(dir, "mask_dict.json"), JSON.stringify(maskDict));
  return dir;
}

/** A quiet report that keeps its warnings. */
export function quietReport(strict = false): { report: BadDataReport; warnings: string[] } {
  const warnings: string[] = [];
  return { report: new BadDataReport({ strict, warn: (m) => warnings.push(m) }), warnings };
}

/** The same box (or absence) in each of `n` frames. */
export const box = (n: number, b: [number, number, number, number] | null): Boxes => Array(n).fill(b);

/** A clean split: two usable videos and one single-frame video. */
export const CLEAN: Record<string, FakeVideo> = {
  vidA: {
    frames: 6,
    objects: {
      "10": box(6, [4, 4, 12, 14]),
      "11": [null, null, [10, 16, 20, 28], [10, 16, 20, 28], null, null],
    },
    expressions: {
      "0": { exp: "  The RED\tbox \n moving ", obj_id: [0], anno_id: [10] },
      "1": { exp: "Both Boxes", obj_id: [0, 1], anno_id: [10, 11] },
    },
  },
  vidB: {
    frames: 4,
    objects: { "20": [null, [2, 2, 8, 8], [2, 2, 8, 8], null] },
    expressions: { "0": { exp: "a square", obj_id: [3], anno_id: [20] } },
  },
  short: {
    frames: 1,
    objects: { "30": box(1, [0, 0, 4, 4]) },
    expressions: {
      "0": { exp: "alone", obj_id: [0], anno_id: [30] },
      "1": { exp: "still alone", obj_id: [0], anno_id: [30] },
    },
  },
};

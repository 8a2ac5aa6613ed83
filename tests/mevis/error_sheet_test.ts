/**
 * Error sheets (plugins/mevis/eval/error_sheet.ts): each pixel's colour says hit, miss or false alarm;
 * the sheet's layout (a row of frames, then a row per expression); a fake split's sheets show the
 * predicted object as hit where it is the target and as a false alarm where another object is.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "../assert.ts";
import { join } from "node:path";
import sharp from "sharp";
import { encodeMaskPng } from "../../core/io/png.ts";
import type { ImageU8 } from "../../core/io/image.ts";
import {
  errorSheetPng,
  errorTint,
  FALSE,
  HIT,
  MISS,
  writeErrorSheets,
} from "../../plugins/mevis/eval/error_sheet.ts";
import { box, writeFakeSplit } from "./_fake_split.ts";

const gray = (v: number, h: number, w: number): ImageU8 => ({
  data: new Uint8Array(h * w * 3).fill(v),
  height: h,
  width: w,
  channels: 3,
});
const blend = (v: number, tint: readonly number[]) => tint.map((t) => Math.round(0.25 * v + 0.75 * t));

Deno.test("error sheet: each pixel is tinted by hit, miss, false alarm or neither", () => {
  const out = errorTint(gray(100, 1, 4), Uint8Array.of(1, 1, 0, 0), Uint8Array.of(1, 0, 255, 0));
  const px = (i: number) => [...out.data.subarray(i * 3, i * 3 + 3)];
  assertEquals(px(0), blend(100, HIT));
  assertEquals(px(1), blend(100, MISS));
  assertEquals(px(2), blend(100, FALSE));
  assertEquals(px(3), [100, 100, 100]);
  // Colour frames turn gray, so an object's own colour cannot pass for a tint.
  const red: ImageU8 = { data: Uint8Array.of(200, 0, 0), height: 1, width: 1, channels: 3 };
  assertEquals([...errorTint(red, new Uint8Array(1), new Uint8Array(1)).data], [60, 60, 60]);
  assertThrows(
    () => errorTint(gray(0, 2, 2), new Uint8Array(4), new Uint8Array(3)),
    "got 4 (ground truth) and 3 (prediction)",
  );
});

Deno.test("error sheet: a row of frames, then a labelled row per expression", async () => {
  const frames = [gray(50, 6, 8), gray(90, 6, 8)];
  const mask = new Uint8Array(48);
  const rows = [
    { label: "a", gt: [mask, mask], pred: [mask, mask] },
    { label: "b & <c>", gt: [mask, mask], pred: [mask, mask] },
    { label: "d", gt: [mask, mask], pred: [mask, mask] },
  ];
  const png = await errorSheetPng(frames, rows);
  const meta = await sharp(png).metadata();
  // Tiles twice the frame (16x12), 4-pixel gaps, 18-pixel text lines: the legend plus one per expression.
  assertEquals([meta.width, meta.height], [2 * 16 + 3 * 4, 18 + 4 * (12 + 4) + 3 * 18 + 4]);
  await assertRejects(
    () => errorSheetPng(frames, [{ label: "x", gt: [mask], pred: [mask, mask] }]),
    '2 frames but "x" has 1 ground-truth and 2 predicted masks',
  );
});

Deno.test("error sheet: a fake split's sheet shows the chosen object as hit or false alarm", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const [h, w] = [24, 32];
    const dir = await writeFakeSplit(tmp, "valid_u", {
      vid: {
        frames: 3,
        objects: { "1": box(3, [2, 2, 10, 10]), "2": box(3, [12, 20, 22, 30]) },
        expressions: {
          "0": { exp: "the first", obj_id: [0], anno_id: [1] },
          "1": { exp: "the second", obj_id: [1], anno_id: [2] },
        },
      },
      other: { frames: 2, objects: { "3": box(2, [0, 0, 4, 4]) }, expressions: {} },
    }, [h, w]);
    // Both expressions predict the first object.
    const first = new Uint8Array(h * w);
    for (let y = 2; y < 10; y++) first.fill(1, y * w + 2, y * w + 10);
    const pred = join(tmp, "pred");
    for (const e of ["0", "1"]) {
      await Deno.mkdir(join(pred, "vid", e), { recursive: true });
      for (let f = 0; f < 3; f++) {
        await Deno.writeFile(join(pred, "vid", e, `0000${f}.png`), encodeMaskPng(first, w, h));
      }
    }
    const out = join(tmp, "sheets");
    const paths = await writeErrorSheets({ splitDir: dir, predDir: pred, outDir: out });
    // "other" has no expressions and no predictions: no sheet.
    assertEquals(paths, [join(out, "vid.png")]);
    const { data, info } = await sharp(await Deno.readFile(paths[0])).raw().toBuffer({
      resolveWithObject: true,
    });
    const tw = 2 * w, th = 2 * h;
    assertEquals(info.width, 3 * tw + 4 * 4);
    // Pixel (x, y) of frame 0 in expression row r (tiles are scaled twice, nearest neighbour).
    const at = (r: number, x: number, y: number) => {
      const top = 18 + (th + 4) + r * (18 + th + 4) + 18;
      const i = ((top + 2 * y) * info.width + 4 + 2 * x) * info.channels;
      return [data[i], data[i + 1], data[i + 2]];
    };
    // The fake frames draw objects red (220, 0, 0): gray 66 under the tint, give or take the JPEG.
    const near = (a: number[], tint: readonly number[]) => {
      const b = blend(0.299 * 220, tint);
      return a.every((v, c) => Math.abs(v - b[c]) <= 8);
    };
    assert(near(at(0, 5, 5), HIT), `${at(0, 5, 5)}`);
    assert(near(at(1, 5, 5), FALSE), `${at(1, 5, 5)}`);
    assert(near(at(1, 25, 17), MISS), `${at(1, 25, 17)}`);
    assert(![HIT, MISS, FALSE].some((t) => near(at(0, 25, 17), t)), `${at(0, 25, 17)}`);

    // A prediction of the wrong size is named (J and F given, so the sheet reads it first).
    await Deno.writeFile(join(pred, "vid", "1", "00002.png"), encodeMaskPng(new Uint8Array(4), 2, 2));
    await assertRejects(
      () =>
        writeErrorSheets({
          splitDir: dir,
          predDir: pred,
          outDir: out,
          scores: { vid_0: [1, 1], vid_1: [0, 0] },
        }),
      `prediction ${join(pred, "vid", "1", "00002.png")} is 2x2, its frame 24x32`,
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

import { assert, assertThrows } from "../assert.ts";
import { Generator } from "../../core/random.ts";
import type { ImageU8 } from "../../core/io/image.ts";
import {
  applyToImage,
  applyToMask,
  augmentClip,
  type FramePlan,
  planTestResize,
  planTrainClip,
  shortestEdgeSize,
  type TrainAugmentationOptions,
} from "../../core/data/clip_augmentations.ts";

const deepEqual: typeof assert.deepStrictEqual = assert.deepStrictEqual;

// The paper's INPUT block, scaled down so that the frames of a test stay small.
const SMALL: TrainAugmentationOptions = {
  minSize: [48, 64, 80],
  maxSize: 128,
  sampling: "choice_by_clip",
  crop: { size: [40, 70], preResizeSizes: [80, 100, 120], preResizeMaxSize: 222 },
  flip: "flip_by_clip",
};

const PAPER: TrainAugmentationOptions = {
  minSize: [288, 320, 352, 384, 416, 448, 480, 512],
  maxSize: 768,
  sampling: "choice_by_clip",
  crop: { size: [384, 600] },
  flip: "flip_by_clip",
};

Deno.test("shortestEdgeSize follows detectron2's arithmetic (hand-computed)", () => {
  // 1280 * 448 / 720 = 796.44 -> 796
  deepEqual(shortestEdgeSize(720, 1280, 448, 1333), [448, 796]);
  // 1280 * 600 / 720 = 1066.67 -> 1067
  deepEqual(shortestEdgeSize(720, 1280, 600, 1333), [600, 1067]);
  // portrait: the width is the short side; 1280 * 288 / 720 = 512
  deepEqual(shortestEdgeSize(1280, 720, 288, 768), [512, 288]);
  deepEqual(shortestEdgeSize(500, 500, 320, 768), [320, 320]);
  // 301 * 0.5 = 150.5 -> int(151.0) = 151: half rounds up, not to even
  deepEqual(shortestEdgeSize(200, 301, 100, 1e9), [100, 151]);
  // 300 * 100 / 201 = 149.25 -> 149
  deepEqual(shortestEdgeSize(201, 300, 100, 1e9), [100, 149]);
  // max size: 400 * 64 / 100 = 256 > 200, so both sides scale by 200 / 256: 64 -> 50, 256 -> 200
  deepEqual(shortestEdgeSize(100, 400, 64, 200), [50, 200]);
  // 1920 * 512 / 1080 = 910.2 > 768; the height comes out as 431.99999999999994, and + 0.5 makes it 432
  deepEqual(shortestEdgeSize(1080, 1920, 512, 768), [432, 768]);
});

Deno.test("test-time resize: MIN_SIZE_TEST 448 with detectron2's default max 1333", () => {
  const plan = planTestResize({ height: 720, width: 1280 }, 448);
  deepEqual(plan, {
    ops: [{ kind: "resize", height: 448, width: 796 }],
    inputHeight: 720,
    inputWidth: 1280,
    height: 448,
    width: 796,
  });
  // A very wide frame is limited by the longest edge: 4000 * 448 / 500 = 3584 > 1333.
  const wide = planTestResize({ height: 500, width: 4000 }, 448);
  deepEqual([wide.height, wide.width], [167, 1333]);
});

function cropOf(plan: FramePlan) {
  return plan.ops.find((op) => op.kind === "crop") as
    | { kind: "crop"; x0: number; y0: number; height: number; width: number }
    | undefined;
}

function monotone(v: number[]): boolean {
  const up = v.every((x, i) => i === 0 || x >= v[i - 1]);
  const down = v.every((x, i) => i === 0 || x <= v[i - 1]);
  return up || down;
}

Deno.test("by-clip styles: one size, one crop size and one flip decision per clip", () => {
  const seen = { crop: 0, noCrop: 0, flip: 0, noFlip: 0, sizes: new Set<number>() };
  for (let seed = 0; seed < 60; seed++) {
    const plans = planTrainClip(new Generator(seed), { height: 720, width: 1280 }, 8, PAPER);
    const first = plans[0];
    const crop0 = cropOf(first);
    const kinds = first.ops.map((op) => op.kind);
    for (const p of plans) {
      deepEqual([p.height, p.width], [first.height, first.width]);
      deepEqual(p.ops.map((op) => op.kind), kinds);
      const c = cropOf(p);
      deepEqual(c && [c.height, c.width], crop0 && [crop0.height, crop0.width]);
    }
    // The final resize: the short side is one of MIN_SIZE_TRAIN unless the long side hit MAX_SIZE_TRAIN.
    const short = Math.min(first.height, first.width), long = Math.max(first.height, first.width);
    assert(long <= 768, `long side ${long}`);
    assert(PAPER.minSize.includes(short) || long === 768, `short side ${short}`);
    seen.sizes.add(short);
    if (crop0) {
      seen.crop++;
      // Resize to 400/500/600 first, then an absolute_range crop of 384..600 per side.
      const pre = first.ops[0];
      assert(pre.kind === "resize" && [400, 500, 600].includes(pre.height), JSON.stringify(pre));
      assert(pre.kind === "resize" && crop0.height <= Math.min(pre.height, 600) && crop0.height >= 384);
      assert(pre.kind === "resize" && crop0.width <= Math.min(pre.width, 600) && crop0.width >= 384);
      // The original's clip crop glides monotonically between two corners.
      const cs = plans.map((p) => cropOf(p)!);
      assert(monotone(cs.map((c) => c.x0)) && monotone(cs.map((c) => c.y0)), JSON.stringify(cs));
      for (const c of cs) assert(c.x0 + c.width <= pre.width! && c.y0 + c.height <= pre.height!);
    } else seen.noCrop++;
    if (kinds.includes("hflip")) seen.flip++;
    else seen.noFlip++;
  }
  assert(seen.crop > 10 && seen.noCrop > 10 && seen.flip > 10 && seen.noFlip > 10, JSON.stringify(seen));
  assert(seen.sizes.size >= 5, `only sizes ${[...seen.sizes]}`);
});

Deno.test("absolute_range crop of a side shorter than the range keeps that whole side", () => {
  // A 400 short-edge resize of a 100x1000 frame would give 400x4000; the 1333 cap makes it
  // 400 * 1333 / 4000 = 133.3 -> 133 rows, so a 384..600 crop takes all 133 rows.
  for (let seed = 0; seed < 20; seed++) {
    const plans = planTrainClip(new Generator(seed), { height: 100, width: 1000 }, 2, {
      ...PAPER,
      crop: { size: [384, 600], preResizeSizes: [400], prob: 1 },
    });
    const c = cropOf(plans[0])!;
    deepEqual([c.height, c.y0], [133, 0]);
    assert(c.width >= 384 && c.width <= 600);
  }
});

Deno.test("per-frame styles draw per frame", () => {
  let differentSizes = 0, mixedFlips = 0;
  for (let seed = 0; seed < 30; seed++) {
    const plans = planTrainClip(new Generator(seed), { height: 90, width: 160 }, 4, {
      ...SMALL,
      sampling: "choice",
      flip: "horizontal",
    });
    if (new Set(plans.map((p) => p.height)).size > 1) differentSizes++;
    if (new Set(plans.map((p) => p.ops.some((op) => op.kind === "hflip"))).size > 1) mixedFlips++;
  }
  assert(differentSizes > 5 && mixedFlips > 5, `${differentSizes} ${mixedFlips}`);
});

Deno.test("range_by_clip draws an integer in [min, max]", () => {
  const shorts = new Set<number>();
  for (let seed = 0; seed < 40; seed++) {
    const [p] = planTrainClip(new Generator(seed), { height: 90, width: 160 }, 1, {
      minSize: [50, 54],
      maxSize: 1000,
      sampling: "range_by_clip",
      flip: "none",
    });
    deepEqual(p.ops.length, 1);
    shorts.add(p.height);
  }
  deepEqual([...shorts].sort(), [50, 51, 52, 53, 54]);
});

Deno.test("same seed, same clip; another seed, another clip", () => {
  const size = { height: 720, width: 1280 };
  const a = planTrainClip(new Generator(123), size, 8, PAPER);
  deepEqual(planTrainClip(new Generator(123), size, 8, PAPER), a);
  let differ = 0;
  for (let seed = 0; seed < 10; seed++) {
    if (JSON.stringify(planTrainClip(new Generator(seed), size, 8, PAPER)) !== JSON.stringify(a)) differ++;
  }
  assert(differ >= 9, `${differ}`);
  // Successive clips from one generator continue the stream instead of repeating it.
  const g = new Generator(5);
  const clips = Array.from({ length: 6 }, () => JSON.stringify(planTrainClip(g, size, 8, PAPER)));
  assert(new Set(clips).size >= 5);
});

/** A dark frame with a bright off-centre L shape that moves by `t` pixels, and its 0/1 mask. */
function paintedFrame(t: number, h = 90, w = 160): { image: ImageU8; mask: ImageU8 } {
  const image = new Uint8Array(h * w * 3);
  const mask = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const inside = (y >= 15 + t && y < 70 + t && x >= 20 + 2 * t && x < 34 + 2 * t) ||
        (y >= 56 + t && y < 70 + t && x >= 20 + 2 * t && x < 70 + 2 * t);
      const i = y * w + x;
      mask[i] = inside ? 1 : 0;
      image[i * 3] = inside ? 250 : 10;
      image[i * 3 + 1] = inside ? 200 : (x * 3) % 64; // texture that is not part of the object
      image[i * 3 + 2] = 40;
    }
  }
  return {
    image: { data: image, height: h, width: w, channels: 3 },
    mask: { data: mask, height: h, width: w, channels: 1 },
  };
}

/**
 * Pixels whose whole 3x3 neighbourhood is inside (outside) the mask must be bright (dark) in the image;
 * only the one-pixel band along the boundary may disagree between nearest and bilinear resizing.
 * Returns the number of violations.
 */
function misaligned(image: ImageU8, mask: ImageU8): number {
  const { height: h, width: w } = mask;
  let bad = 0;
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      let n = 0;
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) n += mask.data[(y + dy) * w + x + dx];
      const bright = image.data[(y * w + x) * 3] > 127;
      if ((n === 9 && !bright) || (n === 0 && bright)) bad++;
    }
  }
  return bad;
}

Deno.test("masks stay aligned with their frames through resize, crop and flip", () => {
  let flipped = 0, cropped = 0, maskPixels = 0, controlTotal = 0;
  for (let seed = 0; seed < 24; seed++) {
    const painted = Array.from({ length: 3 }, (_, t) => paintedFrame(3 * t));
    const out = augmentClip(
      new Generator(seed),
      painted.map((p) => p.image),
      painted.map((p) => [p.mask]),
      SMALL,
    );
    for (let t = 0; t < 3; t++) {
      const img = out.frames[t], mask = out.masks[t][0];
      deepEqual([mask.height, mask.width, img.height, img.width], [
        out.plans[t].height,
        out.plans[t].width,
        out.plans[t].height,
        out.plans[t].width,
      ]);
      deepEqual(misaligned(img, mask), 0, `seed ${seed} frame ${t}: ${JSON.stringify(out.plans[t])}`);
      maskPixels += mask.data.reduce((a, b) => a + b, 0);
      // Masks keep their label values: nearest resizing never blends.
      assert(mask.data.every((v) => v === 0 || v === 1));
    }
    if (out.plans[0].ops.some((op) => op.kind === "hflip")) {
      flipped++;
      // Control: the same mask without the flip is badly misaligned, so the check above can fail.
      const unflipped = { ...out.plans[0], ops: out.plans[0].ops.filter((op) => op.kind !== "hflip") };
      const control = misaligned(out.frames[0], applyToMask(painted[0].mask, unflipped));
      if (out.masks[0][0].data.reduce((a, b) => a + b, 0) >= 100) assert(control > 100, `control ${control}`);
      controlTotal += control;
    }
    if (cropOf(out.plans[0])) cropped++;
  }
  assert(
    flipped > 3 && cropped > 3 && maskPixels > 1000 && controlTotal > 5000,
    `${flipped} ${cropped} ${maskPixels}`,
  );
});

Deno.test("a moving crop shifts each frame by its own offset, identically for frame and mask", () => {
  // A clip of identical frames: with the crop branch forced on, frames differ only by their crop offsets.
  const { image, mask } = paintedFrame(0);
  let moved = 0;
  for (let seed = 0; seed < 10; seed++) {
    const out = augmentClip(new Generator(seed), [image, image, image, image], [[mask], [mask], [mask], [
      mask,
    ]], {
      ...SMALL,
      crop: { ...SMALL.crop!, prob: 1 },
      flip: "none",
    });
    const xs = out.plans.map((p) => cropOf(p)!.x0);
    if (new Set(xs).size > 1) moved++;
    for (let t = 0; t < 4; t++) deepEqual(misaligned(out.frames[t], out.masks[t][0]), 0);
  }
  assert(moved > 3, `${moved}`);
});

Deno.test("bad options and inputs are clear errors", () => {
  const g = new Generator(0);
  const size = { height: 90, width: 160 };
  assertThrows(
    () => planTrainClip(g, size, 2, { ...SMALL, minSize: [48, 80], sampling: "range_by_clip" }),
    /crop preResizeSizes needs exactly two values \[min, max\] under sampling "range_by_clip"/,
  );
  assertThrows(
    () => planTrainClip(g, size, 2, { ...SMALL, flip: "diagonal" as "none" }),
    /unknown flip "diagonal"/,
  );
  assertThrows(() => planTrainClip(g, size, 2, { ...SMALL, crop: { size: [70, 40] } }), /crop size must be/);
  assertThrows(() => planTrainClip(g, size, 0, SMALL), /number of frames must be a positive integer, got 0/);
  const a = paintedFrame(0, 90, 160), b = paintedFrame(0, 90, 150);
  assertThrows(
    () => augmentClip(g, [a.image, b.image], [[a.mask], [b.mask]], SMALL),
    /frame 1 is 90x150, frame 0 is 90x160/,
  );
  assertThrows(
    () => augmentClip(g, [a.image], [[b.mask]], SMALL),
    /mask 0 of frame 0 is 90x150x1, expected 90x160x1/,
  );
  const plan = planTestResize({ height: 90, width: 150 }, 48);
  assertThrows(() => applyToImage(a.image, plan), /plan was made for a 90x150 frame, got 90x160/);
});

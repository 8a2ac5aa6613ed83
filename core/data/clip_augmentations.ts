/**
 * The original's clip augmentations (DsHmp `data/augmentation.py`, `build_augmentation`) as pure functions
 * driven by a {@link Generator}. In training a clip goes through, in order:
 *
 * 1. with probability 0.5 (`RandomApplyClip`), a shortest-edge resize to one of `[400, 500, 600]` (longest
 *    edge at most 1333) followed by an `absolute_range` crop whose size is drawn once per clip;
 * 2. a shortest-edge resize to one of `MIN_SIZE_TRAIN` with the longest edge at most `MAX_SIZE_TRAIN`;
 * 3. a horizontal flip, decided once per clip under `flip_by_clip`.
 *
 * Under the `*_by_clip` styles every frame of a clip gets the same sizes and the same flip. The crop keeps
 * the original's behaviour: its size is shared, but its corner glides between two random positions from
 * the first frame to the last (`RandomCropClip` interpolates the offsets with sorted uniform weights and
 * reverses them half the time), so the offsets of a clip are monotone, not constant.
 *
 * The draws follow the original's order (apply?, pre-resize size, crop height, crop width, two corners,
 * the interpolation weights, reversal, resize size, flip); the values differ from numpy's because the
 * generator is this project's own.
 *
 * A plan ({@link FramePlan}) is computed from the frame size alone, so frames can be planned before they are
 * decoded; {@link applyToImage} replays it with PIL-exact bilinear resizing and {@link applyToMask} with
 * nearest resizing, as detectron2's `ResizeTransform` does for images and segmentations.
 *
 * @example
 * ```ts
 * import { Generator } from "../random.ts";
 * import { applyToImage, applyToMask, planTrainClip } from "./clip_augmentations.ts";
 * const g = new Generator(7);
 * const plans = planTrainClip(g, { height: 720, width: 1280 }, 8, {
 *   minSize: [288, 320, 352, 384, 416, 448, 480, 512],
 *   maxSize: 768,
 *   sampling: "choice_by_clip",
 *   crop: { size: [384, 600] },
 *   flip: "flip_by_clip",
 * });
 * // for each frame t: applyToImage(frame[t], plans[t]) and applyToMask(mask[t], plans[t])
 * ```
 * @module
 */

import type { Generator } from "../random.ts";
import type { ImageU8 } from "../io/image.ts";
import { resizeBilinear, resizeNearest } from "./resize.ts";

/**
 * How the shortest-edge length is drawn (`INPUT.MIN_SIZE_TRAIN_SAMPLING`): `choice` picks one of the
 * lengths, `range` an integer in `[lengths[0], lengths[1]]`; the `_by_clip` forms draw once per clip (and
 * make the crop clip-level too), the plain forms once per frame.
 */
export type ResizeSampling = "choice_by_clip" | "range_by_clip" | "choice" | "range";

/**
 * `INPUT.RANDOM_FLIP`: `flip_by_clip` flips a whole clip horizontally or not (probability 0.5);
 * `horizontal` and `vertical` decide per frame; `none` never flips.
 */
export type FlipMode = "none" | "horizontal" | "vertical" | "flip_by_clip";

/** The crop branch (`INPUT.CROP`, type `absolute_range`), applied to a whole clip with probability `prob`. */
export interface CropOptions {
  /** `[min, max]`: crop height and width are each drawn in `[min, max]`, capped by the image side. */
  size: [number, number];
  /** Shortest-edge lengths of the resize before the crop (the original hard-codes `[400, 500, 600]`). */
  preResizeSizes?: number[];
  /** Longest-edge limit of that resize (the original hard-codes 1333). */
  preResizeMaxSize?: number;
  /** Probability that a clip takes the crop branch (0.5 in the original). */
  prob?: number;
}

/** Training augmentation options, one field per `INPUT.*` key of the original. */
export interface TrainAugmentationOptions {
  /** `MIN_SIZE_TRAIN`: shortest-edge lengths (two bounds under a `range` style). */
  minSize: number[];
  /** `MAX_SIZE_TRAIN`: the longest edge after resizing is at most this. */
  maxSize: number;
  /** `MIN_SIZE_TRAIN_SAMPLING`. */
  sampling: ResizeSampling;
  /** The crop branch when `INPUT.CROP.ENABLED`, else null or absent. */
  crop?: CropOptions | null;
  /** `RANDOM_FLIP`. */
  flip: FlipMode;
}

/** One geometric step applied to a frame and its masks. */
export type FrameOp =
  | { kind: "resize"; height: number; width: number }
  | { kind: "crop"; x0: number; y0: number; height: number; width: number }
  | { kind: "hflip" }
  | { kind: "vflip" };

/** The steps for one frame, the frame size they were planned for and the size they produce. */
export interface FramePlan {
  ops: FrameOp[];
  /** Size of the input frame. */
  inputHeight: number;
  inputWidth: number;
  /** Size of the result. */
  height: number;
  width: number;
}

/** Size of a frame, as `{ height, width }`. */
export interface FrameSize {
  height: number;
  width: number;
}

const DEFAULT_PRE_RESIZE = [400, 500, 600];
const DEFAULT_PRE_RESIZE_MAX = 1333;

/**
 * detectron2's `ResizeShortestEdge.get_output_shape`: scale so the shorter side is `shortEdge`, then shrink
 * so the longer side is at most `maxSize`, rounding each side with `int(x + 0.5)`. Returns `[height, width]`.
 *
 * @example
 * ```ts
 * import { shortestEdgeSize } from "./clip_augmentations.ts";
 * shortestEdgeSize(720, 1280, 448, 1333); // [448, 796]
 * ```
 */
export function shortestEdgeSize(
  height: number,
  width: number,
  shortEdge: number,
  maxSize: number,
): [number, number] {
  const size = shortEdge * 1.0;
  let scale = size / Math.min(height, width);
  let newH: number, newW: number;
  if (height < width) {
    newH = size;
    newW = scale * width;
  } else {
    newH = scale * height;
    newW = size;
  }
  if (Math.max(newH, newW) > maxSize) {
    scale = (maxSize * 1.0) / Math.max(newH, newW);
    newH = newH * scale;
    newW = newW * scale;
  }
  // Python's int() truncates; the values are positive, so this is floor.
  return [Math.trunc(newH + 0.5), Math.trunc(newW + 0.5)];
}

/** numpy's `round` (half to even), used by the original on the interpolated crop offsets. */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

function checkPositiveInt(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 1) {
    throw new Error(`clip augmentations: ${what} must be a positive integer, got ${v}`);
  }
}

function checkLengths(lengths: number[], sampling: ResizeSampling, what: string): void {
  if (!Array.isArray(lengths) || lengths.length === 0) {
    throw new Error(`clip augmentations: ${what} must be a non-empty list of lengths`);
  }
  for (const v of lengths) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`clip augmentations: ${what} has a bad length ${v}`);
  }
  if (sampling.startsWith("range") && lengths.length !== 2) {
    throw new Error(
      `clip augmentations: ${what} needs exactly two values [min, max] under sampling "${sampling}", got ${
        JSON.stringify(lengths)
      }`,
    );
  }
}

/** Draws a shortest-edge length the way `ResizeShortestEdgeClip` does. */
function drawLength(g: Generator, lengths: number[], sampling: ResizeSampling): number {
  return sampling.startsWith("range") ? g.randint(lengths[0], lengths[1] + 1) : g.choice(lengths);
}

/** Appends a shortest-edge resize to `ops` and returns the new size; length 0 means no resize (detectron2). */
function pushResize(ops: FrameOp[], size: FrameSize, length: number, maxSize: number): FrameSize {
  if (length === 0) return size;
  const [height, width] = shortestEdgeSize(size.height, size.width, length, maxSize);
  ops.push({ kind: "resize", height, width });
  return { height, width };
}

/** The crop drawn for a clip: its size and the corner of each frame of the group. */
interface CropDraw {
  cropH: number;
  cropW: number;
  ys: number[];
  xs: number[];
}

function drawCrop(
  g: Generator,
  size: FrameSize,
  crop: CropOptions,
  group: number,
): CropDraw {
  const { height: h, width: w } = size;
  const [lo, hi] = crop.size;
  const cropH = g.randint(Math.min(h, lo), Math.min(h, hi) + 1);
  const cropW = g.randint(Math.min(w, lo), Math.min(w, hi) + 1);
  const y0 = g.randint(0, h - cropH + 1);
  const x0 = g.randint(0, w - cropW + 1);
  const y1 = g.randint(y0, h - cropH + 1);
  const x1 = g.randint(x0, w - cropW + 1);
  const t = Array.from({ length: group }, () => g.uniform()).sort((a, b) => a - b);
  let ys = t.map((a) => roundHalfEven(y0 * a + y1 * (1 - a)));
  let xs = t.map((a) => roundHalfEven(x0 * a + x1 * (1 - a)));
  if (g.uniform() < 0.5) {
    ys = ys.reverse();
    xs = xs.reverse();
  }
  return { cropH, cropW, ys, xs };
}

function validateTrain(size: FrameSize, numFrames: number, opts: TrainAugmentationOptions): void {
  checkPositiveInt(size.height, "frame height");
  checkPositiveInt(size.width, "frame width");
  checkPositiveInt(numFrames, "number of frames");
  const samplings: ResizeSampling[] = ["choice_by_clip", "range_by_clip", "choice", "range"];
  if (!samplings.includes(opts.sampling)) {
    throw new Error(
      `clip augmentations: unknown sampling "${opts.sampling}"; expected one of ${samplings.join(", ")}`,
    );
  }
  const flips: FlipMode[] = ["none", "horizontal", "vertical", "flip_by_clip"];
  if (!flips.includes(opts.flip)) {
    throw new Error(`clip augmentations: unknown flip "${opts.flip}"; expected one of ${flips.join(", ")}`);
  }
  checkLengths(opts.minSize, opts.sampling, "minSize (MIN_SIZE_TRAIN)");
  checkPositiveInt(opts.maxSize, "maxSize (MAX_SIZE_TRAIN)");
  const crop = opts.crop;
  if (crop) {
    const [lo, hi] = crop.size ?? [];
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || lo > hi) {
      throw new Error(
        `clip augmentations: crop size must be integers [min, max] with 1 <= min <= max, got ${
          JSON.stringify(crop.size)
        }`,
      );
    }
    checkLengths(crop.preResizeSizes ?? DEFAULT_PRE_RESIZE, opts.sampling, "crop preResizeSizes");
    checkPositiveInt(crop.preResizeMaxSize ?? DEFAULT_PRE_RESIZE_MAX, "crop preResizeMaxSize");
    const p = crop.prob ?? 0.5;
    if (!(p >= 0 && p <= 1)) throw new Error(`clip augmentations: crop prob must be in [0, 1], got ${p}`);
  }
}

/**
 * Plans the training augmentation of a clip of `numFrames` frames of size `size`: one {@link FramePlan} per
 * frame, drawing from `g` exactly where the original draws (once per clip under `*_by_clip` and
 * `flip_by_clip`, once per frame otherwise).
 *
 * @example
 * ```ts
 * import { Generator } from "../random.ts";
 * import { planTrainClip } from "./clip_augmentations.ts";
 * const plans = planTrainClip(new Generator(1), { height: 480, width: 854 }, 2, {
 *   minSize: [288, 320], maxSize: 768, sampling: "choice_by_clip", flip: "flip_by_clip",
 * });
 * plans[0].height === plans[1].height; // true: one draw per clip
 * ```
 */
export function planTrainClip(
  g: Generator,
  size: FrameSize,
  numFrames: number,
  opts: TrainAugmentationOptions,
): FramePlan[] {
  validateTrain(size, numFrames, opts);
  const group = opts.sampling.endsWith("_by_clip") ? numFrames : 1;
  const flipGroup = opts.flip === "flip_by_clip" ? numFrames : 1;
  const crop = opts.crop ?? null;
  const preSizes = crop?.preResizeSizes ?? DEFAULT_PRE_RESIZE;
  let applyCrop = false;
  let preLength = 0;
  let cropDraw: CropDraw = { cropH: 0, cropW: 0, ys: [], xs: [] };
  let length = 0;
  let flip = false;
  const plans: FramePlan[] = [];
  for (let t = 0; t < numFrames; t++) {
    const ops: FrameOp[] = [];
    let cur: FrameSize = { height: size.height, width: size.width };
    const first = t % group === 0;
    if (crop) {
      if (first) {
        applyCrop = g.uniform() < (crop.prob ?? 0.5);
        // The branch's inner draws happen only when it applies, as inside RandomApplyClip.
        if (applyCrop) preLength = drawLength(g, preSizes, opts.sampling);
      }
      if (applyCrop) {
        cur = pushResize(ops, cur, preLength, crop.preResizeMaxSize ?? DEFAULT_PRE_RESIZE_MAX);
        if (first) cropDraw = drawCrop(g, cur, crop, group);
        const { cropH, cropW, ys, xs } = cropDraw;
        ops.push({ kind: "crop", x0: xs[t % group], y0: ys[t % group], height: cropH, width: cropW });
        cur = { height: cropH, width: cropW };
      }
    }
    if (first) length = drawLength(g, opts.minSize, opts.sampling);
    cur = pushResize(ops, cur, length, opts.maxSize);
    if (opts.flip !== "none") {
      if (t % flipGroup === 0) flip = g.uniform() < 0.5;
      if (flip) ops.push({ kind: opts.flip === "vertical" ? "vflip" : "hflip" });
    }
    plans.push({
      ops,
      inputHeight: size.height,
      inputWidth: size.width,
      height: cur.height,
      width: cur.width,
    });
  }
  return plans;
}

/**
 * The test-time plan: detectron2's `ResizeShortestEdge(MIN_SIZE_TEST, MAX_SIZE_TEST)` (1333 is detectron2's
 * default `MAX_SIZE_TEST`). No randomness.
 *
 * @example
 * ```ts
 * import { planTestResize } from "./clip_augmentations.ts";
 * planTestResize({ height: 720, width: 1280 }, 448); // one resize op; height 448, width 796
 * ```
 */
export function planTestResize(size: FrameSize, minSizeTest: number, maxSizeTest = 1333): FramePlan {
  checkPositiveInt(size.height, "frame height");
  checkPositiveInt(size.width, "frame width");
  checkPositiveInt(minSizeTest, "minSizeTest (MIN_SIZE_TEST)");
  checkPositiveInt(maxSizeTest, "maxSizeTest (MAX_SIZE_TEST)");
  const ops: FrameOp[] = [];
  const out = pushResize(ops, size, minSizeTest, maxSizeTest);
  return { ops, inputHeight: size.height, inputWidth: size.width, height: out.height, width: out.width };
}

function cropImage(img: ImageU8, op: Extract<FrameOp, { kind: "crop" }>): ImageU8 {
  const { x0, y0, height, width } = op;
  if (x0 < 0 || y0 < 0 || x0 + width > img.width || y0 + height > img.height) {
    throw new Error(
      `clip augmentations: crop ${width}x${height} at (${x0}, ${y0}) exceeds the ${img.width}x${img.height} image`,
    );
  }
  const c = img.channels;
  const out = new Uint8Array(height * width * c);
  const rowLen = width * c;
  for (let y = 0; y < height; y++) {
    const from = ((y0 + y) * img.width + x0) * c;
    out.set(img.data.subarray(from, from + rowLen), y * rowLen);
  }
  return { data: out, height, width, channels: c };
}

function flipImage(img: ImageU8, horizontal: boolean): ImageU8 {
  const { height, width, channels: c, data } = img;
  const out = new Uint8Array(data.length);
  const rowLen = width * c;
  for (let y = 0; y < height; y++) {
    const srcRow = (horizontal ? y : height - 1 - y) * rowLen;
    const dstRow = y * rowLen;
    if (!horizontal) {
      out.set(data.subarray(srcRow, srcRow + rowLen), dstRow);
      continue;
    }
    for (let x = 0; x < width; x++) {
      const s = srcRow + (width - 1 - x) * c;
      const d = dstRow + x * c;
      for (let ch = 0; ch < c; ch++) out[d + ch] = data[s + ch];
    }
  }
  return { data: out, height, width, channels: c };
}

function applyPlan(img: ImageU8, plan: FramePlan, resize: typeof resizeBilinear): ImageU8 {
  if (img.height !== plan.inputHeight || img.width !== plan.inputWidth) {
    throw new Error(
      `clip augmentations: the plan was made for a ${plan.inputHeight}x${plan.inputWidth} frame, got ${img.height}x${img.width}`,
    );
  }
  let cur = img;
  for (const op of plan.ops) {
    if (op.kind === "resize") cur = resize(cur, op.height, op.width);
    else if (op.kind === "crop") cur = cropImage(cur, op);
    else cur = flipImage(cur, op.kind === "hflip");
  }
  if (plan.ops.length === 0) cur = { ...img, data: img.data.slice() };
  return cur;
}

/**
 * Applies a frame's plan to the frame image (PIL-exact bilinear resizing). Returns a new image; the input
 * is not modified.
 *
 * @example
 * ```ts
 * import { applyToImage, planTestResize } from "./clip_augmentations.ts";
 * const img = { data: new Uint8Array(720 * 1280 * 3), height: 720, width: 1280, channels: 3 };
 * applyToImage(img, planTestResize(img, 448)).width; // 796
 * ```
 */
export function applyToImage(img: ImageU8, plan: FramePlan): ImageU8 {
  return applyPlan(img, plan, resizeBilinear);
}

/**
 * Applies a frame's plan to a mask of that frame (nearest resizing, as detectron2's `apply_segmentation`),
 * so the mask stays aligned with {@link applyToImage}'s result.
 *
 * @example
 * ```ts
 * import { applyToMask, planTestResize } from "./clip_augmentations.ts";
 * const mask = { data: new Uint8Array(720 * 1280), height: 720, width: 1280, channels: 1 };
 * applyToMask(mask, planTestResize(mask, 448)).height; // 448
 * ```
 */
export function applyToMask(mask: ImageU8, plan: FramePlan): ImageU8 {
  return applyPlan(mask, plan, resizeNearest);
}

/** Result of {@link augmentClip}. */
export interface AugmentedClip {
  frames: ImageU8[];
  /** `masks[t][k]`: mask `k` of frame `t`. */
  masks: ImageU8[][];
  plans: FramePlan[];
}

/**
 * Plans and applies the training augmentation to a clip: `frames[t]` and each of `masks[t]` (one-channel
 * masks of frame `t`, any number) get the same geometric steps. All frames must share one size.
 *
 * @example
 * ```ts
 * import { Generator } from "../random.ts";
 * import { augmentClip } from "./clip_augmentations.ts";
 * const frame = { data: new Uint8Array(60 * 80 * 3), height: 60, width: 80, channels: 3 };
 * const mask = { data: new Uint8Array(60 * 80), height: 60, width: 80, channels: 1 };
 * const out = augmentClip(new Generator(0), [frame, frame], [[mask], [mask]], {
 *   minSize: [32, 48], maxSize: 64, sampling: "choice_by_clip", flip: "flip_by_clip",
 * });
 * out.masks[1][0].width === out.frames[1].width; // true
 * ```
 */
export function augmentClip(
  g: Generator,
  frames: ImageU8[],
  masks: ImageU8[][],
  opts: TrainAugmentationOptions,
): AugmentedClip {
  if (frames.length === 0) throw new Error("clip augmentations: a clip needs at least one frame");
  if (masks.length !== frames.length) {
    throw new Error(`clip augmentations: ${frames.length} frames but masks for ${masks.length}`);
  }
  const { height, width } = frames[0];
  frames.forEach((f, t) => {
    if (f.height !== height || f.width !== width) {
      throw new Error(
        `clip augmentations: frame ${t} is ${f.height}x${f.width}, frame 0 is ${height}x${width}`,
      );
    }
    masks[t].forEach((m, k) => {
      if (m.height !== height || m.width !== width || m.channels !== 1) {
        throw new Error(
          `clip augmentations: mask ${k} of frame ${t} is ${m.height}x${m.width}x${m.channels}, expected ${height}x${width}x1`,
        );
      }
    });
  });
  const plans = planTrainClip(g, { height, width }, frames.length, opts);
  return {
    frames: frames.map((f, t) => applyToImage(f, plans[t])),
    masks: masks.map((ms, t) => ms.map((m) => applyToMask(m, plans[t]))),
    plans,
  };
}

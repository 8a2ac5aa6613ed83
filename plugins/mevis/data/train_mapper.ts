/**
 * The training side of the original's `MeViSDatasetMapper`: one expression record becomes one clip.
 *
 * 1. Frames: `SAMPLING_FRAME_NUM` frames around a random reference frame (`core/data/frame_sampler.ts`).
 * 2. Augmentation: the clip-level resize / crop / flip plan (`core/data/clip_augmentations.ts`), drawn
 *    for the clip's frame size, applied bilinearly to images and nearest to masks. The original keeps the
 *    sentence of a flipped clip as it is ("moving left" over frames where the object moves right);
 *    `swapLeftRightOnFlip` swaps the words instead.
 * 3. Objects: the obj ids seen in the clip's frames, in the order a Python `set` of them iterates (the
 *    original enumerates `set()` to number its instances), one row per object in every frame: the
 *    object's mask where the frame has one (placeholder row with class -1 and id -1 where it has not), and
 *    id -1 where the mask is empty after augmentation (detectron2's `filter_empty_instances`).
 * 4. The clip is kept only if some frame's merged mask is non-empty; otherwise a new clip is drawn, as
 *    the original does (`maxAttempts` bounds the retries the original leaves unbounded).
 *
 * Masks are decoded and augmented before any image is decoded, so a rejected clip costs no JPEG decode;
 * since the whole plan is drawn before either, the draws are the same as decoding first.
 *
 * @example
 * ```ts
 * import { Generator } from "../../../core/random.ts";
 * import { loadMevisSplit } from "./mevis_dataset.ts";
 * import { MevisTrainMapper } from "./train_mapper.ts";
 * const split = await loadMevisSplit("mevis_train", "datasets");
 * const mapper = new MevisTrainMapper(split, {
 *   sampling: { numFrames: 8, range: 10 },
 *   augmentation: { minSize: [288, 320], maxSize: 768, sampling: "choice_by_clip", flip: "flip_by_clip" },
 * });
 * const sample = await mapper.map(split.records[0], new Generator(0));
 * sample.image.length; // 8
 * ```
 * @module
 */
import {
  applyToImage,
  applyToMask,
  type FramePlan,
  planTrainClip,
  type TrainAugmentationOptions,
} from "../../../core/data/clip_augmentations.ts";
import { type FrameSamplerOptions, sampleTrainingFrames } from "../../../core/data/frame_sampler.ts";
import { type Rle, rleDecode } from "../../../core/data/rle.ts";
import { type ImageU8, readImage, readImageSize } from "../../../core/io/image.ts";
import type { Generator } from "../../../core/random.ts";
import type { Tokenizer } from "../../../core/text/tokenizer.ts";
import type { SentenceEncodingOptions } from "../../dshmp/text/decoupling.ts";
import { BadDataError, type BadDataKind } from "./bad_data.ts";
import type { MaskDict } from "./mask_dict.ts";
import type { MevisRecord } from "./mevis_dataset.ts";
import {
  type ChwImage,
  type FrameInstances,
  type ImageFormat,
  type MevisSample,
  recordFields,
  toChw,
} from "./sample.ts";

/** Options of {@link MevisTrainMapper}. */
export interface TrainMapperOptions {
  /** `INPUT.SAMPLING_FRAME_NUM`, `SAMPLING_FRAME_RANGE`, `SAMPLING_FRAME_SHUFFLE`. */
  sampling: Omit<FrameSamplerOptions, "label">;
  /** `INPUT.MIN_SIZE_TRAIN`, `MAX_SIZE_TRAIN`, `MIN_SIZE_TRAIN_SAMPLING`, `CROP`, `RANDOM_FLIP`. */
  augmentation: TrainAugmentationOptions;
  /** `INPUT.FORMAT` (default RGB). */
  format?: ImageFormat;
  /** Fills `lang_tokens` / `lang_mask` when given. */
  tokenizer?: Tokenizer;
  /** How sentences are encoded (default: the original's 40 tokens, pad id 0). */
  text?: SentenceEncodingOptions;
  /** Clips drawn before giving up on an expression (default 1000). */
  maxAttempts?: number;
  /**
   * `INPUT.FLIP_SWAPS_LEFT_RIGHT`: a clip flipped horizontally (every frame) gets "left" and "right" swapped
   * in its sentence, so that "moving left" still names what the frames show. Default false: the original
   * flips the frames and keeps the words.
   */
  swapLeftRightOnFlip?: boolean;
}

/**
 * The sentence as a horizontally flipped clip shows it: `left`/`right` (and `leftmost`/`rightmost`,
 * `leftwards`/`rightwards`) swapped as whole words, everything else untouched.
 *
 * @example
 * ```ts
 * import { swapLeftRight } from "./train_mapper.ts";
 * swapLeftRight("the bird moving left, then right"); // "the bird moving right, then left"
 * swapLeftRight("the leftmost cat"); // "the rightmost cat"
 * ```
 */
export function swapLeftRight(sentence: string): string {
  return sentence.replace(
    /\b(left|right)(most|wards?)?\b/gi,
    (_m, side: string, tail = "") => {
      const swapped = side.toLowerCase() === "left" ? "right" : "left";
      const cased = side[0] === side[0].toUpperCase() ? swapped[0].toUpperCase() + swapped.slice(1) : swapped;
      return cased + tail;
    },
  );
}

/** What the mapper needs of a split. */
export interface TrainMapperSplit {
  name: string;
  masks: MaskDict | null;
  /** First-frame sizes measured while loading, to skip reading a header per clip. */
  frameSizes?: Map<string, [number, number]>;
}

/**
 * The iteration order of a CPython `set` of non-negative ints built by adding `values` in order (hash of
 * an int is the int; open addressing with 9 linear probes then perturbation; the table grows to four
 * times the size when 3/5 full). The original numbers a clip's objects in this order.
 *
 * @example
 * ```ts
 * import { pythonSetOrder } from "./train_mapper.ts";
 * pythonSetOrder([5, 12]); // [12, 5]: slots 12 % 8 = 4 and 5
 * pythonSetOrder([3, 1, 3]); // [1, 3]
 * ```
 */
export function pythonSetOrder(values: readonly number[]): number[] {
  let mask = 7;
  let table: (number | undefined)[] = new Array(8);
  let used = 0;
  const insert = (tbl: (number | undefined)[], msk: number, v: number): boolean => {
    let i = v & msk;
    let perturb = v;
    while (true) {
      const probes = i + 9 <= msk ? 9 : 0;
      for (let j = i, left = probes;; j++, left--) {
        if (tbl[j] === undefined) {
          tbl[j] = v;
          return true;
        }
        if (tbl[j] === v) return false;
        if (left === 0) break;
      }
      perturb = Math.floor(perturb / 32);
      i = (i * 5 + 1 + perturb) & msk;
    }
  };
  for (const v of values) {
    if (!Number.isInteger(v) || v < 0 || v >= 2 ** 31) {
      throw new RangeError(`pythonSetOrder handles ints in [0, 2^31), got ${v}`);
    }
    if (!insert(table, mask, v)) continue;
    used++;
    if (used * 5 >= mask * 3) {
      let size = 8;
      while (size <= used * 4) size *= 2;
      const next: (number | undefined)[] = new Array(size);
      for (const old of table) if (old !== undefined) insert(next, size - 1, old);
      table = next;
      mask = size - 1;
    }
  }
  return table.filter((v): v is number => v !== undefined);
}

/** Bounding box of a 0/1 mask as detectron2's `BitMasks.get_bounding_boxes`, or null when empty. */
function maskBox(m: Uint8Array, h: number, w: number): [number, number, number, number] | null {
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0, p = 0; y < h; y++) {
    for (let x = 0; x < w; x++, p++) {
      if (m[p]) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
    }
  }
  return x1 < 0 ? null : [x0, y0, x1 + 1, y1 + 1];
}

/** The training mapper; see the module doc. */
export class MevisTrainMapper {
  readonly split: TrainMapperSplit;
  readonly options: TrainMapperOptions;
  #sizes = new Map<string, [number, number]>();

  constructor(split: TrainMapperSplit, options: TrainMapperOptions) {
    if (!split.masks) {
      throw new Error(`${split.name}: the training mapper needs a split loaded with ground truth`);
    }
    this.split = split;
    this.options = options;
  }

  #bad(record: MevisRecord, kind: BadDataKind, file: string, detail: string): BadDataError {
    return new BadDataError({
      kind,
      split: this.split.name,
      video: record.video_name,
      expressions: [record.exp_id],
      file,
      detail,
    });
  }

  async #frameSize(record: MevisRecord): Promise<[number, number]> {
    const known = this.split.frameSizes?.get(record.video_name) ?? this.#sizes.get(record.video_name);
    if (known) return known;
    const file = record.file_names[0];
    try {
      const { height, width } = await readImageSize(file);
      this.#sizes.set(record.video_name, [height, width]);
      return [height, width];
    } catch (e) {
      throw this.#bad(record, "unreadable_image", file, (e as Error).message);
    }
  }

  /**
   * Maps a record to a training clip, drawing frames and augmentation from `gen`. Bad data (an
   * unreadable frame, a mask that does not decode or fit its frame) throws a {@link BadDataError}.
   */
  async map(record: MevisRecord, gen: Generator): Promise<MevisSample> {
    const masks = this.split.masks!;
    const { sampling, augmentation } = this.options;
    const maxAttempts = this.options.maxAttempts ?? 1000;
    const [height, width] = await this.#frameSize(record);
    const rles = new Map<string, (Rle | null)[]>();
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const { frames } = sampleTrainingFrames(
        record.length,
        { ...sampling, label: record.video_name },
        gen,
      );
      const plans = planTrainClip(gen, { height, width }, frames.length, augmentation);
      const targets = await this.#targets(record, frames, plans, height, width, masks, rles);
      if (!targets.valid.some((v) => v === 1)) continue;
      const image = await Promise.all(frames.map((f, t) => this.#image(record, f, plans[t], height, width)));
      const flipped = plans.every((p) => p.ops.some((op) => op.kind === "hflip"));
      const sentence = this.options.swapLeftRightOnFlip && flipped
        ? swapLeftRight(record.sentence)
        : record.sentence;
      return {
        image,
        instances: targets.instances,
        gt_masks_merge: targets.merged,
        valid: targets.valid,
        ...recordFields(
          { ...record, sentence },
          frames,
          { height, width },
          this.options.tokenizer,
          this.options.text,
        ),
      };
    }
    throw this.#bad(
      record,
      "no_target",
      masks.path,
      `no sampled clip showed the target in ${maxAttempts} attempts`,
    );
  }

  async #image(record: MevisRecord, f: number, plan: FramePlan, h: number, w: number): Promise<ChwImage> {
    const file = record.file_names[f];
    let img: ImageU8;
    try {
      img = await readImage(file);
    } catch (e) {
      throw this.#bad(record, "unreadable_image", file, (e as Error).message);
    }
    if (img.height !== h || img.width !== w) {
      throw this.#bad(
        record,
        "unreadable_image",
        file,
        `frame is ${img.height}x${img.width}, the video's first frame ${h}x${w}`,
      );
    }
    return toChw(applyToImage(img, plan), this.options.format ?? "RGB");
  }

  async #targets(
    record: MevisRecord,
    frames: number[],
    plans: FramePlan[],
    h: number,
    w: number,
    masks: MaskDict,
    rles: Map<string, (Rle | null)[]>,
  ): Promise<{ instances: FrameInstances[]; merged: Uint8Array[]; valid: number[] }> {
    const seen: number[] = [];
    for (const f of frames) for (const o of record.annotations[f]) seen.push(o.id);
    const order = pythonSetOrder(seen);
    const instances: FrameInstances[] = [];
    const merged: Uint8Array[] = [];
    const valid: number[] = [];
    for (let t = 0; t < frames.length; t++) {
      const plan = plans[t];
      const oh = plan.height, ow = plan.width, plane = oh * ow;
      const n = order.length;
      const inst: FrameInstances = {
        image_size: [oh, ow],
        gt_classes: new Int32Array(n).fill(-1),
        gt_ids: new Int32Array(n).fill(-1),
        gt_masks: new Uint8Array(n * plane),
        gt_boxes: new Float32Array(n * 4),
      };
      const union = new Uint8Array(plane);
      for (const obj of record.annotations[frames[t]]) {
        const k = order.indexOf(obj.id);
        let list = rles.get(obj.anno_id);
        if (!list) {
          list = await masks.get(obj.anno_id);
          rles.set(obj.anno_id, list);
        }
        const m = this.#mask(record, list[frames[t]], frames[t], obj.anno_id, h, w, masks.path);
        const out = applyToMask({ data: m, height: h, width: w, channels: 1 }, plan).data;
        inst.gt_masks.set(out, k * plane);
        inst.gt_classes[k] = obj.category_id;
        const box = maskBox(out, oh, ow);
        // An object whose mask the augmentation emptied keeps its class but loses its id.
        if (box) {
          inst.gt_ids[k] = obj.id;
          inst.gt_boxes.set(box, k * 4);
        }
        for (let p = 0; p < plane; p++) union[p] |= out[p];
      }
      instances.push(inst);
      merged.push(union);
      valid.push(union.some((v) => v !== 0) ? 1 : 0);
    }
    return { instances, merged, valid };
  }

  #mask(
    record: MevisRecord,
    rle: Rle | null,
    frame: number,
    annoId: string,
    h: number,
    w: number,
    file: string,
  ): Uint8Array {
    if (!rle) throw this.#bad(record, "bad_mask", file, `anno_id "${annoId}" lost its frame ${frame} mask`);
    if (rle.size[0] !== h || rle.size[1] !== w) {
      throw this.#bad(
        record,
        "mask_size",
        file,
        `anno_id "${annoId}" frame ${frame} mask is ${rle.size[0]}x${rle.size[1]}, the frame ${h}x${w}`,
      );
    }
    try {
      return rleDecode(rle);
    } catch (e) {
      throw this.#bad(
        record,
        "bad_mask",
        file,
        `anno_id "${annoId}" frame ${frame}: ${(e as Error).message}`,
      );
    }
  }
}

/**
 * What the MeViS mappers hand to the model: the original mapper's `dataset_dict`, with its keys, in typed
 * arrays. Images stay `uint8` channels-first (the model normalises with `PIXEL_MEAN` / `PIXEL_STD`), masks
 * are `uint8` 0/1 row-major, and `lang_tokens` / `lang_mask` hold the 40 padded token ids and their mask
 * (shape `[1, 40]` in the original).
 *
 * @example
 * ```ts
 * import { toChw } from "./sample.ts";
 * const hwc = { data: new Uint8Array([1, 2, 3, 4, 5, 6]), height: 1, width: 2, channels: 3 };
 * toChw(hwc, "RGB").data; // Uint8Array [1, 4, 2, 5, 3, 6]
 * ```
 * @module
 */
import type { ImageU8 } from "../../../core/io/image.ts";
import type { Tokenizer } from "../../../core/text/tokenizer.ts";
import type { MevisRecord } from "./mevis_dataset.ts";
import { encodeSentence, type SentenceEncodingOptions } from "../../dshmp/text/decoupling.ts";

/** A channels-first 8-bit image, `shape` `[channels, height, width]`. */
export interface ChwImage {
  data: Uint8Array;
  shape: [number, number, number];
}

/** The ground truth of one frame (detectron2's `Instances`), one row per clip object. */
export interface FrameInstances {
  /** `[height, width]` after augmentation. */
  image_size: [number, number];
  /** 0 where the object has an annotation in this frame, -1 for the placeholder of an absent one. */
  gt_classes: Int32Array;
  /** The object's `obj_id`, or -1 when absent or its mask is empty after augmentation. */
  gt_ids: Int32Array;
  /** `[N, height, width]` 0/1 masks. */
  gt_masks: Uint8Array;
  /** `[N, 4]` boxes `x0, y0, x1, y1` around each mask (zeros for an empty one). */
  gt_boxes: Float32Array;
}

/** One mapped expression: a training clip or a whole test video. */
export interface MevisSample {
  /** One channels-first image per selected frame. */
  image: ChwImage[];
  /** Per frame, in training; empty at test time. */
  instances: FrameInstances[];
  /** Per frame, the union of the objects' masks (`[height, width]`), in training. */
  gt_masks_merge: Uint8Array[];
  /** Per frame, 1 when `gt_masks_merge` is non-empty (the clip is kept only if one frame is). */
  valid: number[];
  /** Frame indices in the video. */
  frame_idx: number[];
  /** The selected frames' files. */
  file_names: string[];
  /** The original's `len(annotations)`: the video length in training, 0 at test time (as the original). */
  video_len: number;
  /** Frame count of the video. */
  length: number;
  /** Size of the frames before augmentation (the output size at inference). */
  height: number;
  width: number;
  sentence: string;
  refer_id: number;
  exp_id: string;
  video_name: string;
  dataset_name: "mevis";
  /** Padded token ids and attention mask, when the mapper has a tokenizer. */
  lang_tokens: Int32Array | null;
  lang_mask: Int32Array | null;
}

/** The channel order the model expects (`INPUT.FORMAT`). */
export type ImageFormat = "RGB" | "BGR";

/**
 * Converts an RGB HWC image to channels-first, reversing the channels for `BGR`.
 *
 * @example
 * ```ts
 * import { toChw } from "./sample.ts";
 * const hwc = { data: new Uint8Array([1, 2, 3]), height: 1, width: 1, channels: 3 };
 * toChw(hwc, "BGR").data; // Uint8Array [3, 2, 1]
 * ```
 */
export function toChw(img: ImageU8, format: ImageFormat): ChwImage {
  const { height, width, channels: c, data } = img;
  const plane = height * width;
  const out = new Uint8Array(plane * c);
  for (let ch = 0; ch < c; ch++) {
    const src = format === "BGR" ? c - 1 - ch : ch;
    const base = ch * plane;
    for (let p = 0, q = src; p < plane; p++, q += c) out[base + p] = data[q];
  }
  return { data: out, shape: [c, height, width] };
}

/** `lang_tokens` and `lang_mask` of a sentence, or nulls without a tokenizer. */
export function encodeLang(
  sentence: string,
  tokenizer: Tokenizer | undefined,
  options: SentenceEncodingOptions | undefined,
): Pick<MevisSample, "lang_tokens" | "lang_mask"> {
  if (!tokenizer) return { lang_tokens: null, lang_mask: null };
  const enc = encodeSentence(tokenizer, sentence, options);
  return { lang_tokens: enc.ids, lang_mask: enc.attentionMask };
}

/** The fields of a sample that come from its record and frame selection (both mappers share them). */
export function recordFields(
  record: MevisRecord,
  frames: number[],
  size: { height: number; width: number },
  tokenizer: Tokenizer | undefined,
  text: SentenceEncodingOptions | undefined,
): Omit<MevisSample, "image" | "instances" | "gt_masks_merge" | "valid"> {
  return {
    frame_idx: frames,
    file_names: frames.map((f) => record.file_names[f]),
    video_len: record.annotations.length,
    length: record.length,
    height: size.height,
    width: size.width,
    sentence: record.sentence,
    refer_id: record.refer_id,
    exp_id: record.exp_id,
    video_name: record.video_name,
    dataset_name: "mevis",
    ...encodeLang(record.sentence, tokenizer, text),
  };
}

/** Checks the `INPUT.FORMAT` value. */
export function checkFormat(format: string): ImageFormat {
  if (format !== "RGB" && format !== "BGR") {
    throw new Error(`INPUT.FORMAT must be "RGB" or "BGR" for MeViS, got ${JSON.stringify(format)}`);
  }
  return format;
}

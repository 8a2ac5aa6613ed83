/**
 * The inference side of the original's `MeViSDatasetMapper`: every frame of the video, resized so the
 * shorter side is `INPUT.MIN_SIZE_TEST` (longer side at most `MAX_SIZE_TEST`), with the original size kept
 * in `height` / `width` for resizing the predictions back. No ground truth is attached.
 *
 * @example
 * ```ts
 * import { loadMevisSplit } from "./mevis_dataset.ts";
 * import { MevisTestMapper } from "./test_mapper.ts";
 * const split = await loadMevisSplit("mevis_test", "datasets");
 * const mapper = new MevisTestMapper(split, { minSizeTest: 448 });
 * const sample = await mapper.map(split.records[0]);
 * sample.image[0].shape; // [3, 448, 796] for a 720p video
 * ```
 * @module
 */
import { applyToImage, planTestResize } from "../../../core/data/clip_augmentations.ts";
import { inferenceFrames } from "../../../core/data/frame_sampler.ts";
import { type ImageU8, readImage } from "../../../core/io/image.ts";
import type { Tokenizer } from "../../../core/text/tokenizer.ts";
import type { SentenceEncodingOptions } from "../../dshmp/text/decoupling.ts";
import { BadDataError } from "./bad_data.ts";
import type { MevisRecord } from "./mevis_dataset.ts";
import { type ImageFormat, type MevisSample, recordFields, toChw } from "./sample.ts";

/** Options of {@link MevisTestMapper}. */
export interface TestMapperOptions {
  /** `INPUT.MIN_SIZE_TEST`. */
  minSizeTest: number;
  /** `INPUT.MAX_SIZE_TEST` (default 1333). */
  maxSizeTest?: number;
  /** `INPUT.FORMAT` (default RGB). */
  format?: ImageFormat;
  tokenizer?: Tokenizer;
  text?: SentenceEncodingOptions;
}

/** The test mapper; see the module doc. */
export class MevisTestMapper {
  readonly split: { name: string };
  readonly options: TestMapperOptions;

  constructor(split: { name: string }, options: TestMapperOptions) {
    this.split = split;
    this.options = options;
  }

  /** Maps a record to all its frames; an unreadable frame throws a {@link BadDataError}. */
  async map(record: MevisRecord): Promise<MevisSample> {
    const frames = inferenceFrames(record.length);
    const decoded = await Promise.all(frames.map(async (f) => {
      const file = record.file_names[f];
      try {
        return await readImage(file);
      } catch (e) {
        throw this.#bad(record, file, (e as Error).message);
      }
    }));
    // The original keeps the size of the last frame read; a video whose frames differ is reported.
    const last: ImageU8 | undefined = decoded[decoded.length - 1];
    const height = last?.height ?? 0;
    const width = last?.width ?? 0;
    const { minSizeTest, maxSizeTest, format = "RGB" } = this.options;
    const image = decoded.map((img, t) => {
      if (img.height !== height || img.width !== width) {
        throw this.#bad(
          record,
          record.file_names[t],
          `frame is ${img.height}x${img.width}, the video's last frame ${height}x${width}`,
        );
      }
      return toChw(applyToImage(img, planTestResize(img, minSizeTest, maxSizeTest)), format);
    });
    return {
      image,
      instances: [],
      gt_masks_merge: [],
      valid: [],
      ...recordFields(record, frames, { height, width }, this.options.tokenizer, this.options.text),
    };
  }

  #bad(record: MevisRecord, file: string, detail: string): BadDataError {
    return new BadDataError({
      kind: "unreadable_image",
      split: this.split.name,
      video: record.video_name,
      expressions: [record.exp_id],
      file,
      detail,
    });
  }
}

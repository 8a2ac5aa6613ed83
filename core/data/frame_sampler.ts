/**
 * Which frames of a video make a training clip: the frame selection of the original's
 * `dshmp/data/dataset_mapper.py` (`INPUT.SAMPLING_FRAME_NUM`, `SAMPLING_FRAME_RANGE`,
 * `SAMPLING_FRAME_SHUFFLE`), as pure functions over a seeded {@link Generator}.
 *
 * A reference frame is drawn uniformly from the whole video. The other `numFrames - 1` frames are drawn
 * from the frames at most `range` away from it (the reference itself excluded): without replacement
 * when more candidates than needed exist, with replacement otherwise. Note the original's boundary:
 * exactly `numFrames - 1` candidates already means "with replacement", so a clip may repeat a frame
 * although a repeat-free one exists; {@link FrameSamplerOptions.replaceOnlyIfTooFew} changes that. The
 * clip is sorted by frame index, then shuffled if asked. When no frame of the clip shows the target
 * (after augmentation), the original draws a whole new clip; {@link sampleTrainingClip} does the same.
 *
 * @example
 * ```ts
 * import { Generator } from "../random.ts";
 * import { sampleTrainingFrames } from "./frame_sampler.ts";
 * const { frames } = sampleTrainingFrames(120, { numFrames: 8, range: 10 }, new Generator(0));
 * // 8 ascending frame indices within 10 of the reference frame
 * ```
 * @module
 */
import type { Generator } from "../random.ts";

/** Frame sampling settings (the paper config: 8 frames, range 10, no shuffle). */
export interface FrameSamplerOptions {
  /** `INPUT.SAMPLING_FRAME_NUM`: frames per clip, the reference included. */
  numFrames: number;
  /** `INPUT.SAMPLING_FRAME_RANGE`: the largest distance from the reference frame. */
  range: number;
  /** `INPUT.SAMPLING_FRAME_SHUFFLE`: shuffle the clip instead of keeping frame order. */
  shuffle?: boolean;
  /**
   * Draw with replacement only when fewer than `numFrames - 1` candidates exist. Off by default: the
   * original also draws with replacement when there are exactly enough.
   */
  replaceOnlyIfTooFew?: boolean;
  /** Names the video in error messages. */
  label?: string;
}

/** One drawn clip. */
export interface FrameSample {
  /** The reference frame (always among `frames`). */
  reference: number;
  /** The clip's frame indices, `numFrames` of them. */
  frames: number[];
  /** Whether the other frames were drawn with replacement (so they may repeat). */
  withReplacement: boolean;
}

function check(videoLength: number, o: FrameSamplerOptions): string {
  const who = o.label ? `video "${o.label}"` : "frame sampler";
  if (!Number.isInteger(videoLength) || videoLength < 1) {
    throw new Error(`${who}: video length must be a positive integer, got ${videoLength}`);
  }
  if (!Number.isInteger(o.numFrames) || o.numFrames < 1) {
    throw new Error(`${who}: SAMPLING_FRAME_NUM must be a positive integer, got ${o.numFrames}`);
  }
  if (!Number.isInteger(o.range) || o.range < 0) {
    throw new Error(`${who}: SAMPLING_FRAME_RANGE must be a non-negative integer, got ${o.range}`);
  }
  return who;
}

/**
 * Draws one training clip of `options.numFrames` frame indices from a video of `videoLength` frames.
 * Draw order on `gen`: the reference, then the other frames, then the shuffle (if on).
 *
 * @example
 * ```ts
 * import { Generator } from "../random.ts";
 * import { sampleTrainingFrames } from "./frame_sampler.ts";
 * const s = sampleTrainingFrames(5, { numFrames: 8, range: 10 }, new Generator(1));
 * s.withReplacement; // true: a 5-frame video cannot give 8 distinct frames
 * ```
 */
export function sampleTrainingFrames(
  videoLength: number,
  options: FrameSamplerOptions,
  gen: Generator,
): FrameSample {
  const who = check(videoLength, options);
  const reference = gen.randint(0, videoLength);
  const start = Math.max(0, reference - options.range);
  const end = Math.min(videoLength, reference + options.range + 1);
  const candidates: number[] = [];
  for (let f = start; f < end; f++) if (f !== reference) candidates.push(f);

  const need = options.numFrames - 1;
  const withReplacement = options.replaceOnlyIfTooFew ? candidates.length < need : candidates.length <= need;
  if (candidates.length === 0 && need > 0) {
    throw new Error(
      `${who}: no frame other than the reference ${reference} within SAMPLING_FRAME_RANGE ${options.range} ` +
        `(video length ${videoLength}), so ${need} more frames cannot be drawn`,
    );
  }
  const others = withReplacement
    ? Array.from({ length: need }, () => candidates[gen.randint(0, candidates.length)])
    : gen.sampleWithoutReplacement(candidates.length, need).map((i) => candidates[i]);
  const frames = [...others, reference].sort((a, b) => a - b);
  if (options.shuffle) gen.shuffle(frames);
  return { reference, frames, withReplacement };
}

/**
 * The frames used at inference: all of them, in order.
 *
 * @example
 * ```ts
 * import { inferenceFrames } from "./frame_sampler.ts";
 * inferenceFrames(3); // [0, 1, 2]
 * ```
 */
export function inferenceFrames(videoLength: number): number[] {
  if (!Number.isInteger(videoLength) || videoLength < 0) {
    throw new Error(`video length must be a non-negative integer, got ${videoLength}`);
  }
  return Array.from({ length: videoLength }, (_, i) => i);
}

/** Options of {@link sampleTrainingClip}. */
export interface ClipRetryOptions extends FrameSamplerOptions {
  /**
   * Give up after this many clips (default 1000). The original retries forever, which hangs on an
   * expression whose target never appears; a limit turns that into an error naming the video.
   */
  maxAttempts?: number;
}

/** A clip accepted by {@link sampleTrainingClip}. */
export interface AcceptedClip<T> {
  sample: FrameSample;
  /** What `build` returned for the accepted clip. */
  value: T;
  /** Clips drawn, the accepted one included. */
  attempts: number;
}

/**
 * Draws clips until `build` accepts one: `build` loads and augments the frames and returns `undefined`
 * when no frame of the clip has a non-empty target mask (the original's "at least one instance"
 * check), and the whole draw (reference included) starts again.
 *
 * @example
 * ```ts
 * import { Generator } from "../random.ts";
 * import { sampleTrainingClip } from "./frame_sampler.ts";
 * const hasTarget = new Set([40, 41]);
 * const { sample, attempts } = sampleTrainingClip(
 *   60,
 *   { numFrames: 4, range: 3, label: "v0" },
 *   new Generator(3),
 *   (frames) => (frames.some((f) => hasTarget.has(f)) ? frames : undefined),
 * );
 * ```
 */
export function sampleTrainingClip<T>(
  videoLength: number,
  options: ClipRetryOptions,
  gen: Generator,
  build: (frames: number[], attempt: number) => T | undefined,
): AcceptedClip<T> {
  const maxAttempts = options.maxAttempts ?? 1000;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const sample = sampleTrainingFrames(videoLength, options, gen);
    const value = build(sample.frames, attempt);
    if (value !== undefined) return { sample, value, attempts: attempt };
  }
  const who = options.label ? `video "${options.label}"` : "frame sampler";
  throw new Error(`${who}: no frame showed the target in ${maxAttempts} sampled clips`);
}

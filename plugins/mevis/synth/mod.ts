/**
 * The synthetic MeViS-format data set: videos of flat shapes whose motion, not their look, tells them
 * apart, with expressions that refer to them by motion, by appearance and motion, and to several at
 * once. `deno task synth` writes it; {@link ensureSynthData} keeps a first-run cache of it so that
 * training can start with no data set at hand.
 *
 * @example
 * ```ts
 * import { ensureSynthData } from "./mod.ts";
 * const { root } = await ensureSynthData(); // DATASETS.ROOT for mevis_train / mevis_val / mevis_test
 * ```
 * @module
 */
export {
  classifyMotion,
  type Direction,
  DIRECTIONS,
  follows,
  MOTION_KINDS,
  type MotionKind,
  type MotionLabel,
  type MotionProgram,
  type Point,
  trajectory,
} from "./motion.ts";
export {
  type Colour,
  COLOURS,
  insideShape,
  type Shape,
  SHAPES,
  spriteMask,
  type Texture,
  TEXTURES,
} from "./render.ts";
export {
  type ExpressionType,
  matchesQuery,
  type Query,
  type SynthExpression,
  type SynthObject,
} from "./expressions.ts";
export { followGap, generateVideo, renderVideoFrame, type SynthVideo, type VideoSpec } from "./video.ts";
export {
  DEFAULT_SYNTH_CACHE,
  DEFAULT_SYNTH_OPTIONS,
  type EnsuredSynthData,
  ensureSynthData,
  readSynthManifest,
  resolveSynthOptions,
  type SplitCounts,
  SYNTH_SPLITS,
  SYNTH_VERSION,
  synthHash,
  type SynthManifest,
  type SynthOptions,
  type SynthSplit,
  synthVideo,
  writeSynthDataset,
} from "./writer.ts";
export { parseFrameRange, parseSize, parseVideoCounts } from "./options.ts";
export { contactSheetPng } from "./contact_sheet.ts";
export {
  baselineObjects,
  formatBaselines,
  scoreSynthBaselines,
  SYNTH_BASELINES,
  type SynthBaseline,
} from "./baselines.ts";

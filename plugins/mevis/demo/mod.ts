/**
 * What `deno task demo` needs beyond the evaluation: reading a user's folder of frames as a test record
 * ({@link listFrames}, {@link demoRecord}) and drawing the predicted targets over the frames
 * ({@link tintFrame}, {@link overlaySheetPng}).
 *
 * @example
 * ```ts ignore
 * import { demoRecord, listFrames } from "./mod.ts";
 * const record = demoRecord(await listFrames("frames/"), "the cat jumping");
 * ```
 * @module
 */
export { demoRecord, FRAME_EXTENSIONS, frameStem, listFrames, naturalSort } from "./frames.ts";
export {
  EDGE,
  type OverlaySheetOptions,
  overlaySheetPng,
  rgbPng,
  sheetFrames,
  TINT,
  tintFrame,
} from "./overlay.ts";

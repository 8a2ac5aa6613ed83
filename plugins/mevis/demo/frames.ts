/**
 * The frames of a user's video: a folder of JPEG or PNG images, in natural name order (`2.jpg` before
 * `10.jpg`), as a MeViS-style record the test mapper can read.
 *
 * @example
 * ```ts ignore
 * import { listFrames } from "./frames.ts";
 * const files = await listFrames("my_video/"); // ["my_video/00000.jpg", ...]
 * ```
 * @module
 */
import { join } from "node:path";
import { type MevisRecord, normalizeSentence } from "../data/mevis_dataset.ts";

/** Extensions read as frames (lower case). */
export const FRAME_EXTENSIONS: readonly string[] = [".jpg", ".jpeg", ".png"];

const collator = new Intl.Collator("en", { numeric: true, sensitivity: "base" });

/** Sorts file names as people number frames: `frame2` before `frame10`. */
export function naturalSort(names: readonly string[]): string[] {
  return [...names].sort((a, b) => collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The frame files of `dir` (JPEG / PNG, natural order). Throws when `dir` is not a folder or holds no
 * frame, saying what it looked for.
 */
export async function listFrames(dir: string): Promise<string[]> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`--frames ${dir}: no such folder`);
    throw e;
  }
  if (!info.isDirectory) {
    throw new Error(
      `--frames ${dir}: not a folder (give a folder of JPEG or PNG frames; video files are not read)`,
    );
  }
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const lower = entry.name.toLowerCase();
    if (entry.isFile && !entry.name.startsWith(".") && FRAME_EXTENSIONS.some((x) => lower.endsWith(x))) {
      names.push(entry.name);
    }
  }
  if (names.length === 0) {
    throw new Error(`--frames ${dir}: no ${FRAME_EXTENSIONS.join(" / ")} files in the folder`);
  }
  return naturalSort(names).map((n) => join(dir, n));
}

/** The name of a frame file without its folder and extension (the mask PNG's name). */
export function frameStem(file: string): string {
  const base = file.split(/[\\/]/).pop()!;
  const dot = base.lastIndexOf(".");
  return dot > 0 ? base.slice(0, dot) : base;
}

/**
 * A test record over `files` with one sentence, as the MeViS loader builds for `valid_u` (lower-cased,
 * whitespace collapsed; no annotations).
 */
export function demoRecord(files: readonly string[], sentence: string, videoName = "demo"): MevisRecord {
  return {
    file_names: [...files],
    length: files.length,
    annotations: [],
    sentence: normalizeSentence(sentence),
    refer_id: -1,
    exp_id: "0",
    video_name: videoName,
  };
}

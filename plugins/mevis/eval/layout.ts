/**
 * The folder layout of MeViS predictions, shared by the writer, the merger and the submission:
 * `<root>/<video>/<exp_id>/<frame>.png`, 8-bit gray, 0 or 255, one PNG per frame of the video (frame
 * names are the JPEG names without `.jpg`). An expression counts as done when its folder holds a PNG for
 * every frame; the writer only ever creates complete folders (it renames a finished temporary folder
 * from `<root>/.tmp/` into place), so a folder with frames missing comes from elsewhere.
 *
 * @example
 * ```ts
 * import { expressionDir, missingFrames } from "./layout.ts";
 * expressionDir("out/inference", "vid", "0"); // "out/inference/vid/0"
 * await missingFrames("out/inference", "vid", "0", ["00000", "00001"]); // null: no folder yet
 * ```
 * @module
 */
import { join } from "node:path";

/** Temporary folders of expressions being written, below the predictions root. */
export const TMP_DIR = ".tmp";

/** One expression of a split's expressions file, with its frames sorted by name. */
export interface ExpectedExpression {
  video: string;
  expId: string;
  frames: string[];
  /** The expression's `type` field, when the file gives one. */
  type?: string;
}

/**
 * Reads a MeViS expressions file (`meta_expressions.json`) into its expressions, in file order.
 *
 * @example
 * ```ts ignore
 * const expected = await readExpected("datasets/mevis/valid/meta_expressions.json");
 * expected[0]; // { video: "...", expId: "0", frames: ["00000", ...] }
 * ```
 */
export async function readExpected(jsonFile: string): Promise<ExpectedExpression[]> {
  let meta: {
    videos?: Record<string, { frames?: unknown; expressions?: Record<string, { type?: unknown }> }>;
  };
  try {
    meta = JSON.parse(await Deno.readTextFile(jsonFile));
  } catch (e) {
    throw new Error(`cannot read the expressions file ${jsonFile}: ${(e as Error).message}`);
  }
  if (typeof meta?.videos !== "object" || meta.videos === null) {
    throw new Error(`${jsonFile} has no "videos" object`);
  }
  const out: ExpectedExpression[] = [];
  for (const [video, v] of Object.entries(meta.videos)) {
    if (!Array.isArray(v?.frames) || typeof v.expressions !== "object" || v.expressions === null) {
      throw new Error(`${jsonFile}: video "${video}" needs "frames" and "expressions"`);
    }
    const frames = (v.frames as unknown[]).map(String).sort();
    for (const [expId, e] of Object.entries(v.expressions)) {
      out.push({ video, expId, frames, ...(typeof e?.type === "string" ? { type: e.type } : {}) });
    }
  }
  return out;
}

/** The folder of one expression's PNGs. */
export function expressionDir(root: string, video: string, expId: string): string {
  return join(root, video, expId);
}

/**
 * The frames of `frames` without a PNG in the expression's folder, or null when the folder is missing.
 * An empty list means the expression is done.
 */
export async function missingFrames(
  root: string,
  video: string,
  expId: string,
  frames: readonly string[],
): Promise<string[] | null> {
  const names = new Set<string>();
  try {
    for await (const entry of Deno.readDir(expressionDir(root, video, expId))) {
      if (entry.isFile) names.add(entry.name);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  return frames.filter((f) => !names.has(`${f}.png`));
}

/** Whether the expression's folder holds every frame's PNG. */
export async function isDone(
  root: string,
  video: string,
  expId: string,
  frames: readonly string[],
): Promise<boolean> {
  return (await missingFrames(root, video, expId, frames))?.length === 0;
}

/**
 * Checks that every expected expression is done under `root`; throws an error naming the first missing
 * expression or frame (and how many are missing in all).
 *
 * @example
 * ```ts ignore
 * await checkComplete("out/inference", expected); // throws "... vid/0 frame 00003 is missing ..."
 * ```
 */
export async function checkComplete(root: string, expected: readonly ExpectedExpression[]): Promise<void> {
  const problems: string[] = [];
  for (const e of expected) {
    const missing = await missingFrames(root, e.video, e.expId, e.frames);
    if (missing === null) {
      problems.push(
        `expression ${e.video}/${e.expId} has no folder ${expressionDir(root, e.video, e.expId)}`,
      );
    } else if (missing.length > 0) {
      problems.push(
        `expression ${e.video}/${e.expId} frame ${missing[0]} is missing (${
          join(expressionDir(root, e.video, e.expId), `${missing[0]}.png`)
        }; ${missing.length} of ${e.frames.length} frames missing)`,
      );
    }
  }
  if (problems.length > 0) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more incomplete expressions)` : "";
    throw new Error(
      `predictions in ${root} are incomplete: ${problems[0]}${more}; run the evaluation again to finish it`,
    );
  }
}

/**
 * The benchmark submission of a split without ground truth (`mevis_test`, i.e. MeViS `valid`): a zip
 * whose root holds the video folders, `<video>/<exp_id>/<frame>.png`, the layout the MeViS evaluation
 * server reads. Before zipping, every expression of the expressions file and every frame of its video
 * must be present; a missing one is an error naming it.
 *
 * The zip is the same bytes for the same predictions: entries in expressions-file order (frames sorted),
 * stored without recompression (PNGs are already deflated), with a fixed timestamp.
 *
 * @example
 * ```ts ignore
 * import { readExpected } from "./layout.ts";
 * import { writeSubmission } from "./submission.ts";
 * const expected = await readExpected("datasets/mevis/valid/meta_expressions.json");
 * await writeSubmission("out/inference", expected, "out/submission_mevis_test.zip");
 * ```
 * @module
 */
import { join } from "node:path";
import { type Zippable, zipSync } from "fflate";
import { writeFileAtomic } from "../../../core/io/atomic.ts";
import { checkComplete, type ExpectedExpression, expressionDir } from "./layout.ts";

// Local-time fields of the DOS timestamp, so the bytes do not depend on the time zone.
const ZIP_TIME = new Date(1980, 0, 1, 0, 0, 0);

/**
 * The zip's entries in order: `<video>/<exp_id>/<frame>.png`.
 *
 * @example
 * ```ts
 * import { submissionEntries } from "./submission.ts";
 * submissionEntries([{ video: "v", expId: "0", frames: ["00000", "00001"] }]);
 * // ["v/0/00000.png", "v/0/00001.png"]
 * ```
 */
export function submissionEntries(expected: readonly ExpectedExpression[]): string[] {
  return expected.flatMap((e) => e.frames.map((f) => `${e.video}/${e.expId}/${f}.png`));
}

/**
 * Checks the predictions under `root` are complete and returns the zip's bytes.
 *
 * @example
 * ```ts ignore
 * const zip = await buildSubmission("out/inference", expected);
 * ```
 */
export async function buildSubmission(
  root: string,
  expected: readonly ExpectedExpression[],
): Promise<Uint8Array> {
  await checkComplete(root, expected);
  const files: Zippable = {};
  for (const e of expected) {
    const dir = expressionDir(root, e.video, e.expId);
    for (const f of e.frames) {
      files[`${e.video}/${e.expId}/${f}.png`] = [await Deno.readFile(join(dir, `${f}.png`)), {
        level: 0,
        mtime: ZIP_TIME,
      }];
    }
  }
  return zipSync(files);
}

/**
 * Builds the submission (see {@link buildSubmission}) and writes it to `zipPath` atomically; returns
 * the number of PNGs in it.
 *
 * @example
 * ```ts ignore
 * const n = await writeSubmission("out/inference", expected, "out/submission_mevis_test.zip");
 * ```
 */
export async function writeSubmission(
  root: string,
  expected: readonly ExpectedExpression[],
  zipPath: string,
): Promise<number> {
  await writeFileAtomic(zipPath, await buildSubmission(root, expected));
  return submissionEntries(expected).length;
}

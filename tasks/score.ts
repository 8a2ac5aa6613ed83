/**
 * `deno task score`: J&F of MeViS-style predictions against a split with ground truth, the numbers of
 * the official `tools/eval_mevis.py` (see plugins/mevis/eval).
 *
 * ```sh
 * deno task score --split-dir datasets/mevis/valid_u --pred-dir output/inference --out results.json
 * deno task score --split-dir ../shared/fixtures/mevis_eval --pred-dir ../shared/fixtures/mevis_eval/pred --workers 2
 * deno task score --split-dir datasets/mevis/valid_u --pred-dir output/inference --error-sheets output/sheets
 * ```
 *
 * The JSON written (atomically: a temp file renamed) is
 * `{"J", "F", "JF", "per_expression": {"<video>_<exp_id>": [J, F]}, "missing_videos": [...]}`, plus
 * `per_type` when meta_expressions.json gives expressions a `type`.
 * @module
 */
import { dirname } from "node:path";
import { formatHelp, parseCommandLine, UsageError } from "../core/cli/flags.ts";
import { Progress } from "../core/progress.ts";
import { loadSplit, scoreSplit, type SplitScore, writeErrorSheets } from "../plugins/mevis/eval/mod.ts";

const FLAGS = {
  "split-dir": { type: "string", arg: "DIR", doc: "folder with meta_expressions.json and mask_dict.json" },
  "meta": { type: "string", arg: "FILE", doc: "meta_expressions.json (instead of --split-dir)" },
  "masks": { type: "string", arg: "FILE", doc: "mask_dict.json (instead of --split-dir)" },
  "pred-dir": { type: "string", arg: "DIR", doc: "predictions: <DIR>/<video>/<exp_id>/<frame>.png" },
  "out": { type: "string", arg: "FILE", doc: "write the results JSON here" },
  "workers": { type: "int", default: 1, doc: "scoring threads (this one plus N-1 workers)" },
  "error-sheets": {
    type: "string",
    arg: "DIR",
    doc: "also write DIR/<video>.png: per expression, what was predicted right and wrong (needs --split-dir)",
  },
  "sheet-videos": { type: "int", arg: "N", doc: "with --error-sheets: only the first N videos" },
  "quiet": { type: "boolean", short: "q", doc: "no progress bar" },
  "help": { type: "boolean", short: "h", doc: "show this help and exit" },
} as const;

const HELP =
  `Usage: deno task score --split-dir DIR --pred-dir DIR [--out FILE] [--workers N] [--error-sheets DIR]

J&F of predicted masks as the official MeViS tools/eval_mevis.py computes it: per expression the
mean over frames of region J and boundary F, then the mean over expressions. Ground truth is the
sum of the expression's objects in mask_dict.json; predictions are gray PNGs (nonzero = foreground).
A video folder missing from --pred-dir scores [0, 0] with a warning.

Options:
${formatHelp(FLAGS)}

Output JSON: {"J", "F", "JF", "per_expression": {"<video>_<exp_id>": [J, F]}, "missing_videos"},
plus "per_type" when the expressions have a "type".`;

/** Writes `text` to `path` through a temp file in the same folder and a rename. */
async function writeAtomic(path: string, text: string): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${Deno.pid}.tmp`;
  try {
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new Error(`cannot write ${path}: ${(e as Error).message}`);
  }
}

/** The JSON document of a result: the official fields first. */
export function resultJson(res: SplitScore): Record<string, unknown> {
  const out: Record<string, unknown> = {
    J: res.J,
    F: res.F,
    JF: res.JF,
    per_expression: res.per_expression,
    missing_videos: res.missing_videos,
  };
  if (res.per_type) out.per_type = res.per_type;
  return out;
}

/**
 * Runs the task; returns the exit code (0 ok, 1 failed, 2 bad command line).
 *
 * @example
 * ```ts ignore
 * import { main } from "./score.ts";
 * Deno.exit(await main(["--split-dir", "split", "--pred-dir", "pred", "--out", "r.json"]));
 * ```
 */
export async function main(argv: readonly string[]): Promise<number> {
  let values;
  try {
    const parsed = parseCommandLine(argv, FLAGS);
    values = parsed.values;
    if (parsed.rest.length > 0) throw new UsageError(`unexpected argument ${parsed.rest[0]}; see --help`);
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (!values["pred-dir"]) throw new UsageError("--pred-dir is required");
    if (!values["split-dir"] && !(values.meta && values.masks)) {
      throw new UsageError("give --split-dir, or both --meta and --masks");
    }
    if (values.workers < 1) throw new UsageError(`--workers must be at least 1, got ${values.workers}`);
    if (values["error-sheets"] && !values["split-dir"]) {
      throw new UsageError(
        "--error-sheets reads the frames from --split-dir DIR/JPEGImages: give --split-dir",
      );
    }
    if (values["sheet-videos"] !== undefined && !values["error-sheets"]) {
      throw new UsageError("--sheet-videos needs --error-sheets DIR");
    }
  } catch (e) {
    console.error(`score: ${(e as Error).message}`);
    return 2;
  }
  const splitOpts = { splitDir: values["split-dir"], metaPath: values.meta, maskPath: values.masks };
  try {
    const started = performance.now();
    // Totals for the progress bar come from the meta file, read once more here (it is small).
    const { meta } = await loadSplit(splitOpts);
    let frames = 0;
    for (const v of Object.values(meta.videos)) frames += v.frames.length * Object.keys(v.expressions).length;
    const bar = new Progress(frames, "score", { unit: "frames", quiet: values.quiet });
    const res = await scoreSplit({
      ...splitOpts,
      predDir: values["pred-dir"],
      workers: values.workers,
      onFrames: (n) => bar.tick(n),
      warn: (m) => console.warn(`score: warning: ${m}`),
    });
    bar.done();
    const seconds = (performance.now() - started) / 1000;
    if (values.out) await writeAtomic(values.out, JSON.stringify(resultJson(res), null, 1) + "\n");
    console.log(`J: ${res.J}`);
    console.log(`F: ${res.F}`);
    console.log(`J&F: ${res.JF}`);
    for (const [type, t] of Object.entries(res.per_type ?? {})) {
      console.log(`  ${type}: J ${t.J.toFixed(4)} F ${t.F.toFixed(4)} J&F ${t.JF.toFixed(4)} (${t.count})`);
    }
    console.log(
      `${res.num_expressions} expressions, ${res.num_frames} frames, ${
        (res.num_pixels / 1e6).toFixed(1)
      } MP in ` +
        `${seconds.toFixed(2)} s (${(res.num_frames / seconds).toFixed(0)} frames/s, ` +
        `${(res.num_pixels / 1e6 / seconds).toFixed(0)} MP/s, ${values.workers} thread${
          values.workers > 1 ? "s" : ""
        })` +
        (values.out ? ` -> ${values.out}` : ""),
    );
    if (values["error-sheets"]) {
      const paths = await writeErrorSheets({
        splitDir: values["split-dir"]!,
        metaPath: values.meta,
        predDir: values["pred-dir"],
        outDir: values["error-sheets"],
        videos: values["sheet-videos"],
        scores: res.per_expression,
      });
      console.log(`error sheets of ${paths.length} videos -> ${values["error-sheets"]}`);
    }
    return 0;
  } catch (e) {
    console.error(`score: ${(e as Error).message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));

/**
 * The steps of `deno task eval` for one data set, usable without the command line:
 *
 * 1. {@link predictDataset}: run a predictor over the expressions of a shard (or all) and write their
 *    PNGs under the predictions root, skipping expressions already done (resume).
 * 2. {@link mergeShards}: copy complete expressions from other runs' predictions roots (shards run with
 *    their own `OUTPUT_DIR`) into this one.
 * 3. {@link finishDataset}: check that every expression and frame is there, then score against the
 *    ground truth (`results.json`, and error sheets of a few videos when asked) when the split has
 *    `mask_dict.json`, else write the submission zip.
 *
 * The predictions root is `OUTPUT_DIR/inference` as in the original (`OUTPUT_DIR/inference/<dataset>`
 * when several data sets are evaluated at once, so they cannot mix). A stamp `.eval.json` in it records
 * the data set, model and weights; a run, resume or merge with other ones is refused rather than mixing
 * predictions of two models.
 *
 * @example
 * ```ts ignore
 * import { finishDataset, inferenceRoot, loadEvalSplit, predictDataset } from "./run_eval.ts";
 * const split = await loadEvalSplit(cfg, ctx, "mevis_val");
 * const root = inferenceRoot("out", "mevis_val", false);
 * await predictDataset({ cfg, split, root, predictor });
 * const done = await finishDataset({ split, root, outputDir: "out" });
 * done.results?.JF;
 * ```
 * @module
 */
import { join } from "node:path";
import type { Config } from "../../../core/config/merge.ts";
import { get } from "../../../core/config/get.ts";
import { writeJsonAtomic } from "../../../core/io/atomic.ts";
import type { BuildContext } from "../../../core/registries.ts";
import { testMapperOptionsFromConfig } from "../data/loader.ts";
import type { MevisSplit } from "../data/mevis_dataset.ts";
import { MevisTestMapper } from "../data/test_mapper.ts";
import { pendingRecords, writeInference, type WriteInferenceResult } from "./inference_writer.ts";
import {
  checkComplete,
  type ExpectedExpression,
  expressionDir,
  isDone,
  readExpected,
  TMP_DIR,
} from "./layout.ts";
import type { VideoPredictor } from "./predictor.ts";
import { writeErrorSheets } from "./error_sheet.ts";
import { readExpressionTypes, type ResultsDocument, resultsDocument } from "./results.ts";
import { scoreSplit } from "./score_split.ts";
import { expressionKey, type Shard, shardKeys, WHOLE } from "./shards.ts";
import { writeSubmission } from "./submission.ts";

/** The stamp file in a predictions root. */
export const STAMP_FILE = ".eval.json";

/** What a predictions root was made with. */
export interface EvalStamp {
  dataset: string;
  model: string;
  weights: string;
}

/**
 * The predictions root of a data set: `<outputDir>/inference`, or `<outputDir>/inference/<dataset>`
 * when several data sets are evaluated in one run.
 */
export function inferenceRoot(outputDir: string, dataset: string, several: boolean): string {
  return several ? join(outputDir, "inference", dataset) : join(outputDir, "inference");
}

/**
 * Loads a test data set through `ctx.registries.datasets`; it must be a MeViS-format split.
 *
 * @example
 * ```ts ignore
 * const split = await loadEvalSplit(cfg, ctx, "mevis_test");
 * ```
 */
export async function loadEvalSplit(cfg: Config, ctx: BuildContext, dataset: string): Promise<MevisSplit> {
  const split = await ctx.registries.datasets.get(dataset)(cfg, ctx) as Partial<MevisSplit>;
  if (!Array.isArray(split?.records) || typeof split.jsonFile !== "string") {
    throw new Error(`data set "${dataset}" is not a MeViS-format split; deno task eval evaluates those only`);
  }
  return split as MevisSplit;
}

/** The stamp of a run: data set, `MODEL.META_ARCHITECTURE`, `MODEL.WEIGHTS`. */
export function stampOf(cfg: Config, dataset: string): EvalStamp {
  return {
    dataset,
    model: String(get(cfg, "MODEL.META_ARCHITECTURE")),
    weights: String(get(cfg, "MODEL.WEIGHTS")),
  };
}

async function readStamp(root: string): Promise<EvalStamp | null> {
  try {
    return JSON.parse(await Deno.readTextFile(join(root, STAMP_FILE)));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw new Error(`cannot read ${join(root, STAMP_FILE)}: ${(e as Error).message}`);
  }
}

/**
 * Writes `stamp` into `root`, or checks it against the one there; a different one is an error saying
 * what differs.
 */
export async function claimRoot(root: string, stamp: EvalStamp): Promise<void> {
  const old = await readStamp(root);
  if (old === null) {
    await Deno.mkdir(root, { recursive: true });
    await writeJsonAtomic(join(root, STAMP_FILE), stamp);
    return;
  }
  const diff = (Object.keys(stamp) as (keyof EvalStamp)[]).filter((k) => old[k] !== stamp[k]);
  if (diff.length > 0) {
    throw new Error(
      `${root} holds predictions made with ${diff.map((k) => `${k} "${old[k]}"`).join(", ")}, not ${
        diff.map((k) => `"${stamp[k]}"`).join(", ")
      }; use another OUTPUT_DIR or delete the folder to start over`,
    );
  }
}

/** Options of {@link predictDataset}. */
export interface PredictDatasetOptions {
  cfg: Config;
  split: MevisSplit;
  root: string;
  predictor: VideoPredictor;
  /** The part to run (default all). */
  shard?: Shard;
  /** Called once the work is known: pending frames and expressions, and those already done. */
  onStart?: (pendingFrames: number, pending: number, done: number) => void;
  /** Called after each written expression. */
  onExpression?: (key: string, frames: number) => void;
}

/**
 * Predicts the shard's expressions not done yet (see the module doc).
 *
 * @example
 * ```ts ignore
 * const res = await predictDataset({ cfg, split, root, predictor, shard: { index: 0, count: 4 } });
 * ```
 */
export async function predictDataset(options: PredictDatasetOptions): Promise<WriteInferenceResult> {
  const { cfg, split, root, predictor } = options;
  await claimRoot(root, stampOf(cfg, split.name));
  const shard = options.shard ?? WHOLE;
  const expected = await readExpected(split.jsonFile);
  const keys = shardKeys(expected.map((e) => expressionKey(e.video, e.expId)), shard);
  const { pending, done } = await pendingRecords(split, root, keys);
  options.onStart?.(pending.reduce((a, r) => a + r.length, 0), pending.length, done.length);
  const mapper = new MevisTestMapper(split, { ...testMapperOptionsFromConfig(cfg), ...predictor.mapper });
  return writeInference({ split, predictor, root, mapper, keys, onExpression: options.onExpression });
}

/**
 * Frames still to predict under `root` over all shards (for a progress bar over several workers).
 */
export async function pendingFrames(split: MevisSplit, root: string): Promise<number> {
  const { pending } = await pendingRecords(split, root);
  return pending.reduce((a, r) => a + r.length, 0);
}

async function copyExpression(from: string, root: string, e: ExpectedExpression): Promise<void> {
  const tmpRoot = join(root, TMP_DIR);
  await Deno.mkdir(tmpRoot, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: tmpRoot, prefix: `${Deno.pid}-` });
  try {
    const src = expressionDir(from, e.video, e.expId);
    for (const f of e.frames) await Deno.copyFile(join(src, `${f}.png`), join(tmp, `${f}.png`));
    const target = expressionDir(root, e.video, e.expId);
    await Deno.mkdir(join(root, e.video), { recursive: true });
    await Deno.remove(target, { recursive: true }).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
    await Deno.rename(tmp, target);
  } catch (err) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw err;
  }
}

/**
 * Copies into `root` every expression complete in one of `sources` (other predictions roots) and not
 * yet in `root`; the first source holding it wins. Sources must carry the same stamp as `root` would.
 * Returns the number of expressions copied.
 *
 * @example
 * ```ts ignore
 * await mergeShards("out/inference", ["shard0/inference", "shard1/inference"], expected, stamp);
 * ```
 */
export async function mergeShards(
  root: string,
  sources: readonly string[],
  expected: readonly ExpectedExpression[],
  stamp: EvalStamp,
): Promise<number> {
  await claimRoot(root, stamp);
  for (const s of sources) {
    const other = await readStamp(s);
    if (other === null) {
      throw new Error(`${s} has no ${STAMP_FILE}: it is not a predictions folder of deno task eval`);
    }
    await claimRoot(s, stamp);
  }
  let copied = 0;
  for (const e of expected) {
    if (await isDone(root, e.video, e.expId, e.frames)) continue;
    for (const s of sources) {
      if (await isDone(s, e.video, e.expId, e.frames)) {
        await copyExpression(s, root, e);
        copied++;
        break;
      }
    }
  }
  return copied;
}

/** Options of {@link finishDataset}. */
export interface FinishOptions {
  split: MevisSplit;
  root: string;
  outputDir: string;
  /** Scoring threads (default 1). */
  workers?: number;
  /** Also write the submission zip when the split has ground truth. */
  zip?: boolean;
  /** Called with the number of frames just scored. */
  onFrames?: (n: number) => void;
  /** With ground truth: error sheets of this many videos into `<outputDir>/error_sheets/<dataset>/`. */
  errorSheets?: number;
}

/** What {@link finishDataset} wrote. */
export interface FinishResult {
  /** The results document, when the split has ground truth. */
  results?: ResultsDocument;
  resultsPath?: string;
  /** The error sheets written (see error_sheet.ts). */
  sheetPaths?: string[];
  zipPath?: string;
  pngs: number;
}

/** Whether the split's folder has `mask_dict.json` (ground truth to score against). */
export async function hasGroundTruth(split: MevisSplit): Promise<boolean> {
  try {
    return (await Deno.stat(join(split.imageRoot, "mask_dict.json"))).isFile;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * Checks completeness, then scores (`<root>/results.json`) or zips
 * (`<outputDir>/submission_<dataset>.zip`), and removes the root's temporary folder.
 *
 * @example
 * ```ts ignore
 * const { results, zipPath } = await finishDataset({ split, root, outputDir: "out", workers: 2 });
 * ```
 */
export async function finishDataset(options: FinishOptions): Promise<FinishResult> {
  const { split, root, outputDir } = options;
  const expected = await readExpected(split.jsonFile);
  await checkComplete(root, expected);
  await Deno.remove(join(root, TMP_DIR), { recursive: true }).catch(() => {});
  const pngs = expected.reduce((a, e) => a + e.frames.length, 0);
  const out: FinishResult = { pngs };
  const scored = await hasGroundTruth(split);
  if (scored) {
    const score = await scoreSplit({
      metaPath: split.jsonFile,
      maskPath: join(split.imageRoot, "mask_dict.json"),
      predDir: root,
      workers: options.workers ?? 1,
      onFrames: options.onFrames,
    });
    out.results = resultsDocument(score, await readExpressionTypes(split.jsonFile, expected));
    out.resultsPath = join(root, "results.json");
    await writeJsonAtomic(out.resultsPath, out.results);
    if (options.errorSheets) {
      out.sheetPaths = await writeErrorSheets({
        splitDir: split.imageRoot,
        metaPath: split.jsonFile,
        predDir: root,
        outDir: join(outputDir, "error_sheets", split.name),
        videos: options.errorSheets,
        scores: out.results.per_expression,
      });
    }
  }
  if (!scored || options.zip) {
    out.zipPath = join(outputDir, `submission_${split.name}.zip`);
    await writeSubmission(root, expected, out.zipPath);
  }
  return out;
}

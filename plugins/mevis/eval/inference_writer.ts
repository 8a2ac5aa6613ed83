/**
 * Runs a {@link VideoPredictor} over a split's expressions and writes
 * `<root>/<video>/<exp_id>/<frame>.png` (8-bit gray, 0/255), as the original's `inference_on_dataset`
 * does, but resumable: an expression's frames are written into a temporary folder under `<root>/.tmp/`
 * which is renamed into place when all are written, so an interrupted run leaves every expression either
 * complete or absent, and a rerun predicts only the expressions not done yet.
 *
 * @example
 * ```ts ignore
 * import { writeInference } from "./inference_writer.ts";
 * const res = await writeInference({ split, predictor, root: "out/inference", mapper });
 * res.predicted.length; // expressions predicted by this run
 * res.skipped.length; // expressions already done by an earlier run
 * ```
 * @module
 */
import { basename, join } from "node:path";
import { encodePng } from "../../../core/io/png.ts";
import type { BadDataReport } from "../data/bad_data.ts";
import { mevisTestLoader, type TestMapperLike } from "../data/loader.ts";
import type { MevisRecord, MevisSplit } from "../data/mevis_dataset.ts";
import type { MevisSample } from "../data/sample.ts";
import { expressionDir, isDone, TMP_DIR } from "./layout.ts";
import type { PredictedMasks, VideoPredictor } from "./predictor.ts";
import { expressionKey } from "./shards.ts";

/** Options of {@link writeInference}. */
export interface WriteInferenceOptions {
  /** The split: its records are the expressions to predict. */
  split: MevisSplit;
  predictor: VideoPredictor;
  /** The predictions root, e.g. `OUTPUT_DIR/inference`. */
  root: string;
  /** Maps a record to its sample (all frames resized, original size kept). */
  mapper: TestMapperLike;
  /** Only these `<video>/<exp_id>` keys (a shard); default every record. */
  keys?: ReadonlySet<string>;
  /** Samples mapped at once (default 1) and kept ahead (default 2): each is a whole video in memory. */
  concurrency?: number;
  prefetch?: number;
  /** Where unreadable frames are reported (default the split's report). */
  report?: BadDataReport;
  /** Called after each written expression with its frame count. */
  onExpression?: (key: string, frames: number) => void;
}

/** What {@link writeInference} did. */
export interface WriteInferenceResult {
  /** Keys predicted and written by this run, in order. */
  predicted: string[];
  /** Keys already complete on disk, left alone. */
  skipped: string[];
  /** Frames written by this run. */
  frames: number;
}

/** The frame name of a JPEG path, as the original takes it (`path.split('/')[-1][:-4]`). */
export function frameName(file: string): string {
  return basename(file).slice(0, -4);
}

/**
 * The records of `split` still to predict under `root` (those in `keys`, without a complete folder),
 * and the keys already done.
 */
export async function pendingRecords(
  split: MevisSplit,
  root: string,
  keys?: ReadonlySet<string>,
): Promise<{ pending: MevisRecord[]; done: string[] }> {
  const pending: MevisRecord[] = [];
  const done: string[] = [];
  for (const r of split.records) {
    const key = expressionKey(r.video_name, r.exp_id);
    if (keys && !keys.has(key)) continue;
    if (await isDone(root, r.video_name, r.exp_id, r.file_names.map(frameName))) done.push(key);
    else pending.push(r);
  }
  return { pending, done };
}

function checkPrediction(sample: MevisSample, pred: PredictedMasks, frames: number): void {
  const where = `the prediction for ${expressionKey(sample.video_name, sample.exp_id)}`;
  if (pred.height !== sample.height || pred.width !== sample.width) {
    throw new Error(
      `${where} is ${pred.height}x${pred.width}, the video ${sample.height}x${sample.width} (masks must be at the original size)`,
    );
  }
  if (pred.masks.length !== frames) {
    throw new Error(`${where} has ${pred.masks.length} masks for ${frames} frames`);
  }
  const bad = pred.masks.findIndex((m) => m.length !== pred.height * pred.width);
  if (bad >= 0) {
    throw new Error(
      `${where}: mask ${bad} has ${pred.masks[bad].length} bytes, not ${pred.height}x${pred.width}`,
    );
  }
}

/**
 * Writes one expression's masks as PNGs (nonzero -> 255) into a temporary folder, then renames it to
 * `<root>/<video>/<exp_id>`, replacing an incomplete folder left there by someone else.
 *
 * @example
 * ```ts ignore
 * await writeExpression("out/inference", "vid", "0", ["00000"], [new Uint8Array(6)], 2, 3);
 * ```
 */
export async function writeExpression(
  root: string,
  video: string,
  expId: string,
  frames: readonly string[],
  masks: readonly Uint8Array[],
  height: number,
  width: number,
): Promise<void> {
  const tmpRoot = join(root, TMP_DIR);
  await Deno.mkdir(tmpRoot, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: tmpRoot, prefix: `${Deno.pid}-` });
  try {
    const gray = new Uint8Array(height * width);
    for (let t = 0; t < frames.length; t++) {
      const m = masks[t];
      for (let i = 0; i < gray.length; i++) gray[i] = m[i] ? 255 : 0;
      await Deno.writeFile(join(tmp, `${frames[t]}.png`), encodePng(gray, width, height));
    }
    const target = expressionDir(root, video, expId);
    await Deno.mkdir(join(root, video), { recursive: true });
    await Deno.remove(target, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
    await Deno.rename(tmp, target);
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e;
  }
}

/**
 * Predicts and writes every pending expression; see the module doc.
 *
 * @example
 * ```ts ignore
 * await writeInference({ split, predictor, root: "out/inference", mapper, keys: shardKeys(all, shard) });
 * ```
 */
export async function writeInference(options: WriteInferenceOptions): Promise<WriteInferenceResult> {
  const { split, predictor, root, mapper } = options;
  const { pending, done } = await pendingRecords(split, root, options.keys);
  const result: WriteInferenceResult = { predicted: [], skipped: done, frames: 0 };
  if (pending.length === 0) return result;
  const samples = mevisTestLoader({ ...split, records: pending }, mapper, {
    concurrency: options.concurrency ?? 1,
    prefetch: options.prefetch ?? 2,
    report: options.report,
  });
  for await (const sample of samples) {
    const frames = sample.file_names.map(frameName);
    const pred = await predictor.predict(sample);
    checkPrediction(sample, pred, frames.length);
    await writeExpression(
      root,
      sample.video_name,
      sample.exp_id,
      frames,
      pred.masks,
      pred.height,
      pred.width,
    );
    const key = expressionKey(sample.video_name, sample.exp_id);
    result.predicted.push(key);
    result.frames += frames.length;
    options.onExpression?.(key, frames.length);
  }
  return result;
}

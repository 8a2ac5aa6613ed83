/**
 * The train task's evaluation of `DATASETS.TEST` (every `TEST.EVAL_PERIOD` and after the last
 * iteration, or `--eval-only`): predictions into `OUTPUT_DIR/inference`, then the official J&F and the
 * error sheets where the split has ground truth, or the submission zip where it has not.
 *
 * While training runs with replicas (`--replicas`), the predictions are split by expression as
 * `deno task eval --shard` splits them: this process predicts shard 0 and replica `r` shard `r + 1`,
 * each with the weights of the moment, so an evaluation uses every core the training does. The files
 * written are the same as from one process (same weights, same kernels).
 *
 * @example
 * ```ts ignore
 * const results = await evaluateTestSets({ cfg, ctx, predictor, outputDir, label: "out/training@899", replicas });
 * results.mevis_val.JF;
 * ```
 * @module
 */
import { dirname } from "node:path";
import type { Config } from "../core/config/merge.ts";
import { get } from "../core/config/get.ts";
import type { ReplicaCalls } from "../core/engine/hooks.ts";
import { Progress } from "../core/progress.ts";
import type { BuildContext } from "../core/registries.ts";
import type { VideoPredictor } from "../plugins/mevis/eval/predictor.ts";
import { formatSummary, type ResultsDocument } from "../plugins/mevis/eval/results.ts";
import {
  finishDataset,
  inferenceRoot,
  loadEvalSplit,
  pendingFrames,
  predictDataset,
} from "../plugins/mevis/eval/run_eval.ts";
import type { Shard } from "../plugins/mevis/eval/shards.ts";
import type { MevisSplit } from "../plugins/mevis/data/mevis_dataset.ts";

function say(line: string): void {
  console.log(`train: ${line}`);
}

/** A config with some keys replaced (the merged config is frozen). */
export function withKeys(cfg: Config, values: Record<string, unknown>): Config {
  const copy = structuredClone(cfg) as Record<string, unknown>;
  for (const [key, value] of Object.entries(values)) {
    const parts = key.split(".");
    let node = copy;
    for (const p of parts.slice(0, -1)) node = node[p] as Record<string, unknown>;
    node[parts[parts.length - 1]] = value;
  }
  return copy as Config;
}

/** One shard of an evaluation, as the trainer's process asks a replica for it. */
export interface EvalShardRequest {
  dataset: string;
  /** The predictions root (`OUTPUT_DIR/inference`). */
  root: string;
  /** What made the predictions, for the root's stamp. */
  label: string;
  shard: Shard;
}

/**
 * Predicts one shard of a data set into its root with `predictor`, calling `onFrames` after each
 * expression with its frame count: what the trainer's process and each replica run. `split` is the
 * data set when the caller has loaded it already.
 */
export async function predictEvalShard(
  cfg: Config,
  ctx: BuildContext,
  predictor: VideoPredictor,
  request: EvalShardRequest,
  onFrames: (frames: number) => void,
  split?: MevisSplit,
): Promise<void> {
  await predictDataset({
    cfg: withKeys(cfg, { "MODEL.WEIGHTS": request.label }),
    split: split ?? await loadEvalSplit(cfg, ctx, request.dataset),
    root: request.root,
    predictor,
    shard: request.shard.count > 1 ? request.shard : undefined,
    onExpression: (_key, frames) => onFrames(frames),
  });
}

/** Options of {@link evaluateTestSets}. */
export interface EvaluateOptions {
  cfg: Config;
  ctx: BuildContext;
  predictor: VideoPredictor;
  outputDir: string;
  /** What made the predictions, for the predictions folder's stamp. */
  label: string;
  quiet?: boolean;
  /** Error sheets of this many videos of each split with ground truth (see `--error-sheets`). */
  errorSheets?: number;
  /** The trainer's replicas, each predicting a shard (their service is {@link predictEvalShard}). */
  replicas?: ReplicaCalls | null;
}

/**
 * Predicts and scores every `DATASETS.TEST` split into `OUTPUT_DIR/inference` (emptied first: these
 * are this model's predictions), printing the summaries. Returns the results by data set.
 */
export async function evaluateTestSets(o: EvaluateOptions): Promise<Record<string, ResultsDocument>> {
  const datasets = get(o.cfg, "DATASETS.TEST") as readonly string[];
  const out: Record<string, ResultsDocument> = {};
  const shards = 1 + (o.replicas?.count ?? 0);
  if (shards > 1) say(`evaluation: this process and ${shards - 1} replica(s) predict a shard each`);
  for (const dataset of datasets) {
    const split = await loadEvalSplit(o.cfg, o.ctx, dataset);
    const root = inferenceRoot(o.outputDir, dataset, datasets.length > 1);
    await Deno.remove(root, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
    const bar = new Progress(await pendingFrames(split, root), `eval ${dataset}`, {
      unit: "frames",
      quiet: o.quiet,
    });
    const request = (index: number): EvalShardRequest => ({
      dataset,
      root,
      label: o.label,
      shard: { index, count: shards },
    });
    await Promise.all([
      predictEvalShard(o.cfg, o.ctx, o.predictor, request(0), (frames) => bar.tick(frames), split),
      ...Array.from(
        { length: shards - 1 },
        (_, r) => o.replicas!.call(r, request(r + 1), (frames) => bar.tick(frames as number)),
      ),
    ]);
    bar.done();
    const res = await finishDataset({
      split,
      root,
      outputDir: o.outputDir,
      workers: 2,
      errorSheets: o.errorSheets,
    });
    if (res.results) {
      console.log(formatSummary(res.results, dataset));
      say(`per-expression results -> ${res.resultsPath}`);
      if (res.sheetPaths?.length) {
        say(`error sheets of ${res.sheetPaths.length} videos -> ${dirname(res.sheetPaths[0])}`);
      }
      out[dataset] = res.results;
    } else if (res.zipPath) {
      say(`${dataset}: no ground truth; submission -> ${res.zipPath}`);
    }
  }
  return out;
}

/**
 * `deno task eval`: run a model over the config's test data sets (`DATASETS.TEST`, or `--dataset`),
 * write `OUTPUT_DIR/inference/<video>/<exp_id>/<frame>.png` as the original's `--eval-only` does, then
 * score them where the split has ground truth (`mevis_val`: `OUTPUT_DIR/inference/results.json`) or
 * write the benchmark zip where it has not (`mevis_test`: `OUTPUT_DIR/submission_mevis_test.zip`).
 *
 * Runs resume: an expression is written whole or not at all, and a rerun predicts only what is missing.
 * `--shard k/n` runs one of n disjoint parts (see plugins/mevis/eval/shards.ts) and stops before
 * scoring; `--merge` (optionally with `--shard-dir` for shards run with their own OUTPUT_DIR) checks,
 * combines and scores or zips. `--num-gpus N` does both on one machine with N worker processes.
 *
 * @example
 * ```sh
 * deno task eval --config-file configs/dshmp_swin_tiny.yaml --eval-only MODEL.WEIGHTS dshmp.pth OUTPUT_DIR out
 * deno task eval --config-file configs/dshmp_swin_tiny.yaml --dataset mevis_val MODEL.WEIGHTS dshmp.pth OUTPUT_DIR out
 * ```
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { UsageError } from "../core/cli/flags.ts";
import type { FlagSpecs } from "../core/cli/flags.ts";
import type { Config } from "../core/config/merge.ts";
import { get } from "../core/config/get.ts";
import { writeConfig } from "../core/config/write.ts";
import { Progress } from "../core/progress.ts";
import { readExpected } from "../plugins/mevis/eval/layout.ts";
import { createPredictor, MissingModelError, type VideoPredictor } from "../plugins/mevis/eval/predictor.ts";
import { formatSummary } from "../plugins/mevis/eval/results.ts";
import {
  finishDataset,
  inferenceRoot,
  loadEvalSplit,
  mergeShards,
  pendingFrames,
  predictDataset,
  stampOf,
} from "../plugins/mevis/eval/run_eval.ts";
import { parseShard, type Shard } from "../plugins/mevis/eval/shards.ts";
import { runTask, selectDevice, type TaskContext, type TaskSpec } from "./cli.ts";

/**
 * `--error-sheets N` of the eval and train tasks: after scoring a split with ground truth, pictures of
 * what the model got right and wrong in its first N videos (plugins/mevis/eval/error_sheet.ts).
 */
export const ERROR_SHEETS_FLAG = {
  type: "int",
  default: 4,
  arg: "N",
  doc: "after scoring: error sheets of the first N videos into OUTPUT_DIR/error_sheets/<dataset>/ (0: none)",
} as const;

/** Set in worker processes of `--num-gpus`: progress goes to stdout as lines for the parent. */
export const WORKER_ENV = "DSHMP_EVAL_WORKER";
/** The line prefix a worker reports finished frames with. */
export const PROGRESS_LINE = "@eval-progress ";

const FLAGS = {
  "shard": {
    type: "string",
    arg: "K/N",
    doc: "predict only part K of N (K from 0; split by expression, the same on every machine); no scoring",
  },
  "merge": {
    type: "boolean",
    doc: "check the shards' predictions are complete, combine them (see --shard-dir), then score or zip",
  },
  "shard-dir": {
    type: "string",
    arg: "DIR",
    multiple: true,
    doc: "with --merge: the OUTPUT_DIR of a shard run elsewhere, copied into this OUTPUT_DIR",
  },
  "zip": { type: "boolean", doc: "also write the submission zip for a split with ground truth" },
  "score-workers": { type: "int", default: 2, doc: "scoring threads" },
  "error-sheets": ERROR_SHEETS_FLAG,
  "quiet": { type: "boolean", short: "q", doc: "no progress bar" },
} as const satisfies FlagSpecs;

/** The eval task's command line. */
export const evalSpec = {
  name: "eval",
  summary: [
    "Run a model on the config's test data sets (DATASETS.TEST or --dataset), write",
    "OUTPUT_DIR/inference/<video>/<exp_id>/<frame>.png, then score them where the split has ground truth",
    "(mevis_val -> OUTPUT_DIR/inference/results.json) or write the benchmark zip where it has not",
    "(mevis_test -> OUTPUT_DIR/submission_mevis_test.zip). Always resumes: a rerun predicts only the",
    "expressions not written yet (--resume and --eval-only are accepted for detectron2 compatibility).",
    "",
    "--num-gpus N runs N worker processes (--shard i/N each, into this OUTPUT_DIR) and merges them;",
    "worker i sees the i-th entry of CUDA_VISIBLE_DEVICES. On the CPU backends the N processes share",
    "the machine's cores, so N > 1 helps only when one process leaves cores idle. It needs --allow-run:",
    "deno run -A tasks/eval.ts ... (the deno task lacks it).",
  ].join("\n"),
  flags: FLAGS,
  examples: [
    "deno task eval --config-file configs/dshmp_swin_tiny.yaml --eval-only MODEL.WEIGHTS dshmp.pth OUTPUT_DIR out",
    "deno task eval --config-file configs/dshmp_swin_tiny.yaml --dataset mevis_val MODEL.WEIGHTS dshmp.pth OUTPUT_DIR out",
    "deno task eval --config-file c.yaml --shard $SLURM_ARRAY_TASK_ID/8 OUTPUT_DIR out   # then:",
    "deno task eval --config-file c.yaml --merge OUTPUT_DIR out",
  ],
} as const satisfies TaskSpec<typeof FLAGS>;

type EvalContext = TaskContext<typeof FLAGS>;

function say(message: string): void {
  console.log(`eval: ${message}`);
}

/** `argv` for worker `i` of `n`: without `--num-gpus`, with `--shard i/n` before the overrides. */
export function workerArgv(argv: readonly string[], i: number, n: number): string[] {
  const out: string[] = [];
  for (let k = 0; k < argv.length; k++) {
    if (argv[k] === "--num-gpus") k++;
    else if (!argv[k].startsWith("--num-gpus=")) out.push(argv[k]);
  }
  return ["--shard", `${i}/${n}`, ...out];
}

/** Builds a predictor; a missing model becomes a one-line usage message. */
async function predictorOf(ctx: EvalContext): Promise<VideoPredictor> {
  await selectDevice(ctx.cfg, ctx.args);
  try {
    return await createPredictor(ctx.cfg, ctx);
  } catch (e) {
    if (e instanceof MissingModelError) throw new UsageError(e.message);
    throw e;
  }
}

async function predictAll(ctx: EvalContext, datasets: readonly string[], shard: Shard | undefined) {
  const { cfg, args } = ctx;
  const outputDir = String(get(cfg, "OUTPUT_DIR"));
  const predictor = await predictorOf(ctx);
  const worker = Deno.env.get(WORKER_ENV) !== undefined;
  const encoder = new TextEncoder();
  try {
    for (const dataset of datasets) {
      const split = await loadEvalSplit(cfg, ctx, dataset);
      const root = inferenceRoot(outputDir, dataset, datasets.length > 1);
      let bar: Progress | null = null;
      const res = await predictDataset({
        cfg,
        split,
        root,
        predictor,
        shard,
        onStart: (frames, pending, done) => {
          if (!worker) {
            const part = shard ? ` shard ${shard.index}/${shard.count}` : "";
            say(`${dataset}${part}: ${pending} expressions to predict, ${done} already done -> ${root}`);
            bar = new Progress(frames, `eval ${dataset}`, { unit: "frames", quiet: args.flags.quiet });
          }
        },
        onExpression: (_key, frames) => {
          if (worker) Deno.stdout.writeSync(encoder.encode(`${PROGRESS_LINE}${frames}\n`));
          else (bar as Progress | null)?.tick(frames);
        },
      });
      (bar as Progress | null)?.done();
      if (!worker) say(`${dataset}: predicted ${res.predicted.length} expressions (${res.frames} frames)`);
    }
  } finally {
    predictor.dispose?.();
  }
}

async function finishAll(ctx: EvalContext, datasets: readonly string[]): Promise<void> {
  const { cfg, args } = ctx;
  const outputDir = String(get(cfg, "OUTPUT_DIR"));
  for (const dataset of datasets) {
    const split = await loadEvalSplit(cfg, ctx, dataset);
    const root = inferenceRoot(outputDir, dataset, datasets.length > 1);
    if (args.flags.merge && args.flags["shard-dir"].length > 0) {
      const sources = args.flags["shard-dir"].map((d) => inferenceRoot(d, dataset, datasets.length > 1));
      const copied = await mergeShards(
        root,
        sources,
        await readExpected(split.jsonFile),
        stampOf(cfg, dataset),
      );
      say(`${dataset}: merged ${copied} expressions from ${sources.length} shard folders into ${root}`);
    }
    const res = await finishDataset({
      split,
      root,
      outputDir,
      workers: args.flags["score-workers"],
      zip: args.flags.zip,
      errorSheets: args.flags["error-sheets"],
    });
    if (res.results) {
      console.log(formatSummary(res.results, dataset));
      say(`per-expression results -> ${res.resultsPath}`);
      if (res.sheetPaths?.length) {
        say(`error sheets of ${res.sheetPaths.length} videos -> ${dirname(res.sheetPaths[0])}`);
      }
    }
    if (res.zipPath) say(`${dataset}: submission with ${res.pngs} masks -> ${res.zipPath}`);
  }
}

/** Runs `--num-gpus` worker processes, one shard each, with one progress bar over all of them. */
async function runWorkers(ctx: EvalContext, datasets: readonly string[], argv: readonly string[]) {
  const { cfg, args } = ctx;
  const n = args.numGpus;
  if ((await Deno.permissions.query({ name: "run" })).state !== "granted") {
    throw new UsageError(
      `--num-gpus ${n} starts worker processes, which needs --allow-run: deno run -A tasks/eval.ts ...`,
    );
  }
  const outputDir = String(get(cfg, "OUTPUT_DIR"));
  let total = 0;
  for (const dataset of datasets) {
    const split = await loadEvalSplit(cfg, ctx, dataset);
    total += await pendingFrames(split, inferenceRoot(outputDir, dataset, datasets.length > 1));
  }
  say(`${n} worker processes, ${total} frames to predict`);
  const bar = new Progress(total, "eval", { unit: "frames", quiet: args.flags.quiet });
  const script = fileURLToPath(import.meta.url);
  const config = fileURLToPath(new URL("../deno.json", import.meta.url));
  const visible = Deno.env.get("CUDA_VISIBLE_DEVICES")?.split(",").filter(Boolean) ??
    Array.from({ length: n }, (_, i) => String(i));
  const perms = ["--allow-read", "--allow-write", "--allow-env", "--allow-ffi", "--allow-sys"];
  const runs = Array.from({ length: n }, async (_, i) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...perms, "--config", config, script, ...workerArgv(argv, i, n)],
      env: { [WORKER_ENV]: String(i), CUDA_VISIBLE_DEVICES: visible[i % visible.length] },
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    let buffered = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buffered += chunk;
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) {
        if (line.startsWith(PROGRESS_LINE)) bar.tick(Number(line.slice(PROGRESS_LINE.length)));
        else if (line) console.log(`[worker ${i}/${n}] ${line}`);
      }
    }
    return (await child.status).code;
  });
  const codes = await Promise.all(runs);
  bar.done();
  const failed = codes.map((c, i) => [i, c]).filter(([, c]) => c !== 0);
  if (failed.length > 0) {
    throw new Error(
      `worker(s) ${failed.map(([i, c]) => `${i}/${n} (exit ${c})`).join(", ")} failed; ` +
        "run the same command again to finish the missing expressions",
    );
  }
}

/**
 * The task's body after the command line is parsed; returns the exit code.
 *
 * @example
 * ```ts ignore
 * await runTask(evalSpec, (ctx) => evalMain(ctx, Deno.args));
 * ```
 */
export async function evalMain(ctx: EvalContext, argv: readonly string[]): Promise<number> {
  const { args, cfg } = ctx;
  const datasets = get(cfg, "DATASETS.TEST") as readonly string[];
  if (datasets.length === 0) {
    throw new UsageError("DATASETS.TEST is empty: name a data set with --dataset mevis_val (or mevis_test)");
  }
  if (args.numMachines > 1) {
    throw new UsageError("--num-machines: run one --shard k/n per machine instead, then --merge");
  }
  const shard = args.flags.shard === undefined ? undefined : parseShardFlag(args.flags.shard);
  if (shard && args.flags.merge) throw new UsageError("--shard and --merge do not go together");
  if (shard && args.numGpus > 1) throw new UsageError("--shard and --num-gpus do not go together");
  if (args.flags["shard-dir"].length > 0 && !args.flags.merge) {
    throw new UsageError("--shard-dir needs --merge");
  }
  if (args.flags["score-workers"] < 1) throw new UsageError("--score-workers must be at least 1");
  const outputDir = String(get(cfg, "OUTPUT_DIR"));
  if (Deno.env.get(WORKER_ENV) === undefined) {
    await writeConfig(cfg as Config, join(outputDir, "config.yaml"));
  }
  if (!args.flags.merge) {
    if (args.numGpus > 1) await runWorkers(ctx, datasets, argv);
    else await predictAll(ctx, datasets, shard);
  }
  if (shard) {
    if (Deno.env.get(WORKER_ENV) !== undefined) return 0;
    say(`shard ${shard.index}/${shard.count} done; when every shard is, run with --merge to score or zip`);
    return 0;
  }
  await finishAll(ctx, datasets);
  return 0;
}

function parseShardFlag(text: string): Shard {
  try {
    return parseShard(text);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

if (import.meta.main) {
  await runTask(evalSpec, async (ctx) => {
    try {
      return await evalMain(ctx, Deno.args);
    } catch (e) {
      if (e instanceof UsageError || !(e instanceof Error)) throw e;
      console.error(`eval: ${e.message}`);
      return 1;
    }
  });
}

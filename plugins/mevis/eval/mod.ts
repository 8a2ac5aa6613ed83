/**
 * MeViS J&F scoring: the logic of the official `tools/eval_mevis.py` over a split folder, on one thread
 * or several worker threads. `deno task score` is the command-line front end. Also the inference side
 * of `deno task eval`: the resumable PNG writer, shards and their merge, the results file with its
 * breakdowns, and the benchmark submission zip.
 *
 * @example
 * ```ts
 * import { scoreSplit } from "./mod.ts";
 * const { J, F, JF } = await scoreSplit({ splitDir: "datasets/mevis/valid_u", predDir: "pred", workers: 2 });
 * ```
 * @module
 */
export * from "./score_split.ts";
export * from "./layout.ts";
export * from "./predictor.ts";
export * from "./shards.ts";
export * from "./inference_writer.ts";
export * from "./results.ts";
export * from "./submission.ts";
export * from "./error_sheet.ts";
export * from "./run_eval.ts";

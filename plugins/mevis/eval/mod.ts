/**
 * MeViS J&F scoring: the logic of the official `tools/eval_mevis.py` over a split folder, on one thread
 * or several worker threads. `deno task score` is the command-line front end.
 *
 * @example
 * ```ts
 * import { scoreSplit } from "./mod.ts";
 * const { J, F, JF } = await scoreSplit({ splitDir: "datasets/mevis/valid_u", predDir: "pred", workers: 2 });
 * ```
 * @module
 */
export * from "./score_split.ts";

/**
 * `deno task train`: Train a model on the config's training data sets. It parses its command line and
 * builds the config (so `--help` and config errors work); the feature itself is not built yet (issue #11),
 * so it then exits with code 2.
 *
 * @example
 * ```sh
 * deno task train --config-file configs/dshmp_swin_tiny.yaml OUTPUT_DIR output/dshmp_model
 * ```
 * @module
 */
import type { FlagSpecs } from "../core/cli/flags.ts";
import { notBuiltYet, runTask, type TaskSpec } from "./cli.ts";

/** The train task's command line. */
export const trainSpec = {
  name: "train",
  summary: "Train a model on the config's training data sets.",
  datasetKey: "DATASETS.TRAIN",
  examples: ["deno task train --config-file configs/dshmp_swin_tiny.yaml OUTPUT_DIR output/dshmp_model"],
} as const satisfies TaskSpec<FlagSpecs>;

if (import.meta.main) await runTask(trainSpec, () => notBuiltYet("train", 11));

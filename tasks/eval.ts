/**
 * `deno task eval`: Run a model on the config's test data sets, write the masks, and score them where
 * ground truth exists. It parses its command line and builds the config (so `--help` and config errors
 * work); the feature itself is not built yet (issue #10), so it then exits with code 2.
 *
 * @example
 * ```sh
 * deno task eval --config-file configs/dshmp_swin_tiny.yaml --eval-only MODEL.WEIGHTS dshmp.safetensors OUTPUT_DIR out
 * ```
 * @module
 */
import type { FlagSpecs } from "../core/cli/flags.ts";
import { notBuiltYet, runTask, type TaskSpec } from "./cli.ts";

/** The eval task's command line. */
export const evalSpec = {
  name: "eval",
  summary:
    "Run a model on the config's test data sets, write the masks, and score them where ground truth exists.",
  examples: [
    "deno task eval --config-file configs/dshmp_swin_tiny.yaml --eval-only MODEL.WEIGHTS dshmp.safetensors OUTPUT_DIR out",
  ],
} as const satisfies TaskSpec<FlagSpecs>;

if (import.meta.main) await runTask(evalSpec, () => notBuiltYet("eval", 10));

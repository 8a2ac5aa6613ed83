/**
 * `deno task bench`: Time the model's forward and training steps on the active backend. It parses its
 * command line and builds the config (so `--help` and config errors work); the feature itself is not built
 * yet (issue #3), so it then exits with code 2.
 *
 * @example
 * ```sh
 * deno task bench --config-file configs/dshmp_swin_tiny.yaml --device wasm
 * ```
 * @module
 */
import type { FlagSpecs } from "../core/cli/flags.ts";
import { notBuiltYet, runTask, type TaskSpec } from "./cli.ts";

/** The bench task's command line. */
export const benchSpec = {
  name: "bench",
  summary: "Time the model's forward and training steps on the active backend.",
  examples: ["deno task bench --config-file configs/dshmp_swin_tiny.yaml --device wasm"],
} as const satisfies TaskSpec<FlagSpecs>;

if (import.meta.main) await runTask(benchSpec, () => notBuiltYet("bench", 3));

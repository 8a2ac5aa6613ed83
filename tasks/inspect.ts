/**
 * `deno task inspect`: Show the merged config, the loaded plugins and registries, and a model's parameters.
 * It parses its command line and builds the config (so `--help` and config errors work); the feature itself
 * is not built yet (issue #6), so it then exits with code 2.
 *
 * @example
 * ```sh
 * deno task inspect --config-file configs/dshmp_swin_tiny.yaml
 * ```
 * @module
 */
import type { FlagSpecs } from "../core/cli/flags.ts";
import { notBuiltYet, runTask, type TaskSpec } from "./cli.ts";

/** The inspect task's command line. */
export const inspectSpec = {
  name: "inspect",
  summary: "Show the merged config, the loaded plugins and registries, and a model's parameters.",
  examples: ["deno task inspect --config-file configs/dshmp_swin_tiny.yaml"],
} as const satisfies TaskSpec<FlagSpecs>;

if (import.meta.main) await runTask(inspectSpec, () => notBuiltYet("inspect", 6));

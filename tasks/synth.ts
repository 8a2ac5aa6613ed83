/**
 * `deno task synth`: Write a small synthetic data set in the MeViS format. It parses its command line and
 * builds the config (so `--help` and config errors work); the feature itself is not built yet (issue #9),
 * so it then exits with code 2.
 *
 * @example
 * ```sh
 * deno task synth --output datasets/synthetic
 * ```
 * @module
 */
import type { FlagSpecs } from "../core/cli/flags.ts";
import { notBuiltYet, runTask, type TaskSpec } from "./cli.ts";

/** The synth task's command line. */
export const synthSpec = {
  name: "synth",
  summary: "Write a small synthetic data set in the MeViS format.",
  examples: ["deno task synth --output datasets/synthetic"],
} as const satisfies TaskSpec<FlagSpecs>;

if (import.meta.main) await runTask(synthSpec, () => notBuiltYet("synth", 9));

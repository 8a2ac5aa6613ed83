/**
 * `deno task convert`: Convert published checkpoints (Mask2Former .pkl, DsHmp .pth, RoBERTa folders) to
 * safetensors. It parses its command line and builds the config (so `--help` and config errors work); the
 * feature itself is not built yet (issue #4), so it then exits with code 2.
 *
 * @example
 * ```sh
 * deno task convert --config-file configs/dshmp_swin_tiny.yaml MODEL.WEIGHTS model_final.pth
 * ```
 * @module
 */
import type { FlagSpecs } from "../core/cli/flags.ts";
import { notBuiltYet, runTask, type TaskSpec } from "./cli.ts";

/** The convert task's command line. */
export const convertSpec = {
  name: "convert",
  summary: "Convert published checkpoints (Mask2Former .pkl, DsHmp .pth, RoBERTa folders) to safetensors.",
  examples: ["deno task convert --config-file configs/dshmp_swin_tiny.yaml MODEL.WEIGHTS model_final.pth"],
} as const satisfies TaskSpec<FlagSpecs>;

if (import.meta.main) await runTask(convertSpec, () => notBuiltYet("convert", 4));

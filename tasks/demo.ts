/**
 * `deno task demo`: Segment the object a sentence refers to in a user's video. It parses its command line
 * and builds the config (so `--help` and config errors work); the feature itself is not built yet (issue
 * #6), so it then exits with code 2.
 *
 * @example
 * ```sh
 * deno task demo --config-file configs/dshmp_swin_tiny.yaml --video frames/ --text 'the cat jumping' MODEL.WEIGHTS w.safetensors
 * ```
 * @module
 */
import type { FlagSpecs } from "../core/cli/flags.ts";
import { notBuiltYet, runTask, type TaskSpec } from "./cli.ts";

/** The demo task's command line. */
export const demoSpec = {
  name: "demo",
  summary: "Segment the object a sentence refers to in a user's video.",
  flags: {
    video: { type: "string", arg: "PATH", doc: "a folder of frames or a video file" },
    text: { type: "string", arg: "SENTENCE", doc: "the referring expression" },
  },
  examples: [
    "deno task demo --config-file configs/dshmp_swin_tiny.yaml --video frames/ --text 'the cat jumping' MODEL.WEIGHTS w.safetensors",
  ],
} as const satisfies TaskSpec<FlagSpecs>;

if (import.meta.main) await runTask(demoSpec, () => notBuiltYet("demo", 6));

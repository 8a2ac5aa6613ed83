/**
 * `deno task synth`: writes the synthetic MeViS-format data set (see `plugins/mevis/synth`). With
 * `--out DIR` it writes `DIR/mevis/{train,valid_u,valid}`; without, it fills the first-run cache
 * `.cache/synth-mevis/<hash of options>/` (a no-op when that is complete) and prints its path. Either
 * path is the `DATASETS.ROOT` to train on. The common `--seed` picks the data set's seed (default 0, not
 * the config's `SEED`), and `--output` is taken as `--out` when `--out` is absent.
 *
 * @example
 * ```sh
 * deno task synth --out datasets/synthetic --videos train=300,valid_u=40,valid=40 --size 64x96 --frames 8-24
 * deno task synth --contact-sheet sheet.png      # the cache, plus a picture of its first training video
 * deno task synth --baselines                    # the cache, plus J&F of reference predictors on valid_u
 * ```
 * @module
 */
import { join } from "node:path";
import type { FlagSpecs } from "../core/cli/flags.ts";
import { runTask, type TaskSpec } from "./cli.ts";
import {
  contactSheetPng,
  DEFAULT_SYNTH_CACHE,
  DEFAULT_SYNTH_OPTIONS,
  ensureSynthData,
  formatBaselines,
  parseFrameRange,
  parseSize,
  parseVideoCounts,
  resolveSynthOptions,
  scoreSynthBaselines,
  type SplitCounts,
  type SynthSplit,
  synthVideo,
  writeSynthDataset,
} from "../plugins/mevis/synth/mod.ts";

const d = DEFAULT_SYNTH_OPTIONS;

/** The synth task's command line. */
export const synthSpec = {
  name: "synth",
  summary: "Write a small synthetic data set in the MeViS format (objects told apart by how they move).",
  flags: {
    out: {
      type: "string",
      arg: "DIR",
      doc: `write DIR/mevis/...; default: the cache ${DEFAULT_SYNTH_CACHE}/<hash>`,
    },
    videos: {
      type: "string",
      arg: "SPLIT=N,...",
      default: `train=${d.videos.train},valid_u=${d.videos.valid_u},valid=${d.videos.valid}`,
      doc: "videos per split",
    },
    size: { type: "string", arg: "HxW", default: `${d.height}x${d.width}`, doc: "frame size" },
    frames: {
      type: "string",
      arg: "MIN-MAX",
      default: `${d.minFrames}-${d.maxFrames}`,
      doc: "frames per video",
    },
    quality: { type: "int", default: d.quality, doc: "JPEG quality of the frames" },
    "contact-sheet": { type: "string", arg: "PNG", doc: "also draw the first training video's expressions" },
    baselines: {
      type: "boolean",
      doc: "also score reference predictors (every object; every object of the named look) on valid_u",
    },
  },
  examples: [
    "deno task synth --out datasets/synthetic",
    "deno task synth --out datasets/synthetic --seed 1 --videos train=50,valid_u=10,valid=10 --size 48x64",
  ],
} as const satisfies TaskSpec<FlagSpecs>;

if (import.meta.main) {
  await runTask(synthSpec, async ({ args }) => {
    const f = args.flags;
    let options;
    try {
      options = resolveSynthOptions({
        seed: args.seed ?? d.seed,
        videos: { ...d.videos, ...parseVideoCounts(f.videos) },
        ...parseSize(f.size),
        ...parseFrameRange(f.frames),
        quality: f.quality,
      });
    } catch (e) {
      console.error(`synth: ${(e as Error).message}`);
      return 1;
    }
    const started = performance.now();
    const onSplit = (split: SynthSplit, c: SplitCounts) =>
      console.log(
        `${split}: ${c.videos} videos, ${c.frames} frames, ${c.objects} objects, ${c.expressions} expressions`,
      );
    const out = f.out ?? args.output;
    let root: string;
    if (out !== undefined) {
      await writeSynthDataset(out, options, { onSplit });
      root = out;
    } else {
      const ensured = await ensureSynthData(DEFAULT_SYNTH_CACHE, options, { onSplit });
      if (!ensured.generated) console.log("the cache is complete; nothing to do");
      root = ensured.root;
    }
    console.log(
      `wrote ${root}/mevis in ${
        ((performance.now() - started) / 1000).toFixed(1)
      } s; train with DATASETS.ROOT ${root}`,
    );
    if (f["contact-sheet"] && options.videos.train > 0) {
      await Deno.writeFile(f["contact-sheet"], await contactSheetPng(synthVideo(options, "train", 0)));
      console.log(`contact sheet: ${f["contact-sheet"]}`);
    }
    if (f.baselines && options.videos.valid_u > 0) {
      const docs = await scoreSynthBaselines(options, "valid_u", join(root, "mevis", "valid_u"));
      console.log(formatBaselines(docs, "valid_u"));
    }
    return 0;
  });
}

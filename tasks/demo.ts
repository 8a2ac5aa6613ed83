/**
 * `deno task demo`: segments the object a sentence refers to in a user's own video, given as a folder
 * of JPEG or PNG frames. The model of `--config-file` is built and loaded from `MODEL.WEIGHTS` exactly
 * as `deno task eval` does (the same predictor, mapper and resizing), run over all frames with the
 * sentence, and written to `--out` (default `OUTPUT_DIR/demo`):
 *
 * - `masks/<frame>.png`: one 0/255 mask per frame, at the frame's size, named after the frame file;
 * - `overlay/<frame>.png`: each frame with the target tinted and outlined;
 * - `overlay_sheet.png`: a contact sheet of evenly spaced tinted frames under the sentence.
 *
 * @example
 * ```sh
 * deno task demo --config-file configs/dshmp_swin_tiny.yaml MODEL.WEIGHTS dshmp.pth --frames my_video/ --text 'the cat jumping'
 * ```
 * @module
 */
import { join } from "node:path";
import { UsageError } from "../core/cli/flags.ts";
import type { FlagSpecs } from "../core/cli/flags.ts";
import { get } from "../core/config/get.ts";
import { readImage } from "../core/io/image.ts";
import { encodeMaskPng } from "../core/io/png.ts";
import { testMapperOptionsFromConfig } from "../plugins/mevis/data/loader.ts";
import { MevisTestMapper } from "../plugins/mevis/data/test_mapper.ts";
import {
  demoRecord,
  frameStem,
  listFrames,
  overlaySheetPng,
  rgbPng,
  tintFrame,
} from "../plugins/mevis/demo/mod.ts";
import { createPredictor, MissingModelError, type VideoPredictor } from "../plugins/mevis/eval/predictor.ts";
import { COMMON_FLAGS, runTask, selectDevice, type TaskContext, type TaskSpec } from "./cli.ts";
import { ensureSynthTextEncoder, hoistFlags, SYNTH_TEXT_ENCODER } from "./train.ts";

const FLAGS = {
  frames: { type: "string", arg: "DIR", doc: "a folder of the video's frames (JPEG or PNG, in name order)" },
  video: { type: "string", arg: "DIR", doc: "the same as --frames" },
  text: { type: "string", arg: "SENTENCE", doc: "the referring expression" },
  out: { type: "string", arg: "DIR", doc: "where the masks and pictures go (default OUTPUT_DIR/demo)" },
  "no-overlay": { type: "boolean", doc: "write only the masks" },
} as const satisfies FlagSpecs;

/** The demo task's command line. */
export const demoSpec = {
  name: "demo",
  summary: [
    "Segment the object a sentence refers to in a user's video (a folder of JPEG/PNG frames): writes",
    "masks/<frame>.png (0/255, the frame's size), overlay/<frame>.png (target tinted) and",
    "overlay_sheet.png (a contact sheet) into --out (default OUTPUT_DIR/demo). The model is the",
    "config's, loaded from MODEL.WEIGHTS as deno task eval loads it.",
  ].join("\n"),
  flags: FLAGS,
  examples: [
    "deno task demo --config-file configs/dshmp_swin_tiny.yaml MODEL.WEIGHTS dshmp.pth --frames my_video/ --text 'the cat jumping'",
    "deno task demo --config-file configs/dshmp_synth_tiny.yaml MODEL.WEIGHTS output/dshmp_synth_tiny/model_final.safetensors --frames frames/ --text 'the red circle moving left' --out demo_out",
  ],
} as const satisfies TaskSpec<typeof FLAGS>;

type DemoContext = TaskContext<typeof FLAGS>;

/** What {@link demoMain} wrote. */
export interface DemoResult {
  outDir: string;
  masks: string[];
  sheet?: string;
  /** Per frame, the fraction of pixels marked as the target. */
  coverage: number[];
}

/**
 * The task's body after the command line is parsed.
 *
 * @example
 * ```ts ignore
 * await runTask(demoSpec, async (ctx) => { await demoMain(ctx); return 0; });
 * ```
 */
export async function demoMain(ctx: DemoContext): Promise<DemoResult> {
  const { cfg, args } = ctx;
  const dir = args.flags.frames ?? args.flags.video;
  if (dir === undefined) {
    throw new UsageError("--frames DIR is required: a folder of the video's JPEG or PNG frames");
  }
  if (args.flags.frames !== undefined && args.flags.video !== undefined) {
    throw new UsageError("give --frames or --video, not both");
  }
  const text = args.flags.text?.trim();
  if (!text) throw new UsageError('--text "SENTENCE" is required: the expression naming the object');
  if (!String(get(cfg, "MODEL.WEIGHTS"))) {
    throw new UsageError("MODEL.WEIGHTS is empty: name the trained weights (MODEL.WEIGHTS path/to/model)");
  }
  let files: string[];
  try {
    files = await listFrames(dir);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  await selectDevice(cfg, args);
  const textPath = String(get(cfg, "MODEL.DSHMP.TEXT_ENCODER_PATH"));
  if (textPath === SYNTH_TEXT_ENCODER) await ensureSynthTextEncoder(textPath);
  const outDir = args.flags.out ?? join(String(get(cfg, "OUTPUT_DIR")), "demo");

  let predictor: VideoPredictor;
  try {
    predictor = await createPredictor(cfg, ctx);
  } catch (e) {
    if (e instanceof MissingModelError) throw new UsageError(e.message);
    throw e;
  }
  try {
    const record = demoRecord(files, text);
    const mapper = new MevisTestMapper({ name: "demo" }, {
      ...testMapperOptionsFromConfig(cfg),
      ...predictor.mapper,
    });
    const sample = await mapper.map(record);
    console.log(`demo: ${files.length} frames of ${sample.height}x${sample.width}, "${record.sentence}"`);
    const t0 = performance.now();
    const pred = await predictor.predict(sample);
    console.log(`demo: predicted in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    if (pred.masks.length !== files.length) {
      throw new Error(`the model returned ${pred.masks.length} masks for ${files.length} frames`);
    }
    await Deno.mkdir(join(outDir, "masks"), { recursive: true });
    const masks: string[] = [];
    const coverage: number[] = [];
    for (let t = 0; t < files.length; t++) {
      const path = join(outDir, "masks", `${frameStem(files[t])}.png`);
      await Deno.writeFile(path, encodeMaskPng(pred.masks[t], pred.width, pred.height));
      masks.push(path);
      coverage.push(pred.masks[t].reduce((a, v) => a + (v !== 0 ? 1 : 0), 0) / pred.masks[t].length);
    }
    const result: DemoResult = { outDir, masks, coverage };
    if (!args.flags["no-overlay"]) {
      await Deno.mkdir(join(outDir, "overlay"), { recursive: true });
      const frames = [];
      for (let t = 0; t < files.length; t++) {
        const img = await readImage(files[t]);
        if (img.height !== pred.height || img.width !== pred.width) {
          throw new Error(
            `${files[t]} is ${img.height}x${img.width}, the masks ${pred.height}x${pred.width}`,
          );
        }
        frames.push(img);
        await Deno.writeFile(
          join(outDir, "overlay", `${frameStem(files[t])}.png`),
          await rgbPng(tintFrame(img, pred.masks[t])),
        );
      }
      result.sheet = join(outDir, "overlay_sheet.png");
      await Deno.writeFile(
        result.sheet,
        await overlaySheetPng(frames, pred.masks, { sentence: record.sentence }),
      );
    }
    const mean = coverage.reduce((a, b) => a + b, 0) / coverage.length;
    const found = coverage.filter((c) => c > 0).length;
    console.log(
      `demo: target found in ${found} of ${files.length} frames (mean ${
        (100 * mean).toFixed(1)
      }% of the pixels)`,
    );
    console.log(
      `demo: masks -> ${join(outDir, "masks")}${result.sheet ? `; overlay sheet -> ${result.sheet}` : ""}`,
    );
    return result;
  } finally {
    predictor.dispose?.();
  }
}

if (import.meta.main) {
  await runTask(demoSpec, async (ctx) => {
    try {
      await demoMain(ctx);
      return 0;
    } catch (e) {
      if (e instanceof UsageError || !(e instanceof Error)) throw e;
      if (["WeightsLoadError", "CheckpointFormatError", "DeviceError", "BadDataError"].includes(e.name)) {
        console.error(`demo: ${e.message}`);
        return 1;
      }
      throw e;
    }
  }, hoistFlags(Deno.args, { ...COMMON_FLAGS, ...FLAGS }));
}

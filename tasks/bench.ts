/**
 * `deno task bench`: times what dominates the port's cost on this machine, so a change can be measured
 * before and after. Suites:
 * - `ops`: the tensor engine on the selected backend (matmul, conv2d forward and training path,
 *   gridSample);
 * - `data`: COCO RLE decode/encode, the Pillow-exact resize, JPEG decode at 720p;
 * - `score`: the J&F scorer on the evaluation fixture (`DSHMP_EVAL_FIXTURES`), 1 and 2 threads;
 * - `model`: paper-size backbone and pixel decoder forwards on one frame, of `--config-file` (default
 *   the paper's `configs/dshmp_swin_tiny.yaml`; slow on a CPU: opt in);
 * - `train`: one training step of the tiny config (or `--config-file`) on the synthetic data, per part
 *   of the model, in milliseconds and engine kernels (opt in; generates the data on first use).
 *
 * @example
 * ```sh
 * deno task bench --device cpu --suite ops,data --json bench.json
 * ```
 * @module
 */
import { fileURLToPath } from "node:url";
import type { FlagSpecs } from "../core/cli/flags.ts";
import { get } from "../core/config/get.ts";
import { writeJsonAtomic } from "../core/io/atomic.ts";
import { decodeImage, encodeJpeg } from "../core/io/image.ts";
import { rleDecode, rleEncode } from "../core/data/rle.ts";
import { resizeBilinear } from "../core/data/resize.ts";
import { Generator } from "../core/random.ts";
import { activeBackend, useDevice } from "../core/tensor/backend.ts";
import { benchOps } from "../core/tensor/bench.ts";
import * as ops from "../core/tensor/ops.ts";
import { scoreSplit } from "../plugins/mevis/eval/score_split.ts";
import { d2SwinTransformerFromConfig } from "../plugins/mask2former/modeling/backbone/mod.ts";
import { msDeformAttnPixelDecoderFromConfig } from "../plugins/mask2former/modeling/pixel_decoder/mod.ts";
import type { DshmpConfig } from "../plugins/dshmp/config.ts";
import { buildDshmp } from "../plugins/dshmp/model/build.ts";
import { profileTrainStep } from "../plugins/dshmp/model/train_profile.ts";
import { createDshmpTraining } from "../plugins/dshmp/model/train_adapter.ts";
import { ensureSynthData } from "../plugins/mevis/synth/mod.ts";
import { buildTaskContext, runTask, type TaskContext, type TaskSpec } from "./cli.ts";
import { DEFAULT_TRAIN_CONFIG, ensureSynthTextEncoder, SYNTH_TEXT_ENCODER, trainSpec } from "./train.ts";

const SUITES = ["ops", "data", "score", "model", "train"] as const;
type Suite = typeof SUITES[number];

const benchFlags = {
  "suite": {
    type: "string",
    arg: "LIST",
    default: "ops,data,score",
    doc: `comma-separated: ${SUITES.join(", ")}`,
  },
  "repeats": { type: "int", default: 3, doc: "timed runs per benchmark after one warm-up; the best counts" },
  "json": { type: "string", arg: "FILE", doc: "also write the results as JSON" },
} as const satisfies FlagSpecs;

/** The bench task's command line. */
export const benchSpec = {
  name: "bench",
  summary: "Time the tensor engine, data pipeline, scorer and model parts on this machine.",
  flags: benchFlags,
  examples: [
    "deno task bench --device cpu",
    "deno task bench --suite model",
    "deno task bench --suite train",
    "deno task bench --suite ops --device tfjs-cpu --json bench_cpu.json",
  ],
} as const satisfies TaskSpec<typeof benchFlags>;

/** One measured figure. */
interface Row {
  suite: Suite;
  name: string;
  ms: number;
  rate: number;
  unit: string;
}

async function bestOf(repeats: number, fn: () => unknown | Promise<unknown>): Promise<number> {
  let best = Infinity;
  for (let i = 0; i <= repeats; i++) {
    const t0 = performance.now();
    await fn();
    if (i > 0) best = Math.min(best, performance.now() - t0);
  }
  return best;
}

/** A 720p frame with a few soft shapes, and a blob mask, drawn from a fixed seed. */
function syntheticFrame(h: number, w: number): { rgb: Uint8Array; mask: Uint8Array } {
  const g = new Generator(7);
  const rgb = new Uint8Array(h * w * 3);
  const mask = new Uint8Array(h * w);
  const cx = w * 0.4, cy = h * 0.55, r = h * 0.3;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const inside = (x - cx) ** 2 + (y - cy) ** 2 < r * r;
      mask[i] = inside ? 1 : 0;
      const base = inside ? 200 : 60 + ((x >> 4) & 1) * 40;
      rgb[3 * i] = base;
      rgb[3 * i + 1] = (base + y) & 255;
      rgb[3 * i + 2] = (base + (g.nextUint32() & 15)) & 255;
    }
  }
  return { rgb, mask };
}

async function benchData(repeats: number): Promise<Row[]> {
  const h = 720, w = 1280, mp = (h * w) / 1e6;
  const { rgb, mask } = syntheticFrame(h, w);
  const rle = rleEncode(mask, h, w);
  const img = { data: rgb, height: h, width: w, channels: 3 };
  const jpeg = await encodeJpeg(img, { quality: 90 });
  const rows: Row[] = [];
  const add = (name: string, ms: number, work: number, unit: string) =>
    rows.push({ suite: "data", name, ms, rate: work / (ms / 1000), unit });
  add("rle decode 720p", await bestOf(repeats, () => rleDecode(rle)), mp, "MP/s");
  add("rle encode 720p", await bestOf(repeats, () => rleEncode(mask, h, w)), mp, "MP/s");
  add(
    "resize bilinear 720p -> 448x796",
    await bestOf(repeats, () => resizeBilinear(img, 448, 796)),
    mp,
    "MP/s",
  );
  add("jpeg decode 720p (sharp)", await bestOf(repeats, () => decodeImage(jpeg, "bench.jpg")), 1, "frames/s");
  return rows;
}

async function benchScore(repeats: number): Promise<Row[]> {
  const dir = Deno.env.get("DSHMP_EVAL_FIXTURES") ??
    fileURLToPath(new URL("../../shared/fixtures/mevis_eval", import.meta.url));
  try {
    await Deno.stat(`${dir}/meta_expressions.json`);
  } catch {
    console.warn(`bench: no evaluation fixture at ${dir} (set DSHMP_EVAL_FIXTURES); score suite left out`);
    return [];
  }
  const rows: Row[] = [];
  for (const workers of [1, 2]) {
    let frames = 0;
    const ms = await bestOf(repeats, async () => {
      const r = await scoreSplit({ splitDir: dir, predDir: `${dir}/pred`, workers, warn: () => {} });
      frames = r.num_frames;
    });
    rows.push({
      suite: "score",
      name: `J&F scorer, ${workers} thread(s)`,
      ms,
      rate: frames / (ms / 1000),
      unit: "frames/s",
    });
  }
  return rows;
}

/** The config the `model` suite times without `--config-file`: the paper's. */
export const PAPER_CONFIG = "configs/dshmp_swin_tiny.yaml";

async function benchModel(ctx: TaskContext<typeof benchFlags>, repeats: number): Promise<Row[]> {
  // The built-in defaults alone are no model (their backbone and head disagree on features).
  const modelCtx = ctx.args.configFile
    ? ctx
    : await buildTaskContext(["--config-file", PAPER_CONFIG, ...ctx.args.overrides], benchSpec);
  const cfg = modelCtx.cfg as unknown as DshmpConfig;
  const g = new Generator(0);
  const backbone = d2SwinTransformerFromConfig(cfg, { generator: g });
  backbone.eval();
  const pixelDecoder = msDeformAttnPixelDecoderFromConfig(cfg, backbone.outputShape(), { generator: g });
  pixelDecoder.eval();
  const [h, w, lang, words] = [448, 640, 768, 20];
  const image = ops.randn([1, 3, h, w], g);
  const wordFeats = ops.randn([1, lang, words], g);
  const wordMask = ops.ones([1, words, 1]);
  const rows: Row[] = [];
  let features: Record<string, ops.Tensor> = {};
  const msBackbone = await bestOf(repeats, async () => {
    ops.dispose(features);
    features = backbone.forward(image, wordFeats, wordMask);
    await Promise.all(Object.values(features).map((t) => t.data()));
  });
  rows.push({
    suite: "model",
    name: `Swin-T backbone (PWAM) ${h}x${w}`,
    ms: msBackbone,
    rate: 1000 / msBackbone,
    unit: "frames/s",
  });
  const msPixel = await bestOf(repeats, async () => {
    const out = pixelDecoder.forwardFeatures(features);
    await out[0].data();
    ops.dispose(out as unknown as ops.Tensor[]);
  });
  rows.push({
    suite: "model",
    name: `MSDeformAttn pixel decoder ${h}x${w}`,
    ms: msPixel,
    rate: 1000 / msPixel,
    unit: "frames/s",
  });
  ops.dispose([image, wordFeats, wordMask, ...Object.values(features)]);
  backbone.dispose();
  pixelDecoder.dispose();

  // The whole inference after the text encoder (RoBERTa-base adds ~0.7 s per sentence on wasm).
  const model = buildDshmp(cfg, { registries: modelCtx.registries, generator: g, textEncoder: null }).eval();
  const frame = ops.randn([3, h, w], g);
  const lastHiddenState = ops.randn([1, 40, lang], g);
  const poolerOutput = ops.randn([1, lang], g);
  const langMask = ops.tensor(Int32Array.from({ length: 40 }, (_, i) => (i < 8 ? 1 : 0)), [1, 40], "int32");
  const maps = {
    motion: Float32Array.from({ length: 40 }, (_, i) => (i === 3 ? 1 : 0)),
    static: Float32Array.from({ length: 40 }, (_, i) => (i > 0 && i < 7 && i !== 3 ? 1 : 0)),
  };
  // The prediction is host data (masks as bytes), so nothing is left to dispose.
  const msModel = await bestOf(repeats, () =>
    model.inferenceFromEncoded(
      { image: [frame], height: h, width: w, dataset_name: "mevis" },
      { encoded: { lastHiddenState, poolerOutput }, langMask, maps },
    ));
  rows.push({
    suite: "model",
    name: `DsHmp inference after the text encoder ${h}x${w}`,
    ms: msModel,
    rate: 1000 / msModel,
    unit: "frames/s",
  });
  ops.dispose([frame, lastHiddenState, poolerOutput, langMask]);
  model.dispose();
  return rows;
}

/**
 * One training step (one clip, forward + backward) of `--config-file` (default: the tiny config) on the
 * synthetic data set, per part; `rate` is engine kernels per step.
 */
async function benchTrain(ctx: TaskContext<typeof benchFlags>, repeats: number): Promise<Row[]> {
  const { root } = await ensureSynthData();
  const file = ctx.args.configFile ?? DEFAULT_TRAIN_CONFIG;
  const trainCtx = await buildTaskContext(
    ["--config-file", file, ...ctx.args.overrides, "DATASETS.ROOT", root],
    trainSpec,
  );
  if (String(get(trainCtx.cfg, "MODEL.DSHMP.TEXT_ENCODER_PATH")) === SYNTH_TEXT_ENCODER) {
    await ensureSynthTextEncoder();
  }
  const training = await createDshmpTraining(trainCtx.cfg, trainCtx);
  try {
    const p = await profileTrainStep(training, { steps: repeats });
    const row = (c: { name: string; ms: number; kernels: number }, name: string): Row => ({
      suite: "train",
      name,
      ms: c.ms,
      rate: c.kernels,
      unit: "kernels",
    });
    return [
      ...p.parts.map((c) => row(c, `forward: ${c.name}`)),
      row(p.forward, "forward, whole model and losses"),
      row(p.backward, "backward"),
      row(p.step, `training step of one clip (${file})`),
    ];
  } finally {
    training.model.dispose();
  }
}

async function main(ctx: TaskContext<typeof benchFlags>): Promise<number> {
  const flags = ctx.args.flags;
  const suites = String(flags.suite).split(",").map((s) => s.trim()).filter(Boolean);
  for (const s of suites) {
    if (!(SUITES as readonly string[]).includes(s)) {
      console.error(`bench: unknown suite "${s}"; expected some of ${SUITES.join(", ")}`);
      return 1;
    }
  }
  const repeats = Number(flags.repeats);
  const info = await useDevice(ctx.args.device ?? "cpu");
  const backend = `${info.name}${info.threads ? ` (${info.threads} threads)` : ""}`;
  console.log(
    `bench: backend ${backend}${info.note ? ` — ${info.note}` : ""}; ${navigator.hardwareConcurrency} cores`,
  );
  const rows: Row[] = [];
  for (const suite of suites as Suite[]) {
    if (suite === "ops") {
      for (const r of await benchOps({ repeats })) {
        rows.push({ suite, name: r.name, ms: r.ms, rate: r.rate, unit: r.unit });
      }
    } else if (suite === "data") rows.push(...await benchData(repeats));
    else if (suite === "score") rows.push(...await benchScore(repeats));
    else if (suite === "train") rows.push(...await benchTrain(ctx, repeats));
    else rows.push(...await benchModel(ctx, repeats));
  }
  const width = Math.max(...rows.map((r) => r.name.length));
  for (const r of rows) {
    console.log(
      `${r.suite.padEnd(6)} ${r.name.padEnd(width)}  ${r.ms.toFixed(1).padStart(9)} ms  ${
        r.rate.toFixed(1)
      } ${r.unit}`,
    );
  }
  if (flags.json) {
    const record = {
      date: new Date().toISOString(),
      backend: activeBackend()?.name,
      cores: navigator.hardwareConcurrency,
      rows,
    };
    await writeJsonAtomic(String(flags.json), record);
    console.log(`bench: wrote ${flags.json}`);
  }
  return 0;
}

if (import.meta.main) await runTask(benchSpec, main);

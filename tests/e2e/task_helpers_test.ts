/**
 * The helpers of the train and demo tasks: options among the trailing overrides, the no-argument
 * default, the synthetic data keys, frame order, the overlay's tint and sheet frames.
 * @module
 */
import { assert, assertEquals, assertThrows } from "../assert.ts";
import { loadConfig } from "../../core/config/load.ts";
import { builtinPlugins } from "../../mod.ts";
import { COMMON_FLAGS } from "../../tasks/cli.ts";
import {
  defaultArgv,
  hoistFlags,
  planReplicas,
  synthOptionsFromConfig,
  trainSpec,
} from "../../tasks/train.ts";
import { withKeys } from "../../tasks/train_eval.ts";
import { demoSpec } from "../../tasks/demo.ts";
import {
  demoRecord,
  EDGE,
  frameStem,
  naturalSort,
  sheetFrames,
  TINT,
  tintFrame,
} from "../../plugins/mevis/demo/mod.ts";

const CONFIG = new URL("../../configs/dshmp_synth_tiny.yaml", import.meta.url).pathname;

Deno.test("hoistFlags: options among the overrides move to the front with their values", () => {
  const flags = { ...COMMON_FLAGS, ...demoSpec.flags };
  assertEquals(
    hoistFlags([
      "--config-file",
      "c.yaml",
      "MODEL.WEIGHTS",
      "w",
      "--frames",
      "f/",
      "--no-overlay",
      "SEED",
      "1",
    ], flags),
    ["--config-file", "c.yaml", "--frames", "f/", "--no-overlay", "MODEL.WEIGHTS", "w", "SEED", "1"],
  );
  assertEquals(hoistFlags(["A", "1", "--text=a dog"], flags), ["--text=a dog", "A", "1"]);
  // Unknown options stay where they are, for the parser to reject.
  assertEquals(hoistFlags(["A", "1", "--nope", "x"], flags), ["A", "1", "--nope", "x"]);
});

Deno.test("train without a config: the tiny synthetic config with the synthetic data on", async () => {
  const flags = { ...COMMON_FLAGS, ...trainSpec.flags };
  const tail = ["--config-file", "configs/dshmp_synth_tiny.yaml", "DATASETS.SYNTH.ENABLED", "True"];
  assertEquals(defaultArgv([], flags), tail);
  // Options alone still mean the default run; a config or an override does not.
  assertEquals(defaultArgv(["-q", "--replicas", "1", "--resume"], flags), [
    "-q",
    "--replicas",
    "1",
    "--resume",
    ...tail,
  ]);
  assertEquals(defaultArgv(["--config-file", "c.yaml"], flags), null);
  assertEquals(defaultArgv(["--help"], flags), null);
  assertEquals(defaultArgv(["-h"], flags), null);
  assertEquals(defaultArgv(["--config-file=c.yaml"], flags), null);
  assertEquals(defaultArgv(["OUTPUT_DIR", "x"], flags), null);
  assertEquals(defaultArgv(["--replicas", "1", "SEED", "2"], flags), null);
  const { cfg } = await loadConfig({
    file: CONFIG,
    overrides: ["DATASETS.SYNTH.VIDEOS", "[5, 2, 1]", "DATASETS.SYNTH.FRAMES", "[6, 9]"],
    plugins: Object.keys(builtinPlugins),
    builtins: builtinPlugins,
  });
  const d = cfg.DATASETS as { SYNTH: { ENABLED: boolean; CACHE_DIR: string } };
  assertEquals(d.SYNTH.ENABLED, false, "off unless asked for (the no-argument run asks)");
  assertEquals(d.SYNTH.CACHE_DIR, ".cache/synth-mevis");
  assertEquals(synthOptionsFromConfig(cfg), {
    seed: 0,
    videos: { train: 5, valid_u: 2, valid: 1 },
    height: 64,
    width: 96,
    minFrames: 6,
    maxFrames: 9,
  });
  assertThrows(
    () => synthOptionsFromConfig(withKeys(cfg, { "DATASETS.SYNTH.SIZE": [64] })),
    "two numbers",
  );
  const changed = withKeys(cfg, { "MODEL.WEIGHTS": "x" });
  assertEquals((changed.MODEL as { WEIGHTS: string }).WEIGHTS, "x");
  assertEquals((cfg.MODEL as { WEIGHTS: string }).WEIGHTS, "", "the original config is left alone");
});

Deno.test("demo frames: natural order, stems, the record's sentence normalised", () => {
  assertEquals(naturalSort(["f10.jpg", "f2.jpg", "f1.png"]), ["f1.png", "f2.jpg", "f10.jpg"]);
  assertEquals(frameStem("a/b/00012.jpeg"), "00012");
  const r = demoRecord(["a/1.jpg", "a/2.jpg"], "  The Cat\tJumping ");
  assertEquals([r.sentence, r.length, r.annotations.length, r.refer_id], ["the cat jumping", 2, 0, -1]);
});

Deno.test("demo overlay: targets tinted half-way, their boundary in EDGE, the rest untouched", () => {
  const w = 5, h = 5;
  const frame = { data: new Uint8Array(w * h * 3).fill(100), width: w, height: h, channels: 3 };
  const mask = new Uint8Array(w * h);
  for (let y = 1; y <= 3; y++) for (let x = 1; x <= 3; x++) mask[y * w + x] = 1;
  const out = tintFrame(frame, mask);
  const px = (x: number, y: number) => [...out.data.slice((y * w + x) * 3, (y * w + x) * 3 + 3)];
  assertEquals(px(0, 0), [100, 100, 100]);
  assertEquals(px(1, 1), [...EDGE], "boundary");
  assertEquals(px(2, 2), TINT.map((c) => Math.round(50 + c / 2)), "inside");
  assertThrows(() => tintFrame(frame, new Uint8Array(3)), "mask of 3 pixels");
  assertEquals(sheetFrames(10, 4), [0, 3, 6, 9]);
  assertEquals(sheetFrames(2, 8), [0, 1]);
  assert(sheetFrames(1, 8).length === 1);
});

Deno.test("planReplicas: one replica per core up to the micro-batches, the cores shared out as threads", () => {
  const cfg = (ims: number) => ({ SOLVER: { IMS_PER_BATCH: ims } });
  assertEquals(planReplicas(cfg(2), 0, 2, undefined), { replicas: 2, threads: 1 });
  assertEquals(planReplicas(cfg(2), 0, 16, undefined), { replicas: 2, threads: 8 });
  assertEquals(planReplicas(cfg(8), 0, 16, undefined), { replicas: 8, threads: 2 });
  assertEquals(planReplicas(cfg(1), 0, 4, undefined), { replicas: 1, threads: 4 });
  assertEquals(planReplicas(cfg(8), 3, 2, "2"), { replicas: 3, threads: 2 }, "DSHMP_THREADS wins");
  assertThrows(() => planReplicas(cfg(2), 3, 8, undefined), /more replicas than the 2 micro-batches/);
  assertThrows(() => planReplicas(cfg(2), -1, 8, undefined), /--replicas expects 0/);
});

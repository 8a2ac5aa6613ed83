/**
 * The eval writer on tiny MeViS-layout splits: the submission zip's exact listing and its completeness
 * check, resuming after an interrupted run, shards merged equal to one run, and J = F = 1 for a
 * ground-truth predictor through the writer.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "../assert.ts";
import { join } from "node:path";
import { unzipSync } from "fflate";
import { decodePng } from "../../core/io/png.ts";
import { loadMevisSplit, type MevisSplitName } from "../../plugins/mevis/data/mevis_dataset.ts";
import { MevisTestMapper } from "../../plugins/mevis/data/test_mapper.ts";
import type { MevisSample } from "../../plugins/mevis/data/sample.ts";
import { writeInference } from "../../plugins/mevis/eval/inference_writer.ts";
import { readExpected, TMP_DIR } from "../../plugins/mevis/eval/layout.ts";
import type { PredictedMasks, VideoPredictor } from "../../plugins/mevis/eval/predictor.ts";
import {
  finishDataset,
  inferenceRoot,
  mergeShards,
  predictDataset,
  stampOf,
} from "../../plugins/mevis/eval/run_eval.ts";
import { expressionKey, parseShard, shardKeys } from "../../plugins/mevis/eval/shards.ts";
import { submissionEntries } from "../../plugins/mevis/eval/submission.ts";
import { box, CLEAN, type FakeVideo, quietReport, writeFakeSplit } from "./_fake_split.ts";

const CFG = {
  INPUT: { MIN_SIZE_TEST: 12, MAX_SIZE_TEST: 64, FORMAT: "RGB" },
  MODEL: { META_ARCHITECTURE: "Fake", WEIGHTS: "w.safetensors" },
};

const VIDEOS: Record<string, FakeVideo> = {
  ...CLEAN,
  vidC: {
    frames: 3,
    objects: { "40": box(3, [1, 1, 9, 20]) },
    expressions: {
      "0": { exp: "a wide box", obj_id: [0], anno_id: [40] },
      "1": { exp: "nothing", obj_id: [], anno_id: [] },
      "2": { exp: "the wide box again", obj_id: [0], anno_id: [40] },
    },
  },
};

/** Ground truth of the fake videos, optionally shifted right by `dx` pixels. */
function truthPredictor(dx = 0, failAfter = Infinity): VideoPredictor & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    predict(sample: MevisSample): Promise<PredictedMasks> {
      if (calls.length >= failAfter) return Promise.reject(new Error("simulated crash"));
      calls.push(expressionKey(sample.video_name, sample.exp_id));
      const v = VIDEOS[sample.video_name];
      const e = v.expressions[sample.exp_id];
      const { height: h, width: w } = sample;
      const masks = sample.frame_idx.map((f) => {
        const m = new Uint8Array(h * w);
        for (const anno of e.anno_id) {
          const b = v.objects[String(anno)][f];
          if (!b) continue;
          for (let y = b[0]; y < b[2]; y++) {
            for (let x = b[1] + dx; x < Math.min(w, b[3] + dx); x++) m[y * w + x] = 1;
          }
        }
        return m;
      });
      return Promise.resolve({ masks, height: h, width: w });
    },
  };
}

async function makeSplit(root: string, name: MevisSplitName) {
  const folder = name === "mevis_val" ? "valid_u" : "valid";
  const dir = await writeFakeSplit(root, folder, VIDEOS);
  if (name === "mevis_test") await Deno.remove(join(dir, "mask_dict.json"));
  return await loadMevisSplit(name, root, { report: quietReport().report });
}

/** Every file under `dir` (relative path -> bytes), skipping the temp folder. */
async function tree(dir: string, prefix = ""): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for await (const e of Deno.readDir(dir)) {
    if (e.name === TMP_DIR) continue;
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory) { for (const [k, v] of await tree(join(dir, e.name), rel)) out.set(k, v); }
    else out.set(rel, await Deno.readFile(join(dir, e.name)));
  }
  return out;
}

function assertSameTree(a: Map<string, Uint8Array>, b: Map<string, Uint8Array>) {
  assertEquals([...a.keys()].sort(), [...b.keys()].sort());
  for (const [k, v] of a) assertEquals(v, b.get(k), k);
}

async function run(split: Awaited<ReturnType<typeof makeSplit>>, out: string, predictor: VideoPredictor) {
  const root = inferenceRoot(out, split.name, false);
  await predictDataset({ cfg: CFG, split, root, predictor });
  return { root, finished: await finishDataset({ split, root, outputDir: out }) };
}

Deno.test("eval: mevis_test submission zip has the video folders at its root, exact listing", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const split = await makeSplit(tmp, "mevis_test");
    const out = join(tmp, "out");
    const { root, finished } = await run(split, out, truthPredictor());
    assertEquals(finished.results, undefined);
    assertEquals(finished.zipPath, join(out, "submission_mevis_test.zip"));
    const zip = unzipSync(await Deno.readFile(finished.zipPath!));
    const expected = [
      ...["0", "1"].flatMap((e) => [0, 1, 2, 3, 4, 5].map((f) => `vidA/${e}/0000${f}.png`)),
      ...[0, 1, 2, 3].map((f) => `vidB/0/0000${f}.png`),
      "short/0/00000.png",
      "short/1/00000.png",
      ...["0", "1", "2"].flatMap((e) => [0, 1, 2].map((f) => `vidC/${e}/0000${f}.png`)),
    ];
    assertEquals(Object.keys(zip), expected);
    assertEquals(submissionEntries(await readExpected(split.jsonFile)), expected);
    assertEquals(finished.pngs, expected.length);
    // vidA expression 1 in frame 2: both boxes, 0/255.
    const png = decodePng(zip["vidA/1/00002.png"]);
    assertEquals([png.height, png.width], [24, 32]);
    assertEquals(new Set(png.data), new Set([0, 255]));
    assertEquals(png.data[5 * 32 + 5], 255);
    assertEquals(png.data[15 * 32 + 20], 255);
    assertEquals(png.data[0], 0);
    assertEquals(zip["vidA/1/00002.png"], await Deno.readFile(join(root, "vidA", "1", "00002.png")));

    // A missing frame stops the zip, naming it; the old zip stays.
    await Deno.remove(join(root, "vidA", "1", "00003.png"));
    await assertRejects(
      () => finishDataset({ split, root, outputDir: out }),
      "expression vidA/1 frame 00003 is missing",
    );
    // A missing expression likewise; rerunning the writer repairs both.
    await Deno.remove(join(root, "vidC", "2"), { recursive: true });
    await assertRejects(() => finishDataset({ split, root, outputDir: out }), "vidA/1");
    const p = truthPredictor();
    await predictDataset({ cfg: CFG, split, root, predictor: p });
    assertEquals(p.calls, ["vidA/1", "vidC/2"]);
    const again = await finishDataset({ split, root, outputDir: out });
    assertEquals(Object.keys(unzipSync(await Deno.readFile(again.zipPath!))), expected);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("eval: an interrupted run resumes with only the rest and ends identical", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const split = await makeSplit(tmp, "mevis_val");
    const whole = await run(split, join(tmp, "whole"), truthPredictor(1));

    const out = join(tmp, "resumed");
    const root = inferenceRoot(out, split.name, false);
    const crashing = truthPredictor(1, 3);
    await assertRejects(() => predictDataset({ cfg: CFG, split, root, predictor: crashing }), "simulated");
    assertEquals(crashing.calls.length, 3);
    // A folder left half-written by another tool counts as not done and is replaced.
    await Deno.mkdir(join(root, "vidC", "0"), { recursive: true });
    await Deno.writeFile(join(root, "vidC", "0", "00000.png"), new Uint8Array([1, 2, 3]));
    const rest = truthPredictor(1);
    const res = await predictDataset({ cfg: CFG, split, root, predictor: rest });
    const all = split.records.map((r) => expressionKey(r.video_name, r.exp_id));
    assertEquals(rest.calls, all.filter((k) => !crashing.calls.includes(k)));
    assertEquals(res.skipped, crashing.calls);
    // Nothing left to do on a third run.
    const idle = truthPredictor(1);
    await predictDataset({ cfg: CFG, split, root, predictor: idle });
    assertEquals(idle.calls, []);
    const fin = await finishDataset({ split, root, outputDir: out });
    assert(fin.results!.JF < 1 && fin.results!.JF > 0.3, `shifted masks: J&F ${fin.results!.JF}`);
    assertSameTree(await tree(root), await tree(whole.root));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("eval: shards are disjoint, cover the split, and merged equal one run", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const split = await makeSplit(tmp, "mevis_val");
    const whole = await run(split, join(tmp, "whole"), truthPredictor(2));
    const expected = await readExpected(split.jsonFile);
    const keys = expected.map((e) => expressionKey(e.video, e.expId));
    const parts = [0, 1, 2].map((k) => shardKeys(keys, { index: k, count: 3 }));
    assertEquals(parts.map((p) => p.size), [3, 3, 2]);
    assertEquals(parts.flatMap((p) => [...p]).sort(), [...keys].sort());

    // Shards with their own OUTPUT_DIR, merged into a fresh one.
    const dirs = [0, 1, 2].map((k) => join(tmp, `shard${k}`));
    for (const [k, dir] of dirs.entries()) {
      const p = truthPredictor(2);
      await predictDataset({
        cfg: CFG,
        split,
        root: inferenceRoot(dir, split.name, false),
        predictor: p,
        shard: { index: k, count: 3 },
      });
      assertEquals(new Set(p.calls), parts[k]);
    }
    const out = join(tmp, "merged");
    const root = inferenceRoot(out, split.name, false);
    const sources = dirs.map((d) => inferenceRoot(d, split.name, false));
    assertEquals(await mergeShards(root, sources, expected, stampOf(CFG, split.name)), keys.length);
    await finishDataset({ split, root, outputDir: out });
    assertSameTree(await tree(root), await tree(whole.root));

    // Shards sharing one OUTPUT_DIR need no copying.
    const shared = join(tmp, "shared");
    const sharedRoot = inferenceRoot(shared, split.name, false);
    for (const k of [2, 0, 1]) {
      await predictDataset({
        cfg: CFG,
        split,
        root: sharedRoot,
        predictor: truthPredictor(2),
        shard: { index: k, count: 3 },
      });
    }
    await finishDataset({ split, root: sharedRoot, outputDir: shared });
    assertSameTree(await tree(sharedRoot), await tree(whole.root));

    // Predictions of another model are not mixed in.
    await assertRejects(
      () => mergeShards(root, sources, expected, { ...stampOf(CFG, split.name), weights: "other.pth" }),
      'weights "w.safetensors"',
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("eval: mevis_val through the writer scores J = F = 1 for the ground truth, by video and type", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const split = await makeSplit(tmp, "mevis_val");
    await Deno.writeTextFile(
      join(split.imageRoot, "expression_types.json"),
      JSON.stringify({ vidA: { "0": "motion", "1": ["motion", "multi"] }, vidC: { "1": "empty" } }),
    );
    const out = join(tmp, "out");
    const { root, finished } = await run(split, out, truthPredictor());
    assertEquals(finished.zipPath, undefined);
    const doc = finished.results!;
    assertEquals([doc.J, doc.F, doc.JF, doc.num_expressions], [1, 1, 1, 8]);
    assertEquals(Object.keys(doc.per_expression).length, 8);
    assertEquals(doc.per_expression["vidC_1"], [1, 1]);
    assertEquals(Object.keys(doc.per_video), ["vidA", "vidB", "short", "vidC"]);
    assertEquals(doc.per_video.vidA, { J: 1, F: 1, JF: 1, count: 2 });
    assertEquals(Object.keys(doc.per_type!), ["empty", "motion", "multi"]);
    assertEquals(doc.per_type!.motion.count, 2);
    assertEquals(JSON.parse(await Deno.readTextFile(join(root, "results.json"))), doc);
    assertEquals((await tree(root)).has(".eval.json"), true);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("eval: a prediction of the wrong shape is an error naming the expression", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const split = await makeSplit(tmp, "mevis_test");
    const bad: VideoPredictor = {
      predict: (s) =>
        Promise.resolve({ masks: [new Uint8Array(s.height * s.width)], height: s.height, width: s.width }),
    };
    const mapper = new MevisTestMapper(split, { minSizeTest: 12 });
    await assertRejects(
      () => writeInference({ split, predictor: bad, root: join(tmp, "inf"), mapper }),
      "the prediction for vidA/0 has 1 masks for 6 frames",
    );
    // Nothing half-written stays behind: the check comes before any file is written.
    assertEquals(await Deno.stat(join(tmp, "inf")).then(() => true, () => false), false);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("eval: --shard parsing", () => {
  assertEquals(parseShard("0/1"), { index: 0, count: 1 });
  assertEquals(parseShard(" 7 / 8 "), { index: 7, count: 8 });
  for (const bad of ["8/8", "1/0", "-1/2", "1", "a/b", "1/2/3"]) {
    assertThrows(() => parseShard(bad), "--shard expects k/n");
  }
});

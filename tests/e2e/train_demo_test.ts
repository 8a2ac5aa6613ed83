/**
 * End to end, through the task CLIs as subprocesses: tiny synthetic data (DATASETS.SYNTH.*) ->
 * `deno task train` on configs/dshmp_synth_tiny.yaml for two iterations -> checkpoints, metrics.jsonl,
 * loss_curve.svg, config.yaml, the valid_u J&F (results.json, eval_results.json) -> `--resume`
 * continues to four iterations -> `--eval-only` scores the final weights -> `deno task demo` on a
 * folder of frames writes its masks and pictures. Also: `--num-gpus 2` is refused with the reason.
 * @module
 */
import { join } from "node:path";
import { assert, assertEquals } from "../assert.ts";
import { decodePng } from "../../core/io/png.ts";

const REPO = new URL("../../", import.meta.url).pathname;
const CONFIG = "configs/dshmp_synth_tiny.yaml";

interface Run {
  code: number;
  out: string;
}

async function task(name: string, args: readonly string[]): Promise<Run> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", name, ...args],
    cwd: REPO,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code, out: dec.decode(stdout) + dec.decode(stderr) };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

Deno.test("e2e: synthetic data -> train -> J&F -> resume -> eval-only -> init from weights -> demo", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "dshmp_e2e_" });
  try {
    const out = join(tmp, "out");
    const common = [
      "--config-file",
      CONFIG,
      "--quiet",
      ...["DATASETS.SYNTH.ENABLED", "True", "DATASETS.SYNTH.CACHE_DIR", join(tmp, "cache")],
      ...["DATASETS.SYNTH.VIDEOS", "[4, 2, 0]", "DATASETS.SYNTH.FRAMES", "[6, 8]"],
      ...["SOLVER.IMS_PER_BATCH", "1", "SOLVER.CHECKPOINT_PERIOD", "1", "SOLVER.WARMUP_ITERS", "1"],
      ...["OUTPUT_DIR", out, "SEED", "3"],
    ];
    const first = await task("train", [...common, "SOLVER.MAX_ITER", "2"]);
    assertEquals(first.code, 0, first.out);
    assert(first.out.includes("synthetic data generated"), first.out);
    for (
      const f of ["config.yaml", "metrics.jsonl", "loss_curve.svg", "last_checkpoint", "eval_results.json"]
    ) {
      assert(await exists(join(out, f)), `${f} is written`);
    }
    for (const f of ["model_0000000.safetensors", "model_final.safetensors", "model_final.json"]) {
      assert(await exists(join(out, f)), `${f} is written`);
    }
    assert((await Deno.readTextFile(join(out, "loss_curve.svg"))).startsWith("<svg"), "an SVG loss curve");
    assert((await Deno.readTextFile(join(out, "config.yaml"))).includes("DATASETS"), "the merged config");
    const rows1 = jsonLines(await Deno.readTextFile(join(out, "metrics.jsonl")));
    const losses1 = rows1.filter((r) => "total_loss" in r);
    assertEquals(losses1.map((r) => r.iteration), [0, 1]);
    for (const r of losses1) assert(Number.isFinite(r.total_loss as number), JSON.stringify(r));

    // The valid_u evaluation: results.json from the scorer, the flattened numbers beside the checkpoints.
    const results = JSON.parse(await Deno.readTextFile(join(out, "inference", "results.json")));
    assert(results.num_expressions > 0, "valid_u expressions scored");
    for (const k of ["J", "F", "JF"]) assert(results[k] >= 0 && results[k] <= 1, `${k} = ${results[k]}`);
    assert(Object.keys(results.per_type ?? {}).length > 0, "J&F per expression type");
    const flat = JSON.parse(await Deno.readTextFile(join(out, "eval_results.json")));
    assertEquals(flat["mevis_val/J&F"], results.JF);
    assert(first.out.includes("mevis_val: J "), "the summary is printed");
    assert(/every_object J&F \d\.\d{4}/.test(first.out), "the reference predictors are printed for scale");

    // Resume: continues after the last checkpoint (iteration 1) to iteration 3.
    const second = await task("train", [...common, "--resume", "SOLVER.MAX_ITER", "4"]);
    assertEquals(second.code, 0, second.out);
    assert(/resumed from .*model_final/.test(second.out), second.out);
    assert(second.out.includes("iterations 2..3"), second.out);
    const rows2 = jsonLines(await Deno.readTextFile(join(out, "metrics.jsonl")));
    const losses2 = rows2.filter((r) => "total_loss" in r);
    assertEquals(losses2.map((r) => r.iteration), [0, 1, 2, 3]);
    assertEquals(losses2.slice(0, 2), losses1, "the first run's rows are kept as they were");
    const last = JSON.parse(await Deno.readTextFile(join(out, "model_final.json")));
    assertEquals(last.iteration, 3);

    // --eval-only scores the final weights (same data, fewer flags).
    const weights = join(out, "model_final.safetensors");
    const evalDir = join(tmp, "eval");
    const third = await task("train", [
      ...common,
      "--eval-only",
      ...["MODEL.WEIGHTS", weights, "OUTPUT_DIR", evalDir],
    ]);
    assertEquals(third.code, 0, third.out);
    const evalFlat = JSON.parse(await Deno.readTextFile(join(evalDir, "eval_results.json")));
    assert(evalFlat["mevis_val/J&F"] >= 0 && evalFlat["mevis_val/J&F"] <= 1, JSON.stringify(evalFlat));
    assert(!(await exists(join(evalDir, "metrics.jsonl"))), "no training in --eval-only");

    // A fresh run initialised from MODEL.WEIGHTS: every tensor filled, reported; no test sets, no eval.
    const init = await task("train", [
      ...common,
      ...["MODEL.WEIGHTS", weights, "OUTPUT_DIR", join(tmp, "init"), "SOLVER.MAX_ITER", "1"],
      ...["DATASETS.TEST", "[]"],
    ]);
    assertEquals(init.code, 0, init.out);
    assert(/(\d+) of \1 model tensors filled, 0 skipped/.test(init.out), init.out);
    assert(init.out.includes("iterations 0..0"), init.out);
    assert(!(await exists(join(tmp, "init", "eval_results.json"))), "no evaluation without DATASETS.TEST");

    // The demo on one valid_u video's frames, with the overrides among the options as in the README.
    const [root] = [...Deno.readDirSync(join(tmp, "cache"))].map((e) => join(tmp, "cache", e.name));
    const videos = join(root, "mevis", "valid_u", "JPEGImages");
    const video = join(videos, [...Deno.readDirSync(videos)][0].name);
    const frames = [...Deno.readDirSync(video)].map((e) => e.name).sort();
    const demoOut = join(tmp, "demo");
    const demo = await task("demo", [
      ...["--config-file", CONFIG, "MODEL.WEIGHTS", weights],
      ...["--frames", video, "--text", "the red circle moving left", "--out", demoOut],
    ]);
    assertEquals(demo.code, 0, demo.out);
    const masks = [...Deno.readDirSync(join(demoOut, "masks"))].map((e) => e.name).sort();
    assertEquals(masks, frames.map((f) => f.replace(/\.jpg$/, ".png")));
    const mask = decodePng(await Deno.readFile(join(demoOut, "masks", masks[0])));
    assertEquals([mask.height, mask.width], [64, 96], "masks at the frames' size");
    assert(mask.data.every((v) => v === 0 || v === 255), "0/255 masks");
    const sheet = await Deno.readFile(join(demoOut, "overlay_sheet.png"));
    assertEquals([...sheet.slice(1, 4)].map((c) => String.fromCharCode(c)).join(""), "PNG");
    assertEquals([...Deno.readDirSync(join(demoOut, "overlay"))].length, frames.length);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

/** Every PNG under `dir`, sorted. */
async function pngFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    if (e.isDirectory) out.push(...await pngFiles(path));
    else if (e.name.endsWith(".png")) out.push(path);
  }
  return out.sort();
}

Deno.test("e2e: train --replicas 2 gives --replicas 1's losses, weights and evaluation; more replicas than clips is refused", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "dshmp_e2e_replicas_" });
  try {
    const common = [
      ...["--config-file", CONFIG, "--quiet"],
      ...["DATASETS.SYNTH.ENABLED", "True", "DATASETS.SYNTH.CACHE_DIR", join(tmp, "cache")],
      ...["DATASETS.SYNTH.VIDEOS", "[4, 2, 0]", "DATASETS.SYNTH.FRAMES", "[6, 8]"],
      ...["SOLVER.IMS_PER_BATCH", "2", "SOLVER.MAX_ITER", "2", "SEED", "3"],
    ];
    const runs = [];
    for (const replicas of [1, 2]) {
      const out = join(tmp, `r${replicas}`);
      const run = await task("train", ["--replicas", String(replicas), ...common, "OUTPUT_DIR", out]);
      assertEquals(run.code, 0, run.out);
      assert(run.out.includes(`(${replicas} replica(s)`), run.out);
      assertEquals(run.out.includes("this process and 1 replica(s) predict a shard each"), replicas === 2);
      const rows = jsonLines(await Deno.readTextFile(join(out, "metrics.jsonl")))
        .map(({ time: _t, data_time: _d, ...rest }) => rest);
      // The evaluation after the last iteration: with 2 replicas, half the expressions are predicted
      // by the replica; every mask file must be the same.
      const masks: Record<string, Uint8Array> = {};
      for (const path of await pngFiles(join(out, "inference"))) {
        masks[path.slice(out.length)] = await Deno.readFile(path);
      }
      runs.push({
        rows,
        weights: await Deno.readFile(join(out, "model_final.safetensors")),
        masks,
        results: await Deno.readTextFile(join(out, "inference", "results.json")),
      });
    }
    assertEquals(runs[1].rows, runs[0].rows);
    assertEquals(runs[1].weights, runs[0].weights);
    assert(Object.keys(runs[0].masks).length > 0);
    assertEquals(runs[1].masks, runs[0].masks);
    assertEquals(runs[1].results, runs[0].results);
    const tooMany = await task("train", ["--replicas", "3", ...common, "OUTPUT_DIR", join(tmp, "r3")]);
    assertEquals(tooMany.code, 1);
    assert(tooMany.out.includes("--replicas 3: more replicas than the 2 micro-batches"), tooMany.out);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("e2e: train --num-gpus 2 is refused with the explanation", async () => {
  const run = await task("train", ["--config-file", CONFIG, "--num-gpus", "2"]);
  assertEquals(run.code, 1, run.out);
  assert(run.out.includes("SOLVER.IMS_PER_BATCH 8"), run.out);
  assert(run.out.includes("no all-reduce"), run.out);
  assert(run.out.includes("--replicas N"), run.out);
});

Deno.test("e2e: train with overrides but no config says to name one", async () => {
  const run = await task("train", ["OUTPUT_DIR", "output/never_written"]);
  assertEquals(run.code, 1, run.out);
  assert(run.out.includes("DATASETS.TRAIN is empty"), run.out);
  assert(run.out.includes("name a config with --config-file FILE"), run.out);
  assert(!run.out.includes("Uncaught"), run.out);
});

Deno.test("e2e: demo without --frames or --text says what is missing", async () => {
  const noFrames = await task("demo", ["--config-file", CONFIG, "--text", "a dog", "MODEL.WEIGHTS", "w"]);
  assertEquals(noFrames.code, 1, noFrames.out);
  assert(noFrames.out.includes("--frames DIR is required"), noFrames.out);
  const tmp = await Deno.makeTempDir({ prefix: "dshmp_e2e_" });
  try {
    const noText = await task("demo", ["--config-file", CONFIG, "--frames", tmp, "MODEL.WEIGHTS", "w"]);
    assertEquals(noText.code, 1, noText.out);
    assert(noText.out.includes("--text"), noText.out);
    const empty = await task("demo", [
      "--config-file",
      CONFIG,
      "--frames",
      tmp,
      "--text",
      "a dog",
      "MODEL.WEIGHTS",
      "w",
    ]);
    assertEquals(empty.code, 1, empty.out);
    assert(empty.out.includes("no .jpg / .jpeg / .png files"), empty.out);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

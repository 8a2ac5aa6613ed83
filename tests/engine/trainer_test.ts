/**
 * The training loop on the tiny model (tests/golden/tiny_model.ts): what it writes (metrics.jsonl,
 * checkpoints on detectron2's schedule, last_checkpoint, the loss curve), the periodic evaluation, the
 * progress line, flat tensor counts across iterations, the non-finite-loss stop, the refusal of
 * several devices and the --eval-only path.
 */
import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStrictEquals,
  assertThrows,
} from "../assert.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";
import { lrMultiplier } from "../../core/engine/lr_scheduler.ts";
import {
  checkSingleProcess,
  evalOnly,
  NonFiniteLossError,
  Trainer,
  trainerSettingsFromConfig,
} from "../../core/engine/trainer.ts";
import type { StepRecord, TrainerHook, TrainerView } from "../../core/engine/hooks.ts";
import { isLossRow, MetricsLog, readMetrics } from "../../core/engine/metrics_log.ts";
import { lossSeries, renderLossCurve } from "../../core/engine/loss_curve.ts";
import { UsageError } from "../../core/cli/flags.ts";
import { runTiny, tinySetup, tinySolver, weightsOf } from "../golden/tiny_model.ts";

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  await useBackend("wasm");
  const dir = await Deno.makeTempDir({ prefix: "dshmp_trainer_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const files = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

Deno.test("training writes metrics rows, checkpoints on detectron2's schedule and the loss curve", async () => {
  await withTempDir(async (dir) => {
    const { net } = await runTiny({ outputDir: dir, maxIter: 10, checkpointPeriod: 4 });
    net.dispose();
    // (i + 1) % 4 == 0 -> 3 and 7; the last iteration (9) -> model_final.
    for (const name of ["model_0000003", "model_0000007", "model_final"]) {
      for (const ext of [".safetensors", ".optim.safetensors", ".json"]) {
        assert(files(dir).includes(name + ext), `${name}${ext} missing: ${files(dir)}`);
      }
    }
    assert(!files(dir).some((f) => f.startsWith("model_0000009")), "no periodic checkpoint at 9");
    assert(!files(dir).some((f) => f.includes(".tmp")), `temporary files left: ${files(dir)}`);
    assertStrictEquals(await Deno.readTextFile(`${dir}/last_checkpoint`), "model_final.safetensors");

    const rows = await readMetrics(`${dir}/metrics.jsonl`);
    assertEquals(rows.map((r) => r.iteration), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const solver = tinySolver(10);
    for (const row of rows) {
      assert(isLossRow(row));
      // The unweighted term is dropped; the others are logged with their weights applied.
      assertEquals(Object.keys(row).sort(), [
        "data_time",
        "grad_norm",
        "iteration",
        "loss_aux_0",
        "loss_l1",
        "loss_mse",
        "lr",
        "time",
        "total_loss",
      ]);
      assertStrictEquals(
        row.total_loss,
        (row.loss_mse as number) + (row.loss_aux_0 as number) + (row.loss_l1 as number),
      );
      assertStrictEquals(row.lr, 0.01 * lrMultiplier(row.iteration, solver.schedule));
      assert(row.time >= row.data_time && row.data_time >= 0, `timings ${row.time} ${row.data_time}`);
    }
    const svg = await Deno.readTextFile(`${dir}/loss_curve.svg`);
    assertMatch(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    for (const label of ["total_loss", "loss_mse", "loss_aux", "loss_l1", "log scale"]) {
      assert(svg.includes(label), `the curve lacks ${label}`);
    }
  });
});

Deno.test("the eval hook runs every EVAL_PERIOD and after the last iteration, in eval mode, and logs results", async () => {
  await withTempDir(async (dir) => {
    const setup = tinySetup();
    const calls: [number, boolean][] = [];
    const trainer = new Trainer({
      model: setup.model,
      data: setup.data,
      solver: tinySolver(7),
      outputDir: dir,
      seed: 1,
      checkpointPeriod: 100,
      evalPeriod: 3,
      evaluate: (iteration) => {
        calls.push([iteration, setup.net.training]);
        return { synth: { "J&F": iteration / 10, J: 0.5 } };
      },
      progress: false,
    });
    await trainer.resumeOrLoad();
    const result = await trainer.train();
    // After iterations 2 and 5 ((i + 1) % 3 == 0), then once at the end (iteration 6).
    assertEquals(calls, [[2, false], [5, false], [6, false]]);
    assert(setup.net.training, "training mode is restored after evaluation");
    assertEquals(result.evalResults, { "synth/J&F": 0.6, "synth/J": 0.5 });
    const evalRows = (await readMetrics(`${dir}/metrics.jsonl`)).filter((r) => "eval" in r);
    assertEquals(evalRows, [
      { iteration: 2, eval: { "synth/J&F": 0.2, "synth/J": 0.5 } },
      { iteration: 5, eval: { "synth/J&F": 0.5, "synth/J": 0.5 } },
      { iteration: 6, eval: { "synth/J&F": 0.6, "synth/J": 0.5 } },
    ]);
    trainer.dispose();
    setup.net.dispose();
  });
});

Deno.test("the progress line shows iterations, ETA and the current loss", async () => {
  await withTempDir(async (dir) => {
    const setup = tinySetup();
    const lines: string[] = [];
    const trainer = new Trainer({
      model: setup.model,
      data: setup.data,
      solver: tinySolver(4),
      outputDir: dir,
      seed: 1,
      checkpointPeriod: 100,
      // As on a terminal, so that every tick may redraw (at most every 100 ms; the last line always).
      progress: { tty: true, write: (t) => lines.push(t) },
    });
    await trainer.resumeOrLoad();
    await trainer.train();
    const last = lines[lines.length - 1];
    assert(last.endsWith("\x1b[K\n"), JSON.stringify(last));
    assertMatch(last, /^\rtrain .*4\/4 100% .* it\/s loss \d+\.\d+\S\[K\n$/);
    trainer.dispose();
    setup.net.dispose();
  });
});

Deno.test("no tensor leaks: the live tensor count is flat from the second iteration on", async () => {
  await withTempDir(async (dir) => {
    const counts: number[] = [];
    const probe: TrainerHook = { afterStep: () => void counts.push(ops.numTensors()) };
    const before = ops.numTensors();
    const { net } = await runTiny({ outputDir: dir, maxIter: 8, imsPerBatch: 4, hooks: [probe] });
    // The first step creates the optimizer's moments (2 per parameter); after that nothing may grow.
    assertEquals(counts.slice(1), new Array(counts.length - 1).fill(counts[1]));
    net.dispose();
    // Model and moments freed: back to the count before the run.
    assertStrictEquals(ops.numTensors(), before);
  });
});

Deno.test("a non-finite loss stops training naming the iteration and every term; the last good checkpoint stays", async () => {
  await withTempDir(async (dir) => {
    const setup = tinySetup();
    const base = setup.model;
    let before: Record<string, number[]> = {};
    const model = {
      ...base,
      lossTerms(batch: Parameters<typeof base.lossTerms>[0], iteration: number) {
        const terms = base.lossTerms(batch, iteration);
        if (iteration === 5) terms.loss_l1 = ops.mul(terms.loss_l1, NaN);
        return terms;
      },
    };
    const snapshot: TrainerHook = {
      afterStep: (_t: TrainerView, step: StepRecord) =>
        void (step.iteration === 4 && (before = weightsOf(setup.net))),
    };
    const trainer = new Trainer({
      model,
      data: setup.data,
      solver: tinySolver(10),
      outputDir: dir,
      seed: 1,
      checkpointPeriod: 2,
      evaluate: () => {
        throw new Error("no evaluation after a failed run");
      },
      progress: false,
      hooks: [snapshot],
    });
    await trainer.resumeOrLoad();
    const error = await assertRejects(() => trainer.train(), /at iteration 5: .*loss_l1=NaN/);
    assert(error instanceof NonFiniteLossError);
    assertStrictEquals(error.iteration, 5);
    assertEquals(Object.keys(error.losses), ["loss_mse", "loss_aux_0", "loss_l1"]);
    assertMatch(error.message, /loss_mse=\d+\.\d+, loss_aux_0=\d+\.\d+, loss_l1=NaN$/);
    // The bad step was not applied and not saved: the model is as after iteration 4.
    assertEquals(weightsOf(setup.net), before);
    assertStrictEquals(await Deno.readTextFile(`${dir}/last_checkpoint`), "model_0000003.safetensors");
    assert(
      !files(dir).some((f) => f.startsWith("model_0000005") || f.startsWith("model_final")),
      `${files(dir)}`,
    );
    const rows = await readMetrics(`${dir}/metrics.jsonl`);
    assertEquals(rows.map((r) => r.iteration), [0, 1, 2, 3, 4]);
    trainer.dispose();
    setup.net.dispose();
  });
});

Deno.test("more than one device or machine is refused with the gradient-accumulation equivalent", () => {
  checkSingleProcess({ numGpus: 1, numMachines: 1 });
  const e = assertThrows(() => checkSingleProcess({ numGpus: 8 }), /collective communication/);
  assert(e instanceof UsageError);
  assertMatch(e.message, /SOLVER\.IMS_PER_BATCH 8/);
  assertThrows(() => checkSingleProcess({ numMachines: 2 }), /one process/);
});

Deno.test("--eval-only loads MODEL.WEIGHTS strictly, or the last checkpoint with resume, and evaluates in eval mode", async () => {
  await withTempDir(async (dir) => {
    const { net: trained } = await runTiny({ outputDir: dir, maxIter: 4 });
    const expected = weightsOf(trained);
    trained.dispose();
    const fresh = tinySetup({ seed: 99 }).net;
    assert(JSON.stringify(weightsOf(fresh)) !== JSON.stringify(expected));
    let mode: boolean | undefined;
    const results = await evalOnly({
      module: fresh,
      weights: `${dir}/model_final.safetensors`,
      evaluate: (iteration) => {
        mode = fresh.training;
        return { synth: { J: iteration } };
      },
      log: () => {},
    });
    assertEquals(results, { "synth/J": -1 });
    assertStrictEquals(mode, false);
    assertEquals(weightsOf(fresh), expected);

    const other = tinySetup({ seed: 98 }).net;
    await evalOnly({
      module: other,
      weights: "",
      resume: true,
      outputDir: dir,
      evaluate: () => {},
      log: () => {},
    });
    assertEquals(weightsOf(other), expected);
    await assertRejects(
      () => evalOnly({ module: other, weights: "", evaluate: () => {}, log: () => {} }),
      /MODEL\.WEIGHTS/,
    );
    fresh.dispose();
    other.dispose();
  });
});

Deno.test("metrics log: resuming drops rows past the checkpoint and a torn last line", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/metrics.jsonl`;
    await Deno.writeTextFile(
      path,
      [0, 1, 2, 3].map((i) => JSON.stringify({ iteration: i, total_loss: i })).join("\n") + '\n{"iterat',
    );
    await assertRejects(async () => {
      await Deno.writeTextFile(`${dir}/bad.jsonl`, '{"iteration": 0}\nnot json\n{"iteration": 1}\n');
      await readMetrics(`${dir}/bad.jsonl`);
    }, /bad\.jsonl:2/);
    const log = await MetricsLog.open(path, { keepBefore: 2 });
    assertEquals(log.rows.map((r) => r.iteration), [0, 1]);
    await log.append({ iteration: 2, total_loss: 9 });
    assertEquals((await readMetrics(path)).map((r) => [r.iteration, r.total_loss]), [[0, 0], [1, 1], [2, 9]]);
  });
});

Deno.test("loss curve: per-layer terms grouped, log scale drops non-positive values, long runs reduced", () => {
  const rows = Array.from({ length: 3000 }, (_, i) => ({
    iteration: i,
    total_loss: 6 / (i + 1),
    loss_ce: 1,
    loss_ce_0: 2,
    loss_ce_1: 0,
    loss_dice: 3 / (i + 1),
    lr: 1e-4,
    time: 1,
    data_time: 0,
  }));
  const series = lossSeries(rows);
  assertEquals(series.map((s) => s.label), ["total_loss", "loss_ce (3 terms)", "loss_dice"]);
  assertEquals(series[1].points[0], [0, 3]);
  assertEquals(lossSeries(rows, false).map((s) => s.label), [
    "total_loss",
    "loss_ce",
    "loss_ce_0",
    "loss_ce_1",
    "loss_dice",
  ]);
  const svg = renderLossCurve([...rows, { iteration: 3000, eval: { J: 1 } }], {
    logScale: true,
    maxPoints: 500,
  });
  const paths = [...svg.matchAll(/<path d="([^"]*)"/g)].map((m) => m[1].split(/[ML]/).length - 1);
  assertEquals(paths, [500, 500, 500]);
  // Decade ticks 1e-3 .. 1e1 on the log axis.
  for (const tick of [">0.001<", ">0.01<", ">0.1<", ">1<", ">10<"]) {
    assert(svg.includes(tick), `no tick ${tick}`);
  }
  const linear = renderLossCurve(rows.slice(0, 5), { groupLayers: false });
  assert(!linear.includes("log scale"));
  assertStrictEquals([...linear.matchAll(/<path /g)].length, 5);
});

Deno.test("trainerSettingsFromConfig reads the solver, the periods and OUTPUT_DIR", () => {
  const SOLVER = {
    OPTIMIZER: "ADAMW",
    LR_SCHEDULER_NAME: "WarmupMultiStepLR",
    BASE_LR: 5e-5,
    WEIGHT_DECAY: 0.05,
    WEIGHT_DECAY_NORM: 0,
    WEIGHT_DECAY_EMBED: 0,
    BACKBONE_MULTIPLIER: 0.1,
    MAX_ITER: 55000,
    STEPS: [40000, 50000],
    GAMMA: 0.1,
    WARMUP_FACTOR: 1,
    WARMUP_ITERS: 10,
    WARMUP_METHOD: "linear",
    RESCALE_INTERVAL: false,
    IMS_PER_BATCH: 8,
    CHECKPOINT_PERIOD: 5000,
    CLIP_GRADIENTS: { ENABLED: true, CLIP_TYPE: "full_model", CLIP_VALUE: 0.01, NORM_TYPE: 2 },
  };
  const cfg = { SOLVER, TEST: { EVAL_PERIOD: 50000 }, OUTPUT_DIR: "output/dshmp" };
  const s = trainerSettingsFromConfig(cfg);
  assertEquals([s.outputDir, s.checkpointPeriod, s.evalPeriod], ["output/dshmp", 5000, 50000]);
  assertEquals([s.solver.schedule.maxIter, s.solver.imsPerBatch], [55000, 8]);
  assertThrows(
    () => trainerSettingsFromConfig({ ...cfg, SOLVER: { ...SOLVER, CHECKPOINT_PERIOD: 0 } }),
    /SOLVER\.CHECKPOINT_PERIOD expects an integer of at least 1, got 0/,
  );
});

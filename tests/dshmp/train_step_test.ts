/**
 * DsHmp's training step on a tiny config (paper config with small widths, a 768-wide one-layer
 * RoBERTa, a tiny MeViS-layout split): the loss terms are the original's keys, finite, with the
 * `loss_con_sim` ramp; gradients reach every part but the frozen text encoder; the trainer runs two
 * iterations through the adapter and the MeViS batch source, deterministically.
 * @module
 */
import { join } from "node:path";
import { assert, assertEquals } from "../assert.ts";
import * as ops from "../../core/tensor/ops.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import { Generator } from "../../core/random.ts";
import { readMetrics } from "../../core/engine/metrics_log.ts";
import type { DshmpConfig } from "../../plugins/dshmp/config.ts";
import { createDshmpTraining, windowPaddingWarning } from "../../plugins/dshmp/model/train_adapter.ts";
import type { DsHmp } from "../../plugins/dshmp/model/dshmp_model.ts";
import { VitaSetCriterion } from "../../plugins/dshmp/losses/mod.ts";
import { profileTrainStep } from "../../plugins/dshmp/model/train_profile.ts";
import { tinySetup, tinyTrainer } from "./_tiny_dshmp.ts";

/** The original's loss keys for MASK_FORMER.DEC_LAYERS 4 and VITA.DEC_LAYERS 2 (deep supervision, SIM_WEIGHT > 0). */
const EXPECTED_KEYS = [
  ...["", "_0", "_1", "_2"].flatMap((s) => ["loss_ce", "loss_mask", "loss_dice"].map((k) => k + s)),
  ...["", "_0"].flatMap((s) => ["loss_vita_ce", "loss_vita_mask", "loss_vita_dice"].map((k) => k + s)),
  "loss_vita_sim",
  "loss_con_sim",
].sort();

async function withTiny<T>(f: (root: string, setup: Awaited<ReturnType<typeof tinySetup>>) => Promise<T>) {
  await useBackend("wasm");
  const root = await Deno.makeTempDir({ prefix: "dshmp_train_" });
  try {
    return await f(root, await tinySetup(root));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("DsHmp.trainModel: every loss of the original, weighted and finite; gradients reach all but the text encoder", async () => {
  await withTiny(async (_root, { cfg, registries }) => {
    const generator = new Generator(3);
    const training = await createDshmpTraining(cfg, { registries, generator, seed: 11 });
    const model: DsHmp = training.model;
    try {
      const vita = model.vitaCriterion as unknown as VitaSetCriterion;
      assert(vita instanceof VitaSetCriterion);
      // The bank follows the tiny tables (3 expressions), padded to the 100 drawn per anchor, not 23051.
      assertEquals(vita.trainMemoryBank.features.shape, [100, 16]); // VITA.HIDDEN_DIM wide
      assert(vita.trainMemoryBank.tables !== undefined, "tables read from the prepared train split");
      const batch = await training.data(0, new Generator(1));
      assertEquals(batch.length, 1);
      assertEquals(batch[0].image.length, 2);
      assert(
        batch[0].maps !== undefined && batch[0].lang_tokens !== null,
        "the batch carries tokens and maps",
      );

      model.train();
      const trainable = model.trainableParameters();
      const names = new Map(model.namedParameters().map(([n, v]) => [v, n]));
      assert(model.textEncoder !== null);
      const textVars = new Set(model.textEncoder!.parameters());
      assert(textVars.size > 0);
      assert(trainable.every((v) => !textVars.has(v)), "the frozen text encoder is not trained");

      let values: Record<string, number> = {};
      const { value, grads } = ops.valueAndGrads(() => {
        const losses = model.trainModel(batch, 1000);
        values = Object.fromEntries(Object.entries(losses).map(([k, t]) => [k, ops.toArray(t)[0]]));
        return Object.values(losses).reduce((a, b) => ops.add(a, b));
      }, trainable);
      assertEquals(Object.keys(values).sort(), EXPECTED_KEYS);
      for (const [k, v] of Object.entries(values)) assert(Number.isFinite(v), `${k} = ${v}`);
      assert(values.loss_ce > 0 && values.loss_vita_ce > 0 && values.loss_vita_sim > 0);
      assert(values.loss_con_sim !== 0, "the contrastive term is on at iteration 1000");
      const total = ops.toArray(value)[0];
      const sum = Object.values(values).reduce((a, b) => a + b, 0);
      assert(Math.abs(total - sum) <= 1e-4 * Math.abs(sum), `total ${total} vs ${sum}`);

      // Gradients: non-zero for parameters of every trained part.
      const nonZero = new Set<string>();
      for (const v of trainable) {
        const g = grads[v.name];
        if (g && ops.toArray(g).some((x) => x !== 0 && Number.isFinite(x))) nonZero.add(names.get(v)!);
      }
      for (
        const prefix of [
          "backbone.patch_embed.",
          "backbone.layers.0.fusion.",
          "sem_seg_head.pixel_decoder.",
          "sem_seg_head.predictor.",
          "vita_module.",
          "resizer.",
        ]
      ) {
        assert([...nonZero].some((n) => n.startsWith(prefix)), `a gradient reaches ${prefix}`);
      }
      assert(
        nonZero.size > trainable.length / 2,
        `${nonZero.size} of ${trainable.length} parameters have gradients`,
      );
      ops.dispose([value, ...Object.values(grads)]);

      // Iteration 0: the contrastive weight is 0, the other terms are unchanged by the ramp.
      ops.tidy(() => {
        const at0 = model.trainModel(batch, 0);
        assertEquals(ops.toArray(at0.loss_con_sim)[0], 0);
        assertEquals(Object.keys(at0).sort(), EXPECTED_KEYS);
        return ops.scalar(0);
      });
    } finally {
      model.dispose();
    }
  });
});

Deno.test("DsHmp training: the trainer runs two iterations through the adapter, the same twice", async () => {
  await withTiny(async (root, setup) => {
    const run = async (out: string) => {
      const c = setup.cfg as unknown as DshmpConfig;
      const start = performance.now();
      const { training, trainer } = await tinyTrainer(setup, out);
      try {
        await trainer.resumeOrLoad();
        const result = await trainer.train();
        assertEquals(result.iteration, c.SOLVER.MAX_ITER - 1);
        const seconds = (performance.now() - start) / 1000;
        const rows = await readMetrics(join(out, "metrics.jsonl"));
        return { rows, seconds };
      } finally {
        trainer.dispose();
        training.model.dispose();
      }
    };
    const a = await run(join(root, "a"));
    const times = a.rows.map((r) => (r as unknown as Record<string, number>).time.toFixed(2));
    console.log(
      `tiny DsHmp on wasm: iterations ${times.join(", ")} s; ${a.seconds.toFixed(1)} s with the setup`,
    );
    assertEquals(a.rows.length, 2);
    for (const row of a.rows) {
      const r = row as unknown as Record<string, number>;
      assert(Number.isFinite(r.total_loss), JSON.stringify(row));
      assert("loss_vita_sim" in r && "loss_con_sim" in r, JSON.stringify(row));
    }
    const b = await run(join(root, "b"));
    assertEquals(
      b.rows.map((r) => (r as unknown as Record<string, number>).total_loss),
      a.rows.map((r) => (r as unknown as Record<string, number>).total_loss),
    );
  });
});

Deno.test("profileTrainStep: every part's forward is timed and counted, and the model is left as it was", async () => {
  await withTiny(async (_root, { cfg, registries }) => {
    const training = await createDshmpTraining(cfg, { registries, generator: new Generator(3), seed: 11 });
    const model = training.model;
    try {
      const forwards = [model.backbone.forward, model.semSegHead.pixelDecoder.forwardFeatures];
      const before = ops.numTensors();
      const p = await profileTrainStep(training, { steps: 1, warmup: 1 });
      assertEquals(ops.numTensors(), before, "the profile leaked tensors");
      assertEquals(p.parts.map((c) => c.name), [
        "text encoder",
        "backbone",
        "pixel decoder",
        "frame decoder",
        "frame criterion",
        "clip decoder",
        "clip criterion",
      ]);
      for (const c of p.parts) {
        assert(c.kernels > 0 && c.ms > 0, `${c.name}: ${c.kernels} kernels ${c.ms} ms`);
      }
      assert(p.backward.kernels > 0, "the backward pass runs kernels");
      assertEquals(p.step.kernels, p.forward.kernels + p.backward.kernels);
      const partsSum = p.parts.reduce((a, c) => a + c.kernels, 0);
      assert(partsSum <= p.forward.kernels, `parts ${partsSum} within the forward's ${p.forward.kernels}`);
      assertEquals([model.backbone.forward, model.semSegHead.pixelDecoder.forwardFeatures], forwards);
      assert(!Object.hasOwn(model.backbone, "forward"), "the wrapper is removed");
    } finally {
      model.dispose();
    }
  });
});

Deno.test("windowPaddingWarning: clips that do not fill the clip decoder's windows are named", () => {
  const cfg = (frames: number, window: number) => ({
    INPUT: { SAMPLING_FRAME_NUM: frames },
    MODEL: { VITA: { ENC_WINDOW_SIZE: window } },
  });
  assertEquals(windowPaddingWarning(cfg(8, 8)), null); // the paper config
  assertEquals(windowPaddingWarning(cfg(8, 4)), null);
  assertEquals(windowPaddingWarning(cfg(4, 0)), null); // no windows
  const w = windowPaddingWarning(cfg(4, 8));
  assert(w !== null && w.includes("SAMPLING_FRAME_NUM 4") && w.includes("ENC_WINDOW_SIZE 8"), String(w));
  assert(w.includes("4 of 8 frames are padding"), w);
  assert(windowPaddingWarning(cfg(6, 4))!.includes("2 of 8 frames are padding"));
});

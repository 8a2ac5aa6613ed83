/**
 * The weight dicts of the paper configuration (keys and values as the original's `from_config`), the
 * `loss_con_sim` ramp, and how weighted losses are assembled (frame losses without a weight dropped,
 * clip losses without a weight kept).
 * @module
 */
import { assertClose, assertEquals } from "../assert.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";
import { loadConfig } from "../../core/config/load.ts";
import { builtinPlugins } from "../../mod.ts";
import { setCriterionFromConfig } from "../../plugins/mask2former/losses/mod.ts";
import {
  conSimWeight,
  vitaSetCriterionFromConfig,
  weightDsHmpLosses,
} from "../../plugins/dshmp/losses/mod.ts";

Deno.test("weight dicts of the paper config: keys, deep-supervision copies, values", async () => {
  await useBackend("cpu");
  const { cfg } = await loadConfig({
    file: new URL("../../configs/dshmp_swin_tiny.yaml", import.meta.url).pathname,
    plugins: Object.keys(builtinPlugins),
    builtins: builtinPlugins,
  });
  // deno-lint-ignore no-explicit-any
  const c = cfg as any;
  const frame = setCriterionFromConfig(c);
  const expectedFrame: Record<string, number> = { loss_ce: 2, loss_mask: 5, loss_dice: 5 };
  for (let i = 0; i < 9; i++) {
    Object.assign(expectedFrame, { [`loss_ce_${i}`]: 2, [`loss_mask_${i}`]: 5, [`loss_dice_${i}`]: 5 });
  }
  assertEquals(frame.weightDict, expectedFrame, "DEC_LAYERS 10: nine _i copies");
  assertEquals(Object.keys(frame.weightDict), Object.keys(expectedFrame), "key order");
  assertEquals(
    [frame.numPoints, frame.oversampleRatio, frame.importanceSampleRatio, frame.vitaLastLayerNum],
    [12544, 3, 0.75, 3],
  );
  assertEquals(Array.from(ops.toArray(frame.emptyWeight)), [1, Math.fround(0.1)]);
  const vita = vitaSetCriterionFromConfig(c, { memoryBank: { numSamples: 8 } });
  const base = { loss_vita_ce: 2, loss_vita_mask: 5, loss_vita_dice: 5, loss_vita_sim: 1, loss_con_sim: 0.3 };
  const expectedVita: Record<string, number> = { ...base };
  for (let i = 0; i < 2; i++) {
    for (const [k, v] of Object.entries(base)) expectedVita[`${k}_${i}`] = v;
  }
  assertEquals(vita.weightDict, expectedVita, "VITA.DEC_LAYERS 3: two _i copies");
  assertEquals(vita.losses, ["vita_labels", "vita_masks", "fg_sim", "contrastive_sim"]);
  assertEquals(vita.simUseClip, true);
  frame.dispose();
  vita.dispose();
});

Deno.test("loss_con_sim ramps from 0 to 0.3 over the first 2000 iterations", () => {
  assertEquals(conSimWeight(0), 0);
  assertEquals(conSimWeight(1), 0.3 / 2000);
  assertEquals(conSimWeight(1000), 0.15);
  assertEquals(conSimWeight(1999), (0.3 * 1999) / 2000);
  assertEquals(conSimWeight(2000), 0.3);
  assertEquals(conSimWeight(55000), 0.3);
});

Deno.test("weightDsHmpLosses: frame losses without weight dropped, clip ones kept, ramp applied", async () => {
  await useBackend("cpu");
  const s = (v: number) => ops.scalar(v);
  const out = weightDsHmpLosses({
    frameLosses: { loss_ce: s(1), loss_mask: s(2), loss_extra: s(3) },
    frameWeightDict: { loss_ce: 2, loss_mask: 5 },
    vitaLosses: { loss_vita_ce: s(1), loss_con_sim: s(2), loss_vita_other: s(4) },
    vitaWeightDict: { loss_vita_ce: 2, loss_con_sim: 0.3, loss_con_sim_0: 0.3 },
    iteration: 500,
  });
  assertEquals(Object.keys(out), ["loss_ce", "loss_mask", "loss_vita_ce", "loss_con_sim", "loss_vita_other"]);
  const values = Object.values(out).map((t) => ops.toArray(t)[0]);
  assertClose(values, [2, 10, 2, 2 * 0.075, 4], { atol: 0, rtol: 1e-6, label: "weighted" });
});

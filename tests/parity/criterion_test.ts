/**
 * Parity of the losses with the original on the `criterion` case: {@link SetCriterion} with
 * {@link HungarianMatcher} on the frame outputs, then {@link VitaSetCriterion} with
 * {@link VitaHungarianMatcher} (fg_sim from the frame matches, contrastive loss against a 20 x 16
 * memory bank), chained as in the original's `train_model`, on every backend under test.
 *
 * Every `torch.rand` draw is injected in call order (`input.rand.NNN`) and the memory bank's
 * `np.random.choice` result (`input.contrastive.random_negative_idx`) replaces its sampler; all draws
 * must be consumed. Tolerances (the case's suggestion): indices exact; point coordinates atol 1e-6
 * (they are copies of the injected draws, picked by the uncertainty top-k); raw losses rtol 1e-4
 * (float32 reductions in another order than PyTorch's); matcher costs and the updated memory bank
 * atol 1e-5 (float32 values of order 1-10, compared as intermediates).
 * @module
 */
import { backendsUnderTest, casesFor, loadCase, type ParityCase } from "./harness.ts";
import { assert, assertClose, assertEquals } from "../assert.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";
import {
  HungarianMatcher,
  type MatchIndices,
  ReplayedUniforms,
  SetCriterion,
} from "../../plugins/mask2former/losses/mod.ts";
import {
  type ClipTarget,
  type FrameTarget,
  VitaHungarianMatcher,
  VitaSetCriterion,
} from "../../plugins/dshmp/losses/mod.ts";

const cases = casesFor("criterion");

Deno.test("criterion parity: the fixtures hold at least one case", () => {
  assert(cases.length > 0, "no criterion case in the parity folder");
});

const floats = (c: ParityCase, n: string) => {
  const t = c.input(n);
  return ops.tensor(t.data as Float32Array, t.shape);
};
const ints = (data: unknown) => Array.from(data as BigInt64Array, Number);
const pad2 = (i: number) => String(i).padStart(2, "0");

function checkIndices(c: ParityCase, got: MatchIndices[], prefix: string, label: string) {
  got.forEach((m, k) => {
    assertEquals(m.src, ints(c.output(`${prefix}${k}.src`).data), `${label} ${prefix}${k}.src`);
    assertEquals(m.tgt, ints(c.output(`${prefix}${k}.tgt`).data), `${label} ${prefix}${k}.tgt`);
  });
}

for (const name of cases) {
  for (const backend of backendsUnderTest()) {
    Deno.test(`criterion parity: ${name} on ${backend}`, async () => {
      await useBackend(backend);
      const c = loadCase(name);
      const args = c.spec.constructor_args;
      const sizes = c.spec.sizes;
      const before = ops.numTensors();

      const draws = Object.keys(c.spec.inputs).filter((k) => k.startsWith("rand.")).sort().map((k) => {
        const t = c.input(k);
        return { shape: t.shape, data: t.data as Float32Array };
      });
      const uniforms = new ReplayedUniforms(draws);
      const costs: Float32Array[] = [];
      const coords: ops.Tensor[] = [];
      const keepCoords = (t: ops.Tensor) => coords.push(ops.keep(ops.tensor(ops.toArray(t), t.shape)));

      // Frame level.
      const fm = args.HungarianMatcher;
      const matcher = new HungarianMatcher({
        costClass: fm.cost_class,
        costMask: fm.cost_mask,
        costDice: fm.cost_dice,
        numPoints: fm.num_points,
      });
      matcher.onCost = (m) => costs.push(m.data);
      const sc = args.SetCriterion;
      const criterion = new SetCriterion({
        numClasses: sc.num_classes,
        matcher,
        weightDict: sc.weight_dict,
        eosCoef: sc.eos_coef,
        losses: sc.losses,
        numPoints: sc.num_points,
        oversampleRatio: sc.oversample_ratio,
        importanceSampleRatio: sc.importance_sample_ratio,
        vitaLastLayerNum: sc.vita_last_layer_num,
      });
      criterion.onPointCoords = keepCoords;
      const frameOutputs = {
        predLogits: floats(c, "frame.pred_logits"),
        predMasks: floats(c, "frame.pred_masks"),
        auxOutputs: Array.from({ length: sizes.frame_aux }, (_, i) => ({
          predLogits: floats(c, `frame.aux_outputs.${i}.pred_logits`),
          predMasks: floats(c, `frame.aux_outputs.${i}.pred_masks`),
        })),
      };
      const frameTargets: FrameTarget[] = Array.from({ length: sizes.B * sizes.T }, (_, t) => ({
        labels: ints(c.input(`frame_targets.${t}.labels`).data),
        ids: ints(c.input(`frame_targets.${t}.ids`).data),
        masks: floats(c, `frame_targets.${t}.masks`),
      }));
      const frame = criterion.forward(frameOutputs, frameTargets, uniforms);

      // Clip level.
      const vm = args.VitaHungarianMatcher;
      const vitaMatcher = new VitaHungarianMatcher({
        costClass: vm.cost_class,
        costMask: vm.cost_mask,
        costDice: vm.cost_dice,
        numPoints: vm.num_points,
      });
      vitaMatcher.onCost = (m) => costs.push(m.data);
      const vc = args.VitaSetCriterion;
      const mc = args["MemoryConstruct(replaced init)"];
      const randomNegatives = ints(c.input("contrastive.random_negative_idx").data);
      const sampled: number[][] = [];
      const vita = new VitaSetCriterion({
        numClasses: vc.num_classes,
        matcher: vitaMatcher,
        weightDict: vc.weight_dict,
        eosCoef: vc.eos_coef,
        losses: vc.losses,
        numPoints: vc.num_points,
        oversampleRatio: vc.oversample_ratio,
        importanceSampleRatio: vc.importance_sample_ratio,
        simUseClip: vc.sim_use_clip,
        memoryBank: {
          numSamples: mc.num_samples,
          numFeatures: mc.num_features,
          numContrastiveBatch: mc.num_contrastive_batch,
          tables: { idx2positive: mc.idx2positive, idx2negative: mc.idx2negative },
          // The original's np.random.choice result, checked against what the sampler was offered.
          negativeSampler: (candidates, size) => {
            sampled.push([candidates.length, size]);
            assert(randomNegatives.every((i) => candidates.includes(i)), "recorded negatives not candidates");
            return randomNegatives;
          },
        },
      });
      vita.onPointCoords = keepCoords;
      vita.loadStateDict({
        empty_weight: { dtype: "F32", shape: [2], data: Float32Array.of(1, vc.eos_coef) },
        "train_memory_bank.features": c.input("contrastive.memory_features_before"),
      });
      const vitaOutputs = {
        predLogits: floats(c, "vita.pred_logits"),
        predMasks: floats(c, "vita.pred_masks"),
        predCqEmbed: floats(c, "vita.pred_cq_embed"),
        predFqEmbed: floats(c, "vita.pred_fq_embed"),
        predContrastiveEmbed: floats(c, "vita.pred_contrastive_embed"),
        auxOutputs: Array.from({ length: sizes.vita_aux }, (_, i) => ({
          predLogits: floats(c, `vita.aux_outputs.${i}.pred_logits`),
          predMasks: floats(c, `vita.aux_outputs.${i}.pred_masks`),
        })),
      };
      const clipIds = c.input("clip_targets.ids");
      const clipTargets: ClipTarget[] = [{
        labels: ints(c.input("clip_targets.labels").data),
        ids: Array.from(
          { length: clipIds.shape[0] },
          (_, i) => ints(clipIds.data).slice(i * clipIds.shape[1], (i + 1) * clipIds.shape[1]),
        ),
        masks: floats(c, "clip_targets.masks"),
        referId: ints(c.input("contrastive.refer_id").data)[0],
      }];
      const clip = vita.forward(vitaOutputs, clipTargets, frameTargets, frame.fgIndices, uniforms);

      assertEquals(uniforms.remaining, 0, "every recorded torch.rand draw is used");
      assertEquals(sampled, [[mc.num_samples - 3, randomNegatives.length]], "one draw, 5 of 17 candidates");

      // Indices.
      const [aux0, aux1, main] = frame.fgIndices;
      checkIndices(c, main, "frame.indices.main.b", backend);
      checkIndices(c, aux0, "frame.indices.aux0.b", backend);
      checkIndices(c, aux1, "frame.indices.aux1.b", backend);
      checkIndices(c, clip.indices, "vita.indices.main.lb", backend);

      // Matcher costs (intermediates) and point coordinates.
      const costKeys = Object.keys(c.spec.outputs).filter((k) => k.startsWith("debug.cost."));
      assertEquals(costs.length, costKeys.length, "cost matrices");
      costs.forEach((m, i) =>
        assertClose(m, c.output(`debug.cost.${pad2(i)}`).data as Float32Array, {
          atol: 1e-5,
          rtol: 0,
          label: `cost ${i}`,
        })
      );
      const coordKeys = Object.keys(c.spec.outputs).filter((k) => k.startsWith("point_coords."));
      assertEquals(coords.length, coordKeys.length, "point coordinate sets");
      coords.forEach((t, i) => {
        const e = c.output(`point_coords.${pad2(i)}`);
        assertEquals(t.shape, e.shape, `point_coords ${i} shape`);
        assertClose(ops.toArray(t), e.data as Float32Array, {
          atol: 1e-6,
          rtol: 0,
          label: `point_coords ${i}`,
        });
      });

      // Raw losses.
      const losses = { ...prefixed("frame", frame.losses), ...prefixed("vita", clip.losses) };
      const expected = Object.keys(c.spec.outputs).filter((k) => /^(frame|vita)\.losses\./.test(k));
      assertEquals(Object.keys(losses).sort(), expected.sort(), "loss keys");
      for (const k of expected) {
        assertClose(ops.toArray(losses[k]), c.output(k).data as Float32Array, {
          atol: 0,
          rtol: 1e-4,
          label: k,
        });
      }

      // The memory bank after its update.
      assertClose(
        ops.toArray(vita.trainMemoryBank.features),
        c.output("contrastive.memory_features_after").data as Float32Array,
        { atol: 1e-5, rtol: 0, label: "memory bank" },
      );

      ops.dispose([
        Object.values(losses),
        coords,
        frameOutputs.predLogits,
        frameOutputs.predMasks,
        frameOutputs.auxOutputs.flatMap((a) => [a.predLogits, a.predMasks]),
        frameTargets.map((t) => t.masks),
        [vitaOutputs.predLogits, vitaOutputs.predMasks, vitaOutputs.predCqEmbed, vitaOutputs.predFqEmbed],
        vitaOutputs.predContrastiveEmbed,
        vitaOutputs.auxOutputs.flatMap((a) => [a.predLogits, a.predMasks]),
        clipTargets[0].masks,
      ]);
      criterion.dispose();
      vita.dispose();
      assertEquals(ops.numTensors(), before, "the criteria leaked tensors");
    });
  }
}

function prefixed(prefix: string, losses: Record<string, ops.Tensor>): Record<string, ops.Tensor> {
  return Object.fromEntries(Object.entries(losses).map(([k, v]) => [`${prefix}.losses.${k}`, v]));
}

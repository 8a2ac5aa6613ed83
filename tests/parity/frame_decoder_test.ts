/**
 * Parity of {@link DshmpMultiScaleMaskedTransformerDecoder} with the original
 * `dshmp_transformer_decoder.py` on the stored cases, on every backend under test. The decoder is built
 * from the case's `constructor_args` (`num_frames` is unused by the original's forward and not an
 * option here), loaded strictly from the case's state dict, run in eval mode with the case's call, and
 * every output is compared: the last prediction, each deep-supervision prediction, the frame queries.
 *
 * Tolerance: the index's `suggested_tolerance` (atol 1e-3, rtol 1e-3 for `frame_decoder`): float32
 * with other summation orders through nine attention blocks, and masks thresholded between layers
 * (the json's `attn_mask_logit_min_abs`, ~1e-3, is the margin a flip would need). The attention masks
 * themselves are checked exactly: rebuilt from the reference's own earlier predictions they must equal
 * the case's `debug.attn_mask.layer*` bit for bit. The sine positions (`debug.pos.*`) use atol 1e-5
 * (an ulp of a sine argument up to 2π).
 * @module
 */
import { backendsUnderTest, casesFor, loadCase, type ParityCase, suggestedTolerance } from "./harness.ts";
import { assert, assertClose } from "../assert.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";
import type { NamedTensor } from "../../core/io/safetensors.ts";
import {
  blockedPixels,
  DshmpMultiScaleMaskedTransformerDecoder,
  type FramePrediction,
} from "../../plugins/dshmp/modeling/frame_decoder/mod.ts";

const cases = casesFor("frame_decoder");

function floatTensor(t: NamedTensor): ops.Tensor {
  return ops.tensor(Float32Array.from(t.data as ArrayLike<number>, Number), t.shape);
}

function intTensor(t: NamedTensor): ops.Tensor {
  return ops.tensor(Int32Array.from(t.data as ArrayLike<number | bigint>, Number), t.shape, "int32");
}

function build(c: ParityCase): DshmpMultiScaleMaskedTransformerDecoder {
  const a = c.spec.constructor_args;
  return new DshmpMultiScaleMaskedTransformerDecoder({
    inChannels: a.in_channels,
    maskClassification: a.mask_classification,
    numClasses: a.num_classes,
    hiddenDim: a.hidden_dim,
    numQueries: a.num_queries,
    nheads: a.nheads,
    dimFeedforward: a.dim_feedforward,
    decLayers: a.dec_layers,
    preNorm: a.pre_norm,
    maskDim: a.mask_dim,
    enforceInputProject: a.enforce_input_project,
    vitaLastLayerNum: a.vita_last_layer_num,
  });
}

function expectClose(
  actual: ops.Tensor,
  expected: NamedTensor,
  tol: { atol: number; rtol: number },
  label: string,
) {
  assert.deepStrictEqual(actual.shape, expected.shape, `${label} shape`);
  assertClose(ops.toArray(actual), expected.data as Float32Array, { ...tol, label });
}

Deno.test("frame_decoder parity: the fixtures hold at least one case", () => {
  assert(cases.length > 0, "no frame_decoder case in the parity folder");
});

for (const name of cases) {
  for (const backend of backendsUnderTest()) {
    Deno.test(`frame_decoder parity: ${name} on ${backend}`, async () => {
      await useBackend(backend);
      const c = loadCase(name);
      const tol = suggestedTolerance(name);
      const decoder = build(c);
      decoder.loadStateDict(c.stateDict(), { strict: true });
      decoder.eval();
      const x = [0, 1, 2].map((i) => floatTensor(c.input(`x.${i}`)));
      const maskFeatures = floatTensor(c.input("mask_features"));
      const clipMaskFeatures = floatTensor(c.input("clip_mask_features"));
      const langFeat = floatTensor(c.input("lang_feat"));
      const langMask = intTensor(c.input("lang_mask"));
      const staticFeat = floatTensor(c.input("static_feat"));
      const before = ops.numTensors();

      const { outputs, frameQueries, clipMaskFeatures: passed } = decoder.forward(
        x,
        maskFeatures,
        clipMaskFeatures,
        langFeat,
        langMask,
        staticFeat,
      );
      expectClose(outputs.predLogits, c.output("pred_logits"), tol, "pred_logits");
      expectClose(outputs.predMasks, c.output("pred_masks"), tol, "pred_masks");
      const numAux = Object.keys(c.spec.outputs).filter((k) =>
        /^aux_outputs\.\d+\.pred_logits$/.test(k)
      ).length;
      assert.strictEqual(outputs.auxOutputs.length, numAux, "number of aux outputs");
      outputs.auxOutputs.forEach((aux: FramePrediction, k: number) => {
        expectClose(
          aux.predLogits,
          c.output(`aux_outputs.${k}.pred_logits`),
          tol,
          `aux_outputs.${k}.pred_logits`,
        );
        expectClose(
          aux.predMasks,
          c.output(`aux_outputs.${k}.pred_masks`),
          tol,
          `aux_outputs.${k}.pred_masks`,
        );
      });
      expectClose(frameQueries, c.output("frame_queries"), tol, "frame_queries");
      assert.strictEqual(passed, clipMaskFeatures, "clip mask features are passed through");

      const produced = [outputs.predLogits, outputs.predMasks, frameQueries];
      for (const aux of outputs.auxOutputs) produced.push(aux.predLogits, aux.predMasks);
      ops.dispose(produced);
      assert.strictEqual(ops.numTensors(), before, "forward leaked tensors");

      // Layer i's mask comes from prediction i, resized to the size of level i mod 3.
      for (let i = 0; c.has(`output.debug.attn_mask.layer${i}`); i++) {
        const ref = c.output(`debug.attn_mask.layer${i}`);
        const [, , h, w] = x[i % 3].shape;
        const prediction = floatTensor(c.output(`aux_outputs.${i}.pred_masks`));
        const blocked = blockedPixels(prediction, [h, w]);
        assert.deepStrictEqual(blocked.shape, ref.shape, `attn_mask.layer${i} shape`);
        const got = Array.from(ops.toArray(blocked), (v) => (v ? 1 : 0));
        assert.deepStrictEqual(
          got,
          Array.from(ref.data as Uint8Array, (v) => (v ? 1 : 0)),
          `attn_mask.layer${i}`,
        );
        ops.dispose([prediction, blocked]);
      }
      for (let i = 0; c.has(`output.debug.pos.${i}`); i++) {
        const pos = decoder.peLayer.forward(x[i]);
        expectClose(pos, c.output(`debug.pos.${i}`), { atol: 1e-5, rtol: 0 }, `pos.${i}`);
        ops.dispose(pos);
      }
      ops.dispose([...x, maskFeatures, clipMaskFeatures, langFeat, langMask, staticFeat]);
      decoder.dispose();
    });
  }
}

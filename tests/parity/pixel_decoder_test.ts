/**
 * Parity of {@link MSDeformAttnPixelDecoder} with the original `pixel_decoder/msdeformattn.py` (its
 * MSDeformAttn on the pure `grid_sample` path) on the stored cases, on every backend under test: the
 * decoder is built from the case's `constructor_args`, loaded strictly from the case's state dict
 * (unprefixed keys, relative to `sem_seg_head.pixel_decoder.`), run in eval mode through
 * `forwardFeatures` on `input.res2`..`input.res5`, and every output compared; so are the first encoder
 * layer's `output.debug.layer0.*` intermediates (value, sampling locations, attention weights) when the
 * case has them.
 *
 * Tolerance: the case's `suggested_tolerance` from `parity_index.json` (atol 1e-3 rtol 1e-3 for this
 * case: float32 through convs, GroupNorm, two deformable encoder layers and bilinear sampling with a
 * different summation order). Measured: max abs error ~4e-6 on `wasm` and `cpu`.
 * @module
 */
import { backendsUnderTest, casesFor, loadCase, type ParityCase, suggestedTolerance } from "./harness.ts";
import { assert, assertClose } from "../assert.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";
import type { NamedTensor } from "../../core/io/safetensors.ts";
import {
  MSDeformAttnPixelDecoder,
  MSDeformAttnTransformerEncoder,
} from "../../plugins/mask2former/modeling/pixel_decoder/mod.ts";

const cases = casesFor("pixel_decoder");

function floatTensor(t: NamedTensor): ops.Tensor {
  const data = t.data instanceof Float32Array
    ? t.data
    : Float32Array.from(t.data as ArrayLike<number>, Number);
  return ops.tensor(data, t.shape);
}

function build(c: ParityCase): MSDeformAttnPixelDecoder {
  const a = c.spec.constructor_args;
  return new MSDeformAttnPixelDecoder({
    inputShape: a.input_shape,
    transformerDropout: a.transformer_dropout,
    transformerNheads: a.transformer_nheads,
    transformerDimFeedforward: a.transformer_dim_feedforward,
    transformerEncLayers: a.transformer_enc_layers,
    convDim: a.conv_dim,
    maskDim: a.mask_dim,
    norm: a.norm,
    transformerInFeatures: a.transformer_in_features,
    commonStride: a.common_stride,
  });
}

Deno.test("pixel_decoder parity: the fixtures hold at least one case", () => {
  assert(cases.length > 0, "no pixel_decoder case in the parity folder");
});

for (const name of cases) {
  for (const backend of backendsUnderTest()) {
    Deno.test(`pixel_decoder parity: ${name} on ${backend}`, async () => {
      await useBackend(backend);
      const c = loadCase(name);
      const tol = suggestedTolerance(name);
      const decoder = build(c);
      const sd = c.stateDict();
      assert([...sd.keys()].every((k) => !k.startsWith("sem_seg_head.")), "expected unprefixed keys");
      decoder.loadStateDict(sd, { strict: true });
      decoder.eval();
      const features: Record<string, ops.Tensor> = {};
      for (const f of Object.keys(c.spec.inputs)) features[f] = floatTensor(c.input(f));
      const check = (label: string, t: ops.Tensor) => {
        const expected = c.output(label);
        assert.deepStrictEqual(t.shape, expected.shape, `${label} shape`);
        assertClose(ops.toArray(t), expected.data as Float32Array, { ...tol, label: `${name} ${label}` });
      };

      const before = ops.numTensors();
      const [maskFeatures, clipMaskFeatures, encoderFeatures, multiScale] = decoder.forwardFeatures(features);
      check("mask_features", maskFeatures);
      check("clip_mask_features", clipMaskFeatures);
      check("transformer_encoder_features", encoderFeatures);
      assert.strictEqual(multiScale.length, 3);
      multiScale.forEach((t, i) => check(`multi_scale_features.${i}`, t));
      ops.dispose([maskFeatures, clipMaskFeatures, encoderFeatures, ...multiScale]);
      assert.strictEqual(ops.numTensors(), before, "forwardFeatures leaked tensors");

      if (c.has("output.debug.layer0.value")) {
        // The first layer's inputs: projected levels (res5 first) + positions with level embeddings.
        const { srcs, pos } = decoder.encoderInputs(features);
        const flat = decoder.transformer.flattenLevels(srcs, pos);
        const ref = MSDeformAttnTransformerEncoder.getReferencePoints(flat.spatialShapes, srcs[0].shape[0]);
        const query = ops.add(flat.srcFlatten, flat.lvlPosEmbedFlatten);
        const attn = decoder.transformer.encoder.layers.at(0).selfAttn;
        const s = attn.samplingInputs(query, ref, flat.srcFlatten, flat.spatialShapes);
        check("debug.layer0.value", s.value);
        check("debug.layer0.sampling_locations", s.samplingLocations);
        check("debug.layer0.attention_weights", s.attentionWeights);
        ops.dispose([...srcs, ...pos, flat.srcFlatten, flat.lvlPosEmbedFlatten, ref, query]);
        ops.dispose([s.value, s.samplingLocations, s.attentionWeights]);
      }
      ops.dispose(Object.values(features));
      decoder.dispose();
    });
  }
}

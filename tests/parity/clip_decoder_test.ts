/**
 * Parity of the clip decoder {@link DsHmpHierarchical} with the original `dshmp_decoder.py` on every
 * `clip_decoder*` case (`clip_decoder`, with a padded frame whose exact cost ties scipy breaks, and
 * `clip_decoder_nopad`), on every backend under test, in eval mode. The module is built from the
 * case's `constructor_args` and loaded strictly.
 *
 * Tolerance: the index's `suggested_tolerance`, atol 1e-3 rtol 1e-3 (float32 through three encoder and
 * two decoder layers with other summation orders; outputs are LayerNorm-scaled, so 1e-3 is still ~1e-4
 * relative). The window masks are compared exactly, and the encoder's per-layer outputs at the same
 * tolerance, so that a mismatch is located; a wrong tie-break moves the logits by ~0.05 and fails.
 *
 * Also: the paper configuration builds exactly the original's `vita_module.*` names and shapes.
 * @module
 */
import { join } from "node:path";
import {
  backendsUnderTest,
  casesFor,
  loadCase,
  type ParityCase,
  parityDir,
  suggestedTolerance,
} from "./harness.ts";
import { assert, assertClose } from "../assert.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";
import type { NamedTensor } from "../../core/io/safetensors.ts";
import {
  type ClipDecoderTrace,
  DsHmpHierarchical,
  dsHmpHierarchicalFromConfig,
  shiftWindowMask,
  windowKeyPaddingMask,
} from "../../plugins/dshmp/modeling/clip_decoder/clip_decoder.ts";

const cases = casesFor("clip_decoder");

const f32 = (t: NamedTensor) => ops.tensor(t.data as Float32Array, t.shape);

function build(c: ParityCase): DsHmpHierarchical {
  const a = c.spec.constructor_args;
  return new DsHmpHierarchical({
    inChannels: a.in_channels,
    auxLoss: a.aux_loss,
    hiddenDim: a.hidden_dim,
    numFrameQueries: a.num_frame_queries,
    numQueries: a.num_queries,
    nheads: a.nheads,
    dimFeedforward: a.dim_feedforward,
    encLayers: a.enc_layers,
    decLayers: a.dec_layers,
    encWindowSize: a.enc_window_size,
    preNorm: a.pre_norm,
    enforceInputProject: a.enforce_input_project,
    numFrames: a.num_frames,
    numClasses: a.num_classes,
    convDim: a.conv_dim,
    maskDim: a.mask_dim,
    simUseClip: a.sim_use_clip,
    useSim: a.use_sim,
  });
}

Deno.test("clip_decoder parity: the fixtures hold the padded and the unpadded case", () => {
  assert(cases.includes("clip_decoder") && cases.includes("clip_decoder_nopad"), `cases: ${cases}`);
});

for (const name of cases) {
  for (const backend of backendsUnderTest()) {
    Deno.test(`clip_decoder parity: ${name} on ${backend}`, async () => {
      await useBackend(backend);
      const c = loadCase(name);
      const tol = suggestedTolerance(name);
      const decoder = build(c);
      decoder.loadStateDict(c.stateDict(), { strict: true });
      decoder.eval();

      // The masks, from the padded frame layout of the case.
      const { T, window: W, pad, Nw } = c.spec.derived;
      const fQ = c.spec.constructor_args.num_frame_queries;
      const padMask = new Uint8Array(T + pad).fill(1, T);
      const geometry = { lb: 1, frames: T + pad, window: W, fQ };
      assert.deepStrictEqual(
        Array.from(windowKeyPaddingMask(padMask, geometry)),
        Array.from(c.output("debug.window_key_padding_mask").data, Number),
        "window key padding mask",
      );
      const shift = shiftWindowMask(padMask, geometry, c.spec.constructor_args.nheads);
      assert.strictEqual(shift.length, Nw * c.spec.constructor_args.nheads * (W * fQ) ** 2);
      assertClose(shift, c.output("debug.shift_window_mask").data as Float32Array, {
        atol: 0,
        rtol: 0,
        label: "shift window mask",
      });

      const inputs = ["frame_query", "lang_feat", "motion_feat", "mask_features_in"].map((n) =>
        f32(c.input(n))
      );
      const [frameQuery, langFeat, motionFeat, maskFeaturesIn] = inputs;
      const langMask = ops.tensor(Int32Array.from(c.input("lang_mask").data as BigInt64Array, Number), [
        ...c.input("lang_mask").shape,
      ], "int32");
      const before = ops.numTensors();
      const trace: ClipDecoderTrace = {};
      const out = decoder.forward(frameQuery, langFeat, langMask, motionFeat, trace);
      const vmf = decoder.vitaMaskFeatures.forward(maskFeaturesIn);

      trace.encLayers!.forEach((layer, i) => {
        assertClose(layer.data, c.output(`debug.enc_layer${i}`).data as Float32Array, {
          ...tol,
          label: `${name} encoder layer ${i}`,
        });
      });
      assert.strictEqual(trace.encLayers!.length, c.spec.constructor_args.enc_layers);
      const check = (t: ops.Tensor | null, key: string) => {
        assert(t, `${key} is missing`);
        assert.deepStrictEqual(t.shape, c.output(key).shape, `${key} shape`);
        assertClose(ops.toArray(t), c.output(key).data as Float32Array, { ...tol, label: `${name} ${key}` });
      };
      check(out.predLogits, "pred_logits");
      check(out.predMaskEmbed, "pred_mask_embed");
      check(out.langFeatMean, "lang_feat_mean");
      check(out.predFqEmbed, "pred_fq_embed");
      check(out.predCqEmbed, "pred_cq_embed");
      check(out.predContrastiveEmbed, "pred_contrastive_embed");
      check(vmf, "vita_mask_features");
      assert.strictEqual(out.auxOutputs.length, 0, "eval computes only the last decoder layer");

      ops.dispose([
        vmf,
        out.predLogits,
        out.predMaskEmbed,
        out.langFeatMean,
        out.predFqEmbed!,
        out.predCqEmbed!,
        out.predContrastiveEmbed,
      ]);
      assert.strictEqual(ops.numTensors(), before, "forward leaked tensors");
      ops.dispose([...inputs, langMask]);
      decoder.dispose();
    });
  }
}

Deno.test("clip_decoder: the paper configuration has the original's vita_module names and shapes", () => {
  const ref = JSON.parse(Deno.readTextFileSync(join(parityDir(), "..", "reference_keys.json")));
  const expected = Object.entries(ref.keys as Record<string, { shape: number[] }>)
    .filter(([k]) => k.startsWith("vita_module."))
    .map(([k, v]) => [k.slice("vita_module.".length), v.shape]);
  const { MODEL, INPUT } = ref.config;
  assert.strictEqual(MODEL.VITA.ENC_WINDOW_SIZE, 8);
  const decoder = dsHmpHierarchicalFromConfig(
    { MODEL: { VITA: MODEL.VITA, MASK_FORMER: MODEL.MASK_FORMER, SEM_SEG_HEAD: MODEL.SEM_SEG_HEAD }, INPUT },
    MODEL.VITA.HIDDEN_DIM,
  );
  const actual = [...decoder.stateDict()].map(([k, v]) => [k, [...v.shape]]);
  assert.deepStrictEqual(actual, expected, "names, shapes and order");
  const numel = actual.reduce((n, [, s]) => n + (s as number[]).reduce((p, d) => p * d, 1), 0);
  assert.strictEqual(numel, 22251778);
  decoder.dispose();
});

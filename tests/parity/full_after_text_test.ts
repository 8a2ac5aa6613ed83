/**
 * Parity of the whole DsHmp inference ({@link DsHmp.inferenceFromEncoded}) with the original
 * `DsHmp.inference` on a small configuration (the case's `config_overrides_vs_paper` over
 * `configs/dshmp_swin_tiny.yaml`), with RoBERTa's output and the motion/static maps given. The model
 * is built by {@link buildDshmp} through the registries and loaded strictly from the case's state dict
 * (which has neither the text encoder nor the criteria buffers, so the model is built without them).
 *
 * Tolerances (the index's): intermediates atol 2e-3 rtol 2e-3 (float32 through the Swin stages, six
 * deformable-attention layers and the decoders, in other summation orders); scores rtol 1e-3; labels
 * exact; masks exact except the pixels flagged in `debug.ambiguous`.
 * @module
 */
import { backendsUnderTest, casesFor, loadCase, type ParityCase } from "./harness.ts";
import { assert, assertClose } from "../assert.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";
import { loadConfig } from "../../core/config/load.ts";
import { createRegistries } from "../../core/registries.ts";
import { Generator } from "../../core/random.ts";
import { builtinPlugins } from "../../mod.ts";
import { d2SwinTransformerFactory } from "../../plugins/mask2former/modeling/backbone/mod.ts";
import { msDeformAttnPixelDecoderFactory } from "../../plugins/mask2former/modeling/pixel_decoder/mod.ts";
import {
  buildDshmp,
  CLIP_DECODER_NAME,
  dshmpFrameDecoderFactory,
  dsHmpHierarchicalFactory,
} from "../../plugins/dshmp/model/build.ts";
import type { InferenceTrace } from "../../plugins/dshmp/model/dshmp_model.ts";
import type { DshmpConfig } from "../../plugins/dshmp/config.ts";

const cases = casesFor("full_after_text");

Deno.test("full_after_text parity: the fixtures hold the case", () => {
  assert(cases.includes("full_after_text"), `cases: ${cases}`);
});

/** `KEY VALUE` overrides from the case's nested `config_overrides_vs_paper`. */
function overrides(c: ParityCase): string[] {
  const out: string[] = [];
  for (const [section, keys] of Object.entries(c.spec.config_overrides_vs_paper as Record<string, object>)) {
    for (const [k, v] of Object.entries(keys)) out.push(`${section}.${k}`, JSON.stringify(v));
  }
  // Only training reads it, but keep the case's value.
  out.push("INPUT.SAMPLING_FRAME_NUM", String(c.spec.config.INPUT.SAMPLING_FRAME_NUM));
  return out;
}

async function buildModel(c: ParityCase, extra: string[] = []) {
  const { cfg } = await loadConfig({
    file: new URL("../../configs/dshmp_swin_tiny.yaml", import.meta.url).pathname,
    overrides: [...overrides(c), ...extra],
    plugins: Object.keys(builtinPlugins),
    builtins: builtinPlugins,
  });
  const registries = createRegistries();
  registries.backbones.register("D2SwinTransformer", d2SwinTransformerFactory);
  registries.decoders.register("MSDeformAttnPixelDecoder", msDeformAttnPixelDecoderFactory);
  registries.decoders.register("DshmpMultiScaleMaskedTransformerDecoder", dshmpFrameDecoderFactory);
  registries.decoders.register(CLIP_DECODER_NAME, dsHmpHierarchicalFactory);
  const model = buildDshmp(cfg as unknown as DshmpConfig, {
    registries,
    generator: new Generator(0),
    textEncoder: null,
  });
  model.loadStateDict(c.stateDict(), { strict: true });
  return model.eval();
}

const f32 = (c: ParityCase, key: string) => {
  const t = c.tensors.get(key)!;
  return ops.tensor(t.data as Float32Array, t.shape);
};
const ints = (c: ParityCase, key: string) => Array.from(c.tensors.get(key)!.data as BigInt64Array, Number);

/** The trace key of each fixture intermediate (`output.intermediate.<name>`). */
const INTERMEDIATES = [
  "backbone.res2",
  "backbone.res3",
  "backbone.res4",
  "backbone.res5",
  "lang_feat_fusion",
  "lang_feat",
  "frame.pred_logits",
  "frame.pred_masks",
  "frame_queries",
  "clip_mask_features",
  "vita_mask_features",
  "vita.pred_logits",
  "vita.pred_mask_embed",
  "vita.pred_fq_embed",
  "vita.pred_cq_embed",
  "vita.pred_contrastive_embed",
];

/** Chunk sizes of the runs: the case's (one chunk of 6 frames), and smaller ones that split it. */
const CHUNKINGS = [[], [
  "MODEL.VITA.TEST_RUN_CHUNK_SIZE",
  "4",
  "MODEL.VITA.TEST_INTERPOLATE_CHUNK_SIZE",
  "4",
]];

for (const name of cases) {
  for (const backend of backendsUnderTest()) {
    for (const chunking of CHUNKINGS) {
      const label = chunking.length ? ` in chunks of ${chunking[1]}/${chunking[3]} frames` : "";
      Deno.test(`full_after_text parity: ${name} on ${backend}${label}`, async () => {
        await useBackend(backend);
        const c = loadCase(name);
        const model = await buildModel(c, chunking);
        const before = ops.numTensors();

        const images = f32(c, "input.images");
        const frames = ops.unstack(images, 0);
        const lastHiddenState = f32(c, "input.last_hidden_state");
        const poolerOutput = f32(c, "input.pooler_output");
        const langMask = ops.tensor(Int32Array.from(ints(c, "input.lang_mask")), [
          ...c.input("lang_mask").shape,
        ], "int32");
        const maps = {
          motion: c.input("motion_map").data as Float32Array,
          static: c.input("static_map").data as Float32Array,
        };
        const [height, width] = ints(c, "input.out_size");
        const trace: InferenceTrace = new Map();
        const out = model.inferenceFromEncoded(
          { image: frames, height, width, dataset_name: "mevis" },
          { encoded: { lastHiddenState, poolerOutput }, langMask, maps },
          trace,
        );

        for (const key of INTERMEDIATES) {
          const got = trace.get(key);
          const want = c.output(`intermediate.${key}`);
          assert(got, `trace has no ${key}`);
          assert.deepStrictEqual(got.shape, want.shape, `${key} shape`);
          assertClose(got.data, want.data as Float32Array, { atol: 2e-3, rtol: 2e-3, label: key });
        }
        assert.deepStrictEqual(out.predLabels, ints(c, "output.pred_labels"), "labels");
        assertClose(out.predScores, c.output("pred_scores").data as Float32Array, {
          atol: 0,
          rtol: 1e-3,
          label: "scores",
        });
        assert.deepStrictEqual(out.predMasks.shape, c.output("pred_masks").shape, "mask shape");
        const want = c.output("pred_masks").data as Uint8Array;
        const ambiguous = c.output("debug.ambiguous").data as Uint8Array;
        let bad = 0;
        for (let i = 0; i < want.length; i++) if (out.predMasks.data[i] !== want[i] && !ambiguous[i]) bad++;
        assert.strictEqual(bad, 0, `${bad} unambiguous mask pixels differ`);

        ops.dispose([images, ...frames, lastHiddenState, poolerOutput, langMask]);
        assert.strictEqual(ops.numTensors(), before, "inference leaked tensors");
        model.dispose();
      });
    }
  }
}

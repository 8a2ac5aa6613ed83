/**
 * Parity of DsHmp's post-processing ({@link postprocessVideo}) with the part of the original
 * `DsHmp.inference` after the clip decoder, in both modes of the case: `merge` (MeViS: every query
 * over 0.5 united) and `top1` (any other data set name). Runs on every backend under test.
 *
 * Tolerances (the index's): selected queries and labels exact; scores rtol 1e-4 (float32 sums over
 * ~10^4 pixels in another order); masks exact except the pixels the case flags in `debug.ambiguous`
 * (a kept query's final logit within 1e-4 of 0, where another summation order may flip the sign).
 * @module
 */
import { backendsUnderTest, casesFor, loadCase, type ParityCase } from "./harness.ts";
import { assert, assertClose } from "../assert.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";
import { MaskFeatureStore, postprocessVideo, selectQueries } from "../../plugins/dshmp/model/postprocess.ts";

const cases = casesFor("dshmp_postprocess");

Deno.test("dshmp_postprocess parity: the fixtures hold the case", () => {
  assert(cases.includes("dshmp_postprocess"), `cases: ${cases}`);
});

const ints = (c: ParityCase, key: string) => Array.from(c.tensors.get(key)!.data as BigInt64Array, Number);
const f32 = (c: ParityCase, key: string) => {
  const t = c.tensors.get(key)!;
  return ops.tensor(t.data as Float32Array, t.shape);
};

/** Asserts equal 0/1 masks outside the pixels flagged ambiguous. */
function compareMasks(actual: Uint8Array, expected: Uint8Array, ambiguous: Uint8Array, label: string): void {
  assert.strictEqual(actual.length, expected.length, `${label}: size`);
  let bad = 0;
  let first = -1;
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i] && !ambiguous[i] && bad++ === 0) first = i;
  }
  assert.strictEqual(bad, 0, `${label}: ${bad} unambiguous pixels differ (first at ${first})`);
}

for (const name of cases) {
  for (const backend of backendsUnderTest()) {
    for (const mode of ["merge", "top1"] as const) {
      Deno.test(`dshmp_postprocess parity: ${name} ${mode} on ${backend}`, async () => {
        await useBackend(backend);
        const c = loadCase(name);
        const before = ops.numTensors();
        const logits4 = f32(c, "input.pred_logits");
        const embed4 = f32(c, "input.pred_mask_embed");
        const [, , cq, ch] = embed4.shape;
        const logits = ops.reshape(logits4, [cq, 2]);
        const embed = ops.reshape(embed4, [cq, ch]);
        const store = new MaskFeatureStore({ onHost: mode === "top1" }); // both storage paths
        const feats = f32(c, "input.mask_features");
        // Two appended chunks, as the frame-level model would produce them.
        store.append(ops.narrow(feats, 0, 0, 3));
        store.append(ops.narrow(feats, 0, 3, feats.shape[0] - 3));
        const [h, w] = ints(c, "input.image_size");
        const [hp, wp] = ints(c, "input.padded_size");
        const [oh, ow] = ints(c, "input.out_size");
        const cfg = c.spec.config_equivalent;
        const out = postprocessVideo(logits, embed, store, {
          merge: mode === "merge",
          outputThreshold: cfg["MODEL.VITA.TEST_OUTPUT_THRESHOLD"],
          interpolateChunkSize: cfg["MODEL.VITA.TEST_INTERPOLATE_CHUNK_SIZE"],
          imageSize: [h, w],
          paddedSize: [hp, wp],
          outSize: [oh, ow],
        });

        const fgT = ops.tidy(() => ops.narrow(ops.softmax(logits, -1), 1, 0, 1));
        const fg = ops.toArray(fgT);
        ops.dispose(fgT);
        const selected = selectQueries(fg, mode === "merge", cfg["MODEL.VITA.TEST_OUTPUT_THRESHOLD"]);
        const selKey = mode === "merge" ? "output.merge.selected_queries" : "output.top1.selected_query";
        assert.deepStrictEqual(selected, ints(c, selKey), "selected queries");
        assert.deepStrictEqual(out.predLabels, ints(c, `output.${mode}.pred_labels`), "labels");
        assertClose(out.predScores, c.output(`${mode}.pred_scores`).data as Float32Array, {
          atol: 0,
          rtol: 1e-4,
          label: `${mode} scores`,
        });
        assert.deepStrictEqual(out.predMasks.shape, c.output(`${mode}.pred_masks`).shape);
        assert.deepStrictEqual(out.imageSize, [oh, ow]);
        compareMasks(
          out.predMasks.data,
          c.output(`${mode}.pred_masks`).data as Uint8Array,
          c.output(`${mode}.debug.ambiguous`).data as Uint8Array,
          `${mode} masks`,
        );

        store.dispose();
        ops.dispose([logits4, embed4, logits, embed, feats]);
        assert.strictEqual(ops.numTensors(), before, "post-processing leaked tensors");
      });
    }
  }
}

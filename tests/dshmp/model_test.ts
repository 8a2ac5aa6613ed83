/**
 * The DsHmp model's own parts: the paper config's state-dict names and shapes against the original's
 * (`reference_keys.json`), image normalisation and padding, target preparation and the contrastive
 * weight ramp, on hand values. The model parity runs are in `tests/parity/full_after_text_test.ts`.
 * @module
 */
import { assert, assertClose, assertThrows } from "../assert.ts";
import * as ops from "../../core/tensor/ops.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import { loadConfig } from "../../core/config/load.ts";
import { createRegistries } from "../../core/registries.ts";
import { Generator } from "../../core/random.ts";
import { builtinPlugins } from "../../mod.ts";
import { d2SwinTransformerFactory } from "../../plugins/mask2former/modeling/backbone/mod.ts";
import { msDeformAttnPixelDecoderFactory } from "../../plugins/mask2former/modeling/pixel_decoder/mod.ts";
import {
  CLIP_DECODER_NAME,
  dshmpFrameDecoderFactory,
  dsHmpHierarchicalFactory,
  dshmpModelFactory,
} from "../../plugins/dshmp/model/build.ts";
import { contrastiveWeight, prepareTargets } from "../../plugins/dshmp/model/dshmp_model.ts";
import { imageListFromImages, paddedSize } from "../../plugins/dshmp/model/image_list.ts";
import { modelStateDictEntries, parameterCounts } from "../../tasks/inspect.ts";

const REFERENCE = new URL("../../../shared/fixtures/reference_keys.json", import.meta.url);

function partsRegistries() {
  const registries = createRegistries();
  registries.backbones.register("D2SwinTransformer", d2SwinTransformerFactory);
  registries.decoders.register("MSDeformAttnPixelDecoder", msDeformAttnPixelDecoderFactory);
  registries.decoders.register("DshmpMultiScaleMaskedTransformerDecoder", dshmpFrameDecoderFactory);
  registries.decoders.register(CLIP_DECODER_NAME, dsHmpHierarchicalFactory);
  registries.models.register("DsHmp", dshmpModelFactory);
  return registries;
}

Deno.test("DsHmp: the paper config has the original's state-dict names, shapes and parameter counts", async () => {
  await useBackend("wasm");
  const ref = JSON.parse(await Deno.readTextFile(REFERENCE));
  const { cfg } = await loadConfig({
    file: new URL("../../configs/dshmp_swin_tiny.yaml", import.meta.url).pathname,
    plugins: Object.keys(builtinPlugins),
    builtins: builtinPlugins,
  });
  const entries = modelStateDictEntries(cfg, { registries: partsRegistries(), generator: new Generator(0) });
  // The criteria's buffers belong to the loss modules (built only when they are registered).
  const isCriterion = (k: string) => k.startsWith("criterion.") || k.startsWith("vita_criterion.");
  const expected = Object.entries(ref.keys as Record<string, { shape: number[] }>)
    .filter(([k]) => !isCriterion(k))
    .map(([k, v]) => [k, v.shape]);
  assert.strictEqual(expected.length, 1312);
  assert.deepStrictEqual(entries.map((e) => [e.name, e.shape]), expected, "names, shapes and order");
  const counts = parameterCounts(entries);
  const totals = ref.totals_per_prefix as Record<string, { parameters: number }>;
  for (const [prefix, { parameters }] of Object.entries(totals)) {
    if (isCriterion(`${prefix}.`)) continue;
    const [top] = prefix.split(".");
    const got = prefix.includes(".") ? counts.get(top)!.parts.get(prefix) : counts.get(top)!.total;
    assert.strictEqual(got, parameters, `${prefix} parameters`);
  }
});

Deno.test("imageListFromImages: normalises, then pads bottom/right with 0 to a multiple of 32", () => {
  const before = ops.numTensors();
  // Two 3-channel images of 2x3 and 1x2; values chosen so that (x - mean) / std is exact.
  const a = { data: Uint8Array.from({ length: 18 }, (_, i) => 10 + i), shape: [3, 2, 3] as const };
  const b = ops.tensor(Float32Array.from({ length: 6 }, (_, i) => 4 * i), [3, 1, 2]);
  const mean = [10, 20, 30];
  const std = [2, 4, 8];
  const list = imageListFromImages([a, b], { pixelMean: mean, pixelStd: std, sizeDivisibility: 32 });
  assert.deepStrictEqual(list.tensor.shape, [2, 3, 32, 32]);
  assert.deepStrictEqual(list.imageSizes, [[2, 3], [1, 2]]);
  const out = ops.toArray(list.tensor);
  const at = (n: number, c: number, y: number, x: number) => out[((n * 3 + c) * 32 + y) * 32 + x];
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < 2; y++) {
      for (let x = 0; x < 3; x++) {
        assert.strictEqual(at(0, c, y, x), (10 + c * 6 + y * 3 + x - mean[c]) / std[c], `a[${c},${y},${x}]`);
      }
    }
    assert.deepStrictEqual([at(1, c, 0, 0), at(1, c, 0, 1)], [
      (8 * c - mean[c]) / std[c],
      (8 * c + 4 - mean[c]) / std[c],
    ]);
  }
  // Padding is exactly 0 in normalised space (not -mean/std).
  assert.strictEqual(at(0, 0, 2, 0), 0);
  assert.strictEqual(at(0, 2, 0, 3), 0);
  assert.strictEqual(at(1, 1, 1, 0), 0);
  assert.strictEqual(at(1, 1, 31, 31), 0);
  let sumAbs = 0;
  for (let i = 0; i < out.length; i++) sumAbs += Math.abs(out[i]);
  let inside = 0;
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < 2; y++) for (let x = 0; x < 3; x++) inside += Math.abs(at(0, c, y, x));
    inside += Math.abs(at(1, c, 0, 0)) + Math.abs(at(1, c, 0, 1));
  }
  assertClose([sumAbs], [inside], { atol: 1e-4, rtol: 0, label: "nothing outside the images" });
  ops.dispose([list.tensor, b]);
  assert.strictEqual(ops.numTensors(), before);
});

Deno.test("paddedSize: rounds the largest sides up; divisibility 0 keeps them", () => {
  assert.deepStrictEqual(paddedSize([[448, 797], [450, 600]], 32), [480, 800]);
  assert.deepStrictEqual(paddedSize([[448, 797]], 0), [448, 797]);
  assert.deepStrictEqual(paddedSize([[64, 64]], 32), [64, 64]);
  assertThrows(() =>
    imageListFromImages([ops.zeros([1, 2, 2])], {
      pixelMean: [0, 0, 0],
      pixelStd: [1, 1, 1],
      sizeDivisibility: 32,
    }), "channels first");
});

Deno.test("prepareTargets: pads masks, drops objects absent from every frame, shifts ids to start at 0", () => {
  const frame = (masks: number[][], ids: number[], classes: number[]) => ({
    image_size: [1, 2] as const,
    gt_classes: Int32Array.from(classes),
    gt_ids: Int32Array.from(ids),
    gt_masks: Uint8Array.from(masks.flat()),
  });
  // Three objects; object 1 is never visible; object 2's class is only known from frame 1.
  const video = {
    instances: [
      frame([[1, 0], [0, 0], [0, 0]], [4, 5, 6], [0, 0, -1]),
      frame([[1, 1], [0, 0], [0, 1]], [4, 5, 6], [0, 0, 0]),
    ],
    video_len: 10,
    frame_idx: [2, 3],
    refer_id: 9,
  };
  const { frameTargets, clipTargets } = prepareTargets([video], 2, [2, 3]);
  const clip = clipTargets[0];
  assert.deepStrictEqual(Array.from(clip.labels), [0, 0]);
  assert.deepStrictEqual(clip.ids, [[0, 0], [-1, 2]]); // ids 4 and 6 shifted by the min (4)
  assert.deepStrictEqual(clip.masks.shape, [2, 2, 2, 3]);
  assert.deepStrictEqual(
    Array.from(ops.toArray(clip.masks)),
    [1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
  );
  assert.deepStrictEqual([clip.videoLen, clip.frameIdx, clip.referId], [10, [2, 3], 9]);
  assert.strictEqual(frameTargets.length, 2);
  assert.deepStrictEqual(Array.from(frameTargets[0].ids), [0]);
  assert.deepStrictEqual(Array.from(frameTargets[1].ids), [0, 2]);
  assert.deepStrictEqual(frameTargets[1].masks.shape, [2, 2, 3]);
  ops.dispose([clip.masks, ...frameTargets.map((t) => t.masks)]);
});

Deno.test("contrastiveWeight: linear warm-up to 0.3 over 2000 iterations", () => {
  assert.strictEqual(contrastiveWeight(0), 0);
  assertClose([contrastiveWeight(500)], [0.075], { atol: 1e-15, rtol: 0 });
  assert.strictEqual(contrastiveWeight(1999), 0.3 * 1999 / 2000);
  assert.strictEqual(contrastiveWeight(2000), 0.3);
  assert.strictEqual(contrastiveWeight(50000), 0.3);
});

/**
 * Unit checks of the frame decoder: the masked-attention rule on hand-made logits (threshold, resize,
 * the fully-blocked-row rule, the head layout), the `static_query` -> `query_feat` rename, the paper
 * configuration's parameter names and shapes against `reference_keys.json`, and a training step
 * (gradients reach every parameter although the attention masks come from thresholds).
 * @module
 */
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertThrows } from "../assert.ts";
import { backendsUnderTest } from "../parity/harness.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";
import { Generator } from "../../core/random.ts";
import {
  attentionMaskFromPrediction,
  blockedPixels,
  dshmpFrameDecoderFromConfig,
  type DshmpFrameDecoderOptions,
  DshmpMultiScaleMaskedTransformerDecoder,
  renameStaticQuery,
} from "../../plugins/dshmp/modeling/frame_decoder/mod.ts";

const backend = backendsUnderTest()[0];

const bits = (t: ops.Tensor) => Array.from(ops.toArray(t), (v) => (v ? 1 : 0));

Deno.test("attention mask: sigmoid < 0.5 blocks, a fully blocked query is unblocked", async () => {
  await useBackend(backend);
  // (B=1, Q=3, 2, 2), same size as the level: no resampling.
  const logits = ops.tensor(
    [
      [-1, 2, 0, -0.001], // mixed; a logit of 0 gives sigmoid 0.5, which is not blocked
      [-5, -1, -2, -0.5], // every pixel blocked -> the whole row is opened
      [1, 1, 1, 1],
    ].flat(),
    [1, 3, 2, 2],
  );
  const blocked = blockedPixels(logits, [2, 2]);
  assertEquals(blocked.shape, [1, 3, 4]);
  assertEquals(bits(blocked), [1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  ops.dispose([logits, blocked]);
});

Deno.test("attention mask: logits are resized bilinearly to the level before the threshold", async () => {
  await useBackend(backend);
  // 2x4 -> 1x2 with align_corners=False averages each 2x2 block: -2 (blocked) and 1 (open).
  const logits = ops.tensor([-4, -4, 1, 1, 0, 0, 1, 1], [1, 1, 2, 4]);
  const blocked = blockedPixels(logits, [1, 2]);
  assertEquals(bits(blocked), [1, 0]);
  // A single pixel that is blocked is a fully blocked row: opened.
  const one = blockedPixels(logits, [1, 1]); // mean -0.5
  assertEquals(bits(one), [0]);
  ops.dispose([logits, blocked, one]);
});

Deno.test("attention mask: repeated over heads, sample-major (row b*heads + h)", async () => {
  await useBackend(backend);
  const logits = ops.tensor([-1, 1, 1, -1], [2, 1, 1, 2]); // sample 0 blocks pixel 0, sample 1 pixel 1
  const mask = attentionMaskFromPrediction(logits, [1, 2], 3);
  assertEquals(mask.shape, [6, 1, 2]);
  assertEquals(mask.dtype, "bool");
  assertEquals(bits(mask), [1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1]);
  ops.dispose([logits, mask]);
});

Deno.test("renameStaticQuery: static_query keys become query_feat, the rest is untouched", () => {
  const sd = new Map<string, number>([
    ["sem_seg_head.predictor.static_query.weight", 1],
    ["sem_seg_head.predictor.query_embed.weight", 2],
    ["backbone.patch_embed.proj.weight", 3],
  ]);
  const { stateDict, renamed } = renameStaticQuery(sd);
  assertEquals([...stateDict], [
    ["sem_seg_head.predictor.query_feat.weight", 1],
    ["sem_seg_head.predictor.query_embed.weight", 2],
    ["backbone.patch_embed.proj.weight", 3],
  ]);
  assertEquals(renamed, [[
    "sem_seg_head.predictor.static_query.weight",
    "sem_seg_head.predictor.query_feat.weight",
  ]]);
  assert(sd.has("sem_seg_head.predictor.static_query.weight"), "the input map is left alone");
  // A current checkpoint: nothing to do.
  assertEquals(renameStaticQuery(stateDict).renamed, []);
  // Both names present: the renamed value wins, as the original's in-place assignment does.
  const both = renameStaticQuery(new Map([["query_feat.weight", 1], ["static_query.weight", 2]]));
  assertEquals([...both.stateDict], [["query_feat.weight", 2]]);
});

/** The paper config's frame-decoder keys (configs/dshmp_swin_tiny.yaml on the defaults). */
const PAPER = {
  MODEL: {
    SEM_SEG_HEAD: { NUM_CLASSES: 1, MASK_DIM: 256 },
    MASK_FORMER: {
      HIDDEN_DIM: 256,
      NUM_OBJECT_QUERIES: 20,
      NHEADS: 8,
      DIM_FEEDFORWARD: 2048,
      DEC_LAYERS: 10,
      PRE_NORM: false,
      ENFORCE_INPUT_PROJ: false,
    },
    VITA: { LAST_LAYER_NUM: 3 },
  },
};

Deno.test("paper config: parameter names, shapes and order equal the original's sem_seg_head.predictor.*", async () => {
  await useBackend(backend);
  const path = fileURLToPath(new URL("../../../shared/fixtures/reference_keys.json", import.meta.url));
  const reference = JSON.parse(Deno.readTextFileSync(path));
  const prefix = "sem_seg_head.predictor.";
  const expected = Object.entries(reference.keys as Record<string, { shape: number[] }>)
    .filter(([k]) => k.startsWith(prefix))
    .map(([k, v]) => [k.slice(prefix.length), v.shape]);
  // The pixel decoder's CONVS_DIM (256) is the input width: no input projections, as in the paper.
  const decoder = dshmpFrameDecoderFromConfig(PAPER, 256, { generator: new Generator(0) });
  const actual = [...decoder.stateDict()].map(([k, v]) => [k, [...v.shape]]);
  assertEquals(actual, expected);
  const count = decoder.parameters().reduce((n, p) => n + p.size, 0);
  assertEquals(count, reference.totals_per_prefix["sem_seg_head.predictor"].parameters); // 31,266,050
  assertEquals(decoder.numLayers, 9);
  decoder.dispose();
});

Deno.test("fromConfig: ENFORCE_INPUT_PROJ or a width change adds 1x1 input projections", async () => {
  await useBackend(backend);
  const small = {
    MODEL: {
      ...PAPER.MODEL,
      SEM_SEG_HEAD: { NUM_CLASSES: 1, MASK_DIM: 16 },
      MASK_FORMER: {
        ...PAPER.MODEL.MASK_FORMER,
        HIDDEN_DIM: 16,
        DIM_FEEDFORWARD: 32,
        NHEADS: 4,
        DEC_LAYERS: 2,
      },
    },
  };
  const projected = dshmpFrameDecoderFromConfig(small, 8);
  const keys = [...projected.stateDict().keys()].filter((k) => k.startsWith("input_proj."));
  assertEquals(keys, [0, 1, 2].flatMap((i) => [`input_proj.${i}.weight`, `input_proj.${i}.bias`]));
  assertEquals([...projected.stateDict().get("input_proj.0.weight")!.shape], [16, 8, 1, 1]);
  projected.dispose();
  assertThrows(
    () =>
      dshmpFrameDecoderFromConfig({
        ...small,
        MODEL: { ...small.MODEL, MASK_FORMER: { ...small.MODEL.MASK_FORMER, DEC_LAYERS: 1 } },
      }, 16),
    "decLayers must be at least 1",
  );
});

const SMALL: DshmpFrameDecoderOptions = {
  inChannels: 8,
  numClasses: 1,
  hiddenDim: 8,
  numQueries: 3,
  nheads: 2,
  dimFeedforward: 16,
  decLayers: 4,
  preNorm: false,
  maskDim: 8,
  enforceInputProject: false,
  vitaLastLayerNum: 3,
};

function smallInputs(seed: number) {
  const g = new Generator(seed);
  return {
    x: [[2, 8, 1, 2], [2, 8, 2, 4], [2, 8, 4, 8]].map((s) => ops.randn(s, g)),
    maskFeatures: ops.randn([2, 8, 8, 16], g),
    langFeat: ops.randn([1, 4, 8], g),
    langMask: ops.tensor([1, 1, 1, 0], [1, 4], "int32"),
    staticFeat: ops.randn([2, 8], g),
  };
}

Deno.test("training: gradients reach every parameter; frame queries of the last LAST_LAYER_NUM layers", async () => {
  await useBackend(backend);
  const decoder = new DshmpMultiScaleMaskedTransformerDecoder({ ...SMALL, generator: new Generator(1) });
  const inp = smallInputs(2);
  let frameQueriesShape: number[] = [];
  const { value, grads } = ops.valueAndGrads(() => {
    const { outputs, frameQueries } = decoder.forward(
      inp.x,
      inp.maskFeatures,
      inp.maskFeatures,
      inp.langFeat,
      inp.langMask,
      inp.staticFeat,
    );
    frameQueriesShape = [...frameQueries.shape];
    const terms = [outputs, ...outputs.auxOutputs].flatMap((
      p,
    ) => [ops.sum(p.predLogits), ops.mean(p.predMasks)]);
    return ops.add(ops.sum(ops.stack(terms)), ops.mean(frameQueries));
  });
  assertEquals(frameQueriesShape, [3, 2, 3, 8]);
  assert(Number.isFinite(ops.toArray(value)[0]));
  for (const [name, p] of decoder.namedParameters()) {
    const g = grads[p.name];
    assert(g !== undefined, `no gradient for ${name}`);
    const data = ops.toArray(g);
    assert(data.every(Number.isFinite), `non-finite gradient for ${name}`);
    assert(data.some((v) => v !== 0), `zero gradient for ${name}`);
  }
  ops.dispose([value, grads, ...inp.x, inp.maskFeatures, inp.langFeat, inp.langMask, inp.staticFeat]);
  decoder.dispose();
});

Deno.test("training: dropout and drop-path draw from the generator (same seed, same output; not eval's)", async () => {
  await useBackend(backend);
  const run = (train: boolean) => {
    const decoder = new DshmpMultiScaleMaskedTransformerDecoder({ ...SMALL, generator: new Generator(5) });
    decoder.train(train);
    const inp = smallInputs(6);
    const { outputs, frameQueries } = decoder.forward(
      inp.x,
      inp.maskFeatures,
      inp.maskFeatures,
      inp.langFeat,
      inp.langMask,
      inp.staticFeat,
    );
    const logits = Array.from(ops.toArray(outputs.predLogits));
    const layers = frameQueries.shape[0];
    ops.dispose([outputs.predLogits, outputs.predMasks, frameQueries, ...inp.x, inp.maskFeatures]);
    for (const a of outputs.auxOutputs) ops.dispose([a.predLogits, a.predMasks]);
    ops.dispose([inp.langFeat, inp.langMask, inp.staticFeat]);
    decoder.dispose();
    return { logits, layers };
  };
  const a = run(true);
  assertEquals(run(true), a);
  const e = run(false);
  assertEquals(e.layers, 1);
  assert(
    a.logits.some((v, i) => v !== e.logits[i]),
    "training must differ from eval (dropout 0.1 in places)",
  );
});

Deno.test("forward: one sentence for all frames, input checks", async () => {
  await useBackend(backend);
  const decoder = new DshmpMultiScaleMaskedTransformerDecoder({ ...SMALL, generator: new Generator(3) })
    .eval();
  const inp = smallInputs(4);
  const twoSentences = ops.zeros([2, 4, 8]);
  assertThrows(
    () =>
      decoder.forward(inp.x, inp.maskFeatures, inp.maskFeatures, twoSentences, inp.langMask, inp.staticFeat),
    "langFeat must be (1, Nl, 8)",
  );
  assertThrows(
    () =>
      decoder.forward(
        inp.x.slice(1),
        inp.maskFeatures,
        inp.maskFeatures,
        inp.langFeat,
        inp.langMask,
        inp.staticFeat,
      ),
    "expected 3 feature levels",
  );
  // A bool language mask (true = token) means the same as the int one.
  const boolMask = ops.tensor([1, 1, 1, 0], [1, 4], "bool");
  const viaInt = decoder.forward(
    inp.x,
    inp.maskFeatures,
    inp.maskFeatures,
    inp.langFeat,
    inp.langMask,
    inp.staticFeat,
  );
  const viaBool = decoder.forward(
    inp.x,
    inp.maskFeatures,
    inp.maskFeatures,
    inp.langFeat,
    boolMask,
    inp.staticFeat,
  );
  assertEquals(
    Array.from(ops.toArray(viaBool.outputs.predMasks)),
    Array.from(ops.toArray(viaInt.outputs.predMasks)),
  );
  for (const o of [viaInt, viaBool]) {
    ops.dispose([o.outputs.predLogits, o.outputs.predMasks, o.frameQueries]);
    for (const a of o.outputs.auxOutputs) ops.dispose([a.predLogits, a.predMasks]);
  }
  ops.dispose([
    twoSentences,
    boolMask,
    ...inp.x,
    inp.maskFeatures,
    inp.langFeat,
    inp.langMask,
    inp.staticFeat,
  ]);
  decoder.dispose();
});

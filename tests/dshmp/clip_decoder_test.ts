/**
 * Unit tests of the clip decoder's parts: pairwise temporal averaging on hand values, the window and
 * shifted-window masks against hand-built ones, exact cost ties for identical queries (decided the
 * way scipy decides them), the train/eval window schedule, deep supervision, and the
 * `hierarchicalMotion` ablation switch. Parity with the original is in `tests/parity/`.
 * @module
 */
import { assert, assertClose, assertThrows } from "../assert.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";
import { Generator } from "../../core/random.ts";
import { backendsUnderTest } from "../parity/harness.ts";
import {
  DsHmpHierarchical,
  type DsHmpHierarchicalOptions,
  shiftWindowMask,
  windowKeyPaddingMask,
} from "../../plugins/dshmp/modeling/clip_decoder/clip_decoder.ts";
import {
  HierarchicalCrossAttentionLayer,
  matchEmbeds,
  pairwiseAverage,
  sortEmbedding,
  unsortEmbedding,
} from "../../plugins/dshmp/modeling/clip_decoder/hierarchical_cross_attention.ts";

const backend = backendsUnderTest()[0];

/** A small decoder: C 16, fQ 3, cQ 2, window 2, 3 encoder and 2 decoder layers. */
function small(extra: Partial<DsHmpHierarchicalOptions> = {}): DsHmpHierarchical {
  return new DsHmpHierarchical({
    inChannels: 16,
    hiddenDim: 16,
    numFrameQueries: 3,
    numQueries: 2,
    nheads: 4,
    dimFeedforward: 32,
    encLayers: 3,
    decLayers: 2,
    encWindowSize: 2,
    numFrames: 3,
    numClasses: 1,
    convDim: 16,
    maskDim: 16,
    generator: new Generator(7),
    ...extra,
  });
}

/** Inputs for `small()`: frame queries (L, B*T, fQ, C), language (B, 5, C), mask, motion (4, C). */
function inputs(L: number, BT: number, B: number) {
  const g = new Generator(3);
  const mask = new Int32Array(B * 5).map((_, i) => (i % 5 < 3 ? 1 : 0));
  return {
    frameQuery: ops.randn([L, BT, 3, 16], g),
    langFeat: ops.randn([B, 5, 16], g),
    langMask: ops.tensor(mask, [B, 5], "int32"),
    motionFeat: ops.randn([4, 16], g),
  };
}

Deno.test("pairwiseAverage: neighbours averaged, an odd length repeats its last step", async () => {
  await useBackend(backend);
  // (N=2, T, C=1)
  const even = pairwiseAverage(ops.tensor([1, 3, 5, 9, 0, 2, 4, 6], [2, 4, 1]));
  assert.deepStrictEqual(even.shape, [2, 2, 1]);
  assert.deepStrictEqual(Array.from(ops.toArray(even)), [2, 7, 1, 5]);
  const odd = pairwiseAverage(ops.tensor([1, 3, 5, 2, 4, 7], [1, 3, 2]));
  assert.deepStrictEqual(odd.shape, [1, 2, 2]);
  assert.deepStrictEqual(Array.from(ops.toArray(odd)), [3, 2.5, 4, 7]);
  // Three levels take 5 -> 3 -> 2 -> 1, as in a window of 5 frames.
  let x = ops.tensor([0, 1, 2, 3, 4], [1, 5, 1]);
  for (const len of [3, 2, 1]) {
    x = pairwiseAverage(x);
    assert.strictEqual(x.shape[1], len);
  }
  // [0,1,2,3,4,4] -> [0.5, 2.5, 4] -> [1.5, 4] -> [2.75]
  assert.deepStrictEqual(Array.from(ops.toArray(x)), [2.75]);
  ops.dispose([even, odd, x]);
});

Deno.test("windowKeyPaddingMask: every query of a padded frame is a padded key of its window", () => {
  // lb 2, 4 frames (2 windows of 2), fQ 2; sequence 0 pads frame 3, sequence 1 nothing.
  const m = windowKeyPaddingMask(new Uint8Array([0, 0, 0, 1, 0, 0, 0, 0]), {
    lb: 2,
    frames: 4,
    window: 2,
    fQ: 2,
  });
  assert.deepStrictEqual(Array.from(m), [
    ...[0, 0, 0, 0], // seq 0, window 0: frames 0, 1
    ...[0, 0, 1, 1], // seq 0, window 1: frames 2, 3 (padded)
    ...[0, 0, 0, 0],
    ...[0, 0, 0, 0],
  ]);
});

Deno.test("shiftWindowMask: hand-built -1000 masks of rolled windows", () => {
  const X = -1000;
  // 4 frames, W 2 (shift 1), frame 3 padded. Rolled slots hold frames [3, 0, 1, 2]:
  // window 0 = {3 (padded), 0}: padded row and column, and the wrapped frame 3 is cut from frame 0;
  // window 1 = {1, 2}: nothing blocked.
  const m = shiftWindowMask(new Uint8Array([0, 0, 0, 1]), { lb: 1, frames: 4, window: 2, fQ: 1 }, 1);
  assert.deepStrictEqual(Array.from(m), [X, X, X, 0, 0, 0, 0, 0]);
  // 6 frames, W 2, frame 2 padded (rolled to slot 3, the middle window's second row): a middle
  // window blocks only the padded query ROW; window 0 = {5, 0} only separates the wrapped frame.
  const mid = shiftWindowMask(new Uint8Array([0, 0, 1, 0, 0, 0]), { lb: 1, frames: 6, window: 2, fQ: 1 }, 1);
  assert.deepStrictEqual(Array.from(mid), [0, X, X, 0, 0, 0, X, X, 0, 0, 0, 0]);
  // Expansion: fQ 2 repeats each frame entry over a 2x2 block; every head gets the same mask.
  const wide = shiftWindowMask(new Uint8Array([0, 0, 0, 1]), { lb: 1, frames: 4, window: 2, fQ: 2 }, 2);
  const window0 = [X, X, X, X, X, X, X, X, X, X, 0, 0, X, X, 0, 0];
  const window1 = new Array(16).fill(0);
  assert.deepStrictEqual(Array.from(wide), [...window0, ...window0, ...window1, ...window1]);
  assertThrows(
    () => shiftWindowMask(new Uint8Array(5), { lb: 1, frames: 5, window: 2, fQ: 1 }, 1),
    /multiple/,
  );
});

Deno.test("matchEmbeds: identical queries give exactly equal costs, and the tie goes scipy's way", () => {
  // ref (4 x 2) at angles 90, 0, 60, 180 degrees; every cur query is (1, 0): each cost row is
  // [1, 0, 0.5, 2] and bitwise the same. scipy 1.17 on four such rows returns [1, 2, 0, 3].
  const s = Math.sqrt(3) / 2;
  const ref = new Float32Array([0, 1, 1, 0, 0.5, s, -1, 0]);
  const cur = new Float32Array([1, 0, 1, 0, 1, 0, 1, 0]);
  assert.deepStrictEqual(Array.from(matchEmbeds(ref, cur, 4, 2)), [1, 2, 0, 3]);
  // All-zero queries (a padded frame before any layer): cos 0 everywhere, all costs 1; scipy: identity.
  assert.deepStrictEqual(Array.from(matchEmbeds(ref, new Float32Array(8), 4, 2)), [0, 1, 2, 3]);
  // Identical REFERENCE queries tie by columns; distinct cur queries still get the order scipy picks
  // for the transposed problem: np.array([[1, 0, .5, 2]] * 4).T -> [0, 1, 2, 3].
  const sameRef = new Float32Array([1, 0, 1, 0, 1, 0, 1, 0]);
  assert.deepStrictEqual(Array.from(matchEmbeds(sameRef, ref, 4, 2)), [0, 1, 2, 3]);
});

Deno.test("sortEmbedding: the original's cur[indices], the aligned fix, and unsorting", async () => {
  await useBackend(backend);
  // 3 frames, fQ 3, bs 1, C 2: frames 1 and 2 hold the queries a, b, c of frame 0 in other orders.
  const [a, b, c] = [[1, 0], [0, 1], [-1, -1]];
  const frames = [[a, b, c], [c, a, b], [b, c, a]];
  const tgt = ops.tensor(frames.flat(2), [3, 3, 1, 2]);
  const order = (o: { matchIndices: Int32Array[][]; inverseMaps: Int32Array[][] }) => ({
    match: o.matchIndices[0].map((m) => Array.from(m)),
    inverse: o.inverseMaps[0].map((m) => Array.from(m)),
  });

  // Original: frame 1 [c, a, b] matches a->1, b->2, c->0, but scipy on the transposed cost returns,
  // per CURRENT query, its reference slot: [2, 0, 1]; cur[[2, 0, 1]] = [b, c, a] (not aligned).
  // Frame 2 [b, c, a] then equals that reference: identity.
  const original = sortEmbedding(tgt);
  assert.deepStrictEqual(order(original.order), {
    match: [[0, 1, 2], [2, 0, 1], [0, 1, 2]],
    inverse: [[0, 1, 2], [1, 2, 0], [0, 1, 2]],
  });
  assert.deepStrictEqual(Array.from(ops.toArray(original.sorted)), [[a, b, c], [b, c, a], [b, c, a]].flat(2));

  // Fix: argsort of scipy's columns lines every frame up with frame 0.
  const aligned = sortEmbedding(tgt, { alignQueryOrder: true });
  assert.deepStrictEqual(order(aligned.order), {
    match: [[0, 1, 2], [1, 2, 0], [2, 0, 1]],
    inverse: [[0, 1, 2], [2, 0, 1], [1, 2, 0]],
  });
  assert.deepStrictEqual(Array.from(ops.toArray(aligned.sorted)), [[a, b, c], [a, b, c], [a, b, c]].flat(2));

  for (const { sorted, order } of [original, aligned]) {
    const restored = unsortEmbedding(sorted, order);
    assert.deepStrictEqual(Array.from(ops.toArray(restored)), frames.flat(2));
    ops.dispose(restored);
  }
  const hca = new HierarchicalCrossAttentionLayer({ dModel: 2, generator: new Generator(1) });
  assertThrows(() => hca.forward(ops.zeros([9, 1, 1, 2]), ops.zeros([1, 2])), /at most 8 frames/);
  ops.dispose([tgt, original.sorted, aligned.sorted]);
  hca.dispose();
});

Deno.test("encoder: training uses plain windows on every layer, eval shifts the odd layers", async () => {
  await useBackend(backend);
  const decoder = small();
  const g = new Generator(5);
  const x = ops.pad(ops.randn([3, 3, 1, 16], g), [[0, 1]]); // T 3 padded to 4
  const motion = ops.randn([4, 16], g);
  const padMask = new Uint8Array([0, 0, 0, 1]);
  const kpm = ops.tensor(
    windowKeyPaddingMask(padMask, { lb: 1, frames: 4, window: 2, fQ: 3 }),
    [2, 6],
    "bool",
  );
  const shift = ops.tensor(shiftWindowMask(padMask, { lb: 1, frames: 4, window: 2, fQ: 3 }, 4), [8, 6, 6]);
  const plain = (y: ops.Tensor, i: number) => decoder.windowLayer(y, i, { keyPaddingMask: kpm }, motion);
  const shifted = (y: ops.Tensor, i: number) =>
    ops.roll(decoder.windowLayer(ops.roll(y, 1, 0), i, { attnMask: shift }, motion), -1, 0);

  decoder.train(); // the encoder has no dropout, so training is deterministic here
  const trained = decoder.encodeFrameQuery(x, padMask, motion);
  assertClose(ops.toArray(trained), ops.toArray(plain(plain(plain(x, 0), 1), 2)), {
    atol: 0,
    rtol: 0,
    label: "train",
  });
  decoder.eval();
  const evaluated = decoder.encodeFrameQuery(x, padMask, motion);
  assertClose(ops.toArray(evaluated), ops.toArray(plain(shifted(plain(x, 0), 1), 2)), {
    atol: 0,
    rtol: 0,
    label: "eval",
  });
  assert(Math.max(...ops.toArray(ops.abs(ops.sub(trained, evaluated)))) > 1e-3, "the shift must matter");
  decoder.dispose();
});

Deno.test("forward: deep supervision in training, last layer only in eval", async () => {
  await useBackend(backend);
  const decoder = small();
  const { frameQuery, langFeat, langMask, motionFeat } = inputs(2, 6, 2); // L 2, B 2, T 3
  decoder.train();
  const a = decoder.forward(frameQuery, langFeat, langMask, motionFeat);
  assert.deepStrictEqual(a.predLogits.shape, [2, 2, 2, 2]);
  assert.deepStrictEqual(a.predFqEmbed!.shape, [2, 2, 3, 3, 16]);
  assert.strictEqual(a.auxOutputs.length, 1);
  assert.deepStrictEqual(a.auxOutputs[0].predMaskEmbed.shape, [2, 2, 2, 16]);
  assert.strictEqual(a.auxOutputs[0].predFqEmbed, a.predFqEmbed);
  assert.deepStrictEqual(a.langFeatMean.shape, [16]);
  assert(ops.toArray(a.predLogits).every(Number.isFinite));

  decoder.eval();
  const e = decoder.forward(
    frameQuery,
    ops.narrow(langFeat, 0, 0, 1),
    ops.narrow(langMask, 0, 0, 1),
    motionFeat,
  );
  assert.deepStrictEqual(e.predLogits.shape, [1, 1, 2, 2], "eval: last frame layer, B 1, T = all 6 frames");
  assert.deepStrictEqual(e.predFqEmbed!.shape, [1, 1, 6, 3, 16]);
  assert.strictEqual(e.auxOutputs.length, 0);
  decoder.dispose();
});

Deno.test("hierarchicalMotion: false drops exactly hierarchical_cross.* and changes the outputs", async () => {
  await useBackend(backend);
  const on = small().eval();
  const off = small({ hierarchicalMotion: false }).eval();
  const onKeys = [...on.stateDict().keys()];
  const offKeys = [...off.stateDict().keys()];
  assert(onKeys.some((k) => k.startsWith("hierarchical_cross.2.res_gate.")));
  assert.deepStrictEqual(offKeys, onKeys.filter((k) => !k.startsWith("hierarchical_cross.")));
  // Same weights for everything both have: only the hierarchical layers differ.
  const shared = new Map([...on.stateDict()].filter(([k]) => !k.startsWith("hierarchical_cross.")));
  off.loadStateDict(shared, { strict: true });
  const { frameQuery, langFeat, langMask, motionFeat } = inputs(1, 5, 1);
  const yOn = on.forward(frameQuery, langFeat, langMask, motionFeat).predLogits;
  const yOff = off.forward(frameQuery, langFeat, langMask, motionFeat).predLogits;
  const diff = Math.max(...ops.toArray(ops.abs(ops.sub(yOn, yOff))));
  assert(diff > 1e-3, `outputs should differ without the hierarchical layers (max diff ${diff})`);
  on.dispose();
  off.dispose();
});

Deno.test("training: gradients reach the hierarchical layers through the query re-ordering", async () => {
  await useBackend(backend);
  const decoder = small().train();
  const { frameQuery, langFeat, langMask, motionFeat } = inputs(1, 3, 1);
  const params = new Map(decoder.namedParameters());
  const wanted = [
    "hierarchical_cross.0.to_q.weight",
    "hierarchical_cross.1.res_gate.2.weight",
    "input_proj_dec.weight",
  ];
  const { value, grads } = ops.valueAndGrads(
    () => {
      const out = decoder.forward(frameQuery, langFeat, langMask, motionFeat);
      return ops.add(ops.sum(out.predLogits), ops.sum(out.predFqEmbed!));
    },
    wanted.map((k) => params.get(k)!),
  );
  assert(Number.isFinite(ops.toArray(value)[0]));
  for (const k of wanted) {
    const g = ops.toArray(grads[params.get(k)!.name]);
    assert(g.every(Number.isFinite) && g.some((x) => x !== 0), `gradient of ${k}`);
  }
  ops.dispose([value, ...Object.values(grads)]);
  decoder.dispose();
});

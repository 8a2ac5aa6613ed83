/**
 * `MODEL.WEIGHTS` loading: detectron2 / fvcore planning (shape skips, missing, unused, `module.`
 * prefix, suffix-matching heuristics and their ambiguity error, renames), the fvcore-style grouping,
 * metadata from checkpoint extras, and `loadWeightsInto` on a small module, non-strict and strict.
 * @module
 */
import { saveSafetensors } from "../../core/io/safetensors.ts";
import {
  checkpointMetadata,
  groupKeys,
  loadWeightsInto,
  planWeightsLoad,
  WeightsLoadError,
} from "../../core/io/weights.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";
import { Linear, Module } from "../../core/tensor/nn/mod.ts";
import { Generator } from "../../core/random.ts";
import { assert, assertEquals, assertMatch, assertRejects, assertThrows } from "../assert.ts";

await useBackend("cpu");

const shaped = (entries: [string, number[]][]) => new Map(entries.map(([k, shape]) => [k, { shape }]));

Deno.test("plan: shape skips are also missing, unused keys listed, module. prefix dropped", () => {
  const plan = planWeightsLoad(
    shaped([["module.head.weight", [81, 4]], ["module.head.bias", [2]], ["module.extra", [1]]]),
    { "head.weight": [2, 4], "head.bias": [2], "neck.weight": [4], pixel_mean: [3] },
  );
  assertEquals(plan.strippedPrefix, "module.");
  assertEquals(plan.filled, [{ key: "head.bias", from: "module.head.bias" }]);
  assertEquals(plan.skipped, [{
    key: "head.weight",
    from: "module.head.weight",
    checkpoint: [81, 4],
    model: [2, 4],
  }]);
  // pixel_mean is rebuilt from the config: detectron2 does not call it missing.
  assertEquals(plan.missing, ["head.weight", "neck.weight"]);
  assertEquals(plan.unused, ["extra"]);
  assert(!plan.matchingHeuristics);
});

Deno.test("plan with matching heuristics: longest dotted suffix, mismatches skipped, ambiguity refused", () => {
  const plan = planWeightsLoad(
    shaped([["res2.conv1.weight", [8]], ["conv1.weight", [4]], ["fc.weight", [3]], ["other", [1]]]),
    {
      "backbone.res2.conv1.weight": [8],
      "backbone.conv1.weight": [4],
      "backbone.fc.weight": [5],
      "backbone.xconv1.weight": [4],
    },
    { matchingHeuristics: true },
  );
  assertEquals(plan.filled, [
    { key: "backbone.res2.conv1.weight", from: "res2.conv1.weight" },
    { key: "backbone.conv1.weight", from: "conv1.weight" },
  ]);
  assertEquals(plan.aligned, [
    ["backbone.conv1.weight", "conv1.weight"],
    ["backbone.res2.conv1.weight", "res2.conv1.weight"],
  ]);
  assertEquals(plan.skipped, [{ key: "backbone.fc.weight", from: "fc.weight", checkpoint: [3], model: [5] }]);
  // "xconv1" is not a whole component: no match. A skipped suffix match stays under its own name.
  assertEquals(plan.missing, ["backbone.fc.weight", "backbone.xconv1.weight"]);
  assertEquals(plan.unused, ["fc.weight", "other"]);
  assertThrows(
    () => planWeightsLoad(shaped([["w", [1]]]), { "a.w": [1], "b.w": [1] }, { matchingHeuristics: true }),
    /checkpoint key w matches two model keys \(a\.w and b\.w\)/,
  );
  // Nothing matches: the checkpoint is used as it is.
  const none = planWeightsLoad(shaped([["z", [1]]]), { y: [1] }, { matchingHeuristics: true });
  assertEquals([none.filled, none.missing, none.unused], [[], ["y"], ["z"]]);
});

Deno.test("plan with a rename: renamed keys fill, a renamed key of the wrong shape is an error", () => {
  const rename = (k: string) => k.replace("static_query", "query_feat");
  const ok = planWeightsLoad(
    shaped([["p.static_query.weight", [20, 4]]]),
    { "p.query_feat.weight": [20, 4] },
    {
      rename,
    },
  );
  assertEquals(ok.filled, [{ key: "p.query_feat.weight", from: "p.static_query.weight" }]);
  assertEquals(ok.renamed, [["p.static_query.weight", "p.query_feat.weight"]]);
  const bad = planWeightsLoad(shaped([["p.static_query.weight", [100, 4]]]), {
    "p.query_feat.weight": [20, 4],
  }, {
    rename,
  });
  assertEquals(bad.errors, [
    "size mismatch for p.query_feat.weight (from p.static_query.weight): (100, 4) in the checkpoint, (20, 4) in the model",
  ]);
});

Deno.test("groupKeys groups tails by module as fvcore does; metadata keeps plain extras", () => {
  assertEquals(groupKeys(["a.b.weight", "a.b.bias", "a.c.weight", "top"]), [
    "a.b.{bias, weight}",
    "a.c.weight",
    "top",
  ]);
  const tensor = { dtype: "F32" as const, shape: [1], data: new Float32Array(1) };
  assertEquals(
    checkpointMetadata({
      iteration: 54999,
      big: 2n ** 70n,
      author: "x",
      flag: true,
      optimizer: { state: { 0: { exp_avg: tensor } } },
    }),
    {
      metadata: { iteration: "54999", big: '"1180591620717411303424"', author: "x", flag: "true" },
      dropped: ["optimizer"],
    },
  );
});

/** A head like the frame decoder's end: class_embed, query_feat and a part Mask2Former lacks. */
class Head extends Module {
  readonly class_embed;
  readonly query_feat;
  readonly fusion;
  constructor(g: Generator) {
    super();
    this.class_embed = this.registerModule("class_embed", new Linear(4, 2, { generator: g }));
    this.query_feat = this.registerParameter("query_feat", ops.zeros([3, 4]));
    this.fusion = this.registerModule("fusion", new Linear(4, 4, { generator: g }));
  }
}

Deno.test("loadWeightsInto: non-strict fills what fits and reports exact lists; strict refuses", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const model = new Head(new Generator(1));
    const before = model.stateDict().get("class_embed.weight")!.dataSync().slice();
    const f32 = (shape: number[], v: number) => ({
      dtype: "F32" as const,
      shape,
      data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(v),
    });
    const file = `${dir}/init.safetensors`;
    await saveSafetensors(file, {
      "class_embed.weight": f32([81, 4], 1),
      "class_embed.bias": f32([2], 2),
      "static_query": f32([3, 4], 3),
      "criterion.empty_weight": f32([81], 4),
    });
    const logged: string[] = [];
    const { plan } = await loadWeightsInto(model, file, {
      rename: (k) => k.replace("static_query", "query_feat"),
      log: (t) => logged.push(t),
    });
    assertEquals(plan.filled.map((f) => f.key), ["query_feat", "class_embed.bias"]); // own parameters first
    assertEquals(plan.skipped.map((s) => s.key), ["class_embed.weight"]);
    assertEquals(plan.missing, ["class_embed.weight", "fusion.weight", "fusion.bias"]);
    assertEquals(plan.unused, ["criterion.empty_weight"]);
    const sd = model.stateDict();
    assertEquals([...sd.get("query_feat")!.dataSync()], new Array(12).fill(3));
    assertEquals([...sd.get("class_embed.bias")!.dataSync()], [2, 2]);
    assertEquals(sd.get("class_embed.weight")!.dataSync(), before); // skipped: still initial
    assertMatch(logged[0], /2 of 5 model tensors filled, 1 skipped for their shape, 3 left as initialised/);
    assertMatch(
      logged[0],
      /left as initialised \(3\):\n {2}class_embed\.weight\n {2}fusion\.\* \(all 2\)/,
    );

    // Strict (a full checkpoint): the same file is refused and nothing changes.
    const fresh = new Head(new Generator(2));
    const q0 = fresh.stateDict().get("query_feat")!.dataSync().slice();
    const err = await assertRejects(() => loadWeightsInto(fresh, file, { strict: true, log: () => {} }));
    assert(err instanceof WeightsLoadError);
    assertMatch(err.message, /does not match the model \(strict load\)/);
    assertEquals(fresh.stateDict().get("query_feat")!.dataSync(), q0);

    // A full checkpoint loads strictly; a prefixed model reads a bare one through ?matching_heuristics=True.
    const full = `${dir}/full.safetensors`;
    await saveSafetensors(full, {
      "class_embed.weight": f32([2, 4], 5),
      "class_embed.bias": f32([2], 6),
      "query_feat": f32([3, 4], 7),
      "fusion.weight": f32([4, 4], 8),
      "fusion.bias": f32([4], 9),
    });
    const strictLog: string[] = [];
    await loadWeightsInto(fresh, full, { strict: true, log: (t) => strictLog.push(t) });
    assertEquals([...fresh.stateDict().get("fusion.bias")!.dataSync()], [9, 9, 9, 9]);
    assertMatch(strictLog[0], /all 5 model tensors loaded \(strict\)/);

    class Wrapped extends Module {
      readonly head = this.registerModule("head", new Head(new Generator(3)));
    }
    const wrapped = new Wrapped();
    const r = await loadWeightsInto(wrapped, `${full}?matching_heuristics=True`, { log: () => {} });
    assertEquals(r.plan.filled.length, 5);
    assertEquals([...wrapped.stateDict().get("head.query_feat")!.dataSync()], new Array(12).fill(7));

    // A renamed key of the wrong shape fails like PyTorch's load_state_dict.
    await saveSafetensors(`${dir}/big.safetensors`, { static_query: f32([100, 4], 0) });
    await assertRejects(
      () =>
        loadWeightsInto(new Head(new Generator(4)), `${dir}/big.safetensors`, {
          rename: (k) => k.replace("static_query", "query_feat"),
        }),
      /cannot be loaded:[^]*size mismatch for query_feat/,
    );
    for (const m of [model, fresh, wrapped]) m.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

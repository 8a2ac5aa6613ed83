/**
 * Parameter groups on a small module tree shaped like the model's: the backbone multiplier (and its
 * "fusion" exception), no decay for norms (by class, subclasses and plugin-defined torch names
 * included) and Swin's position tables, the embedding decay, frozen and shared parameters.
 */
import { assertEquals, assertStrictEquals } from "../assert.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";
import { Embedding, GroupNorm, LayerNorm, Linear, Module } from "../../core/tensor/nn/mod.ts";
import { buildParamGroups, type ParamGroupOptions } from "../../core/engine/param_groups.ts";

await useBackend("cpu");

/** A module with named leaf parameters, for tables and position embeddings. */
class Holder extends Module {
  constructor(params: Record<string, number[]>, children: Record<string, Module> = {}) {
    super();
    for (const [name, shape] of Object.entries(params)) this.registerParameter(name, ops.zeros(shape));
    for (const [name, m] of Object.entries(children)) this.registerModule(name, m);
  }
}
/** A plugin's norm named like torch's: no decay, though core does not know the class. */
class BatchNorm2d extends Holder {
  constructor() {
    super({ weight: [2], bias: [2] });
  }
}
/** A subclass of a norm is a norm (isinstance). */
class FrozenStatsLayerNorm extends LayerNorm {}

const OPTS: ParamGroupOptions = {
  baseLr: 5e-5,
  weightDecay: 0.05,
  weightDecayNorm: 0.001, // distinct from 0 and from the embedding decay, to tell the rules apart
  weightDecayEmbed: 0.002,
  backboneMultiplier: 0.1,
};

function tree(): { root: Module; shared: Linear; frozen: Linear } {
  const shared = new Linear(2, 2);
  const frozen = new Linear(2, 2);
  frozen.requiresGrad(false);
  const backbone = new Holder({ absolute_pos_embed: [1, 4] }, {
    patch_embed: new Holder({}, { proj: new Linear(2, 4), norm: new LayerNorm(4) }),
    attn: new Holder({ relative_position_bias_table: [9, 2] }, { qkv: new Linear(4, 12, { bias: false }) }),
    fusion: new Holder({}, { proj: new Linear(4, 4, { bias: false }), norm: new FrozenStatsLayerNorm(4) }),
    bn: new BatchNorm2d(),
  });
  const head = new Holder({ query_feat: [3, 4] }, {
    query_embed: new Embedding(3, 4),
    norm: new GroupNorm(2, 4),
    frozen,
    shared,
    again: new Holder({}, { shared }),
  });
  return { root: new Holder({}, { backbone, head }), shared, frozen };
}

Deno.test("param groups: rate and decay per parameter as build_optimizer sets them", () => {
  const { root } = tree();
  const groups = buildParamGroups(root, OPTS);
  const got: Record<string, [number, number]> = {};
  for (const g of groups) {
    assertStrictEquals(g.names.length, g.params.length);
    for (const n of g.names) got[n] = [g.lr, g.weightDecay];
  }
  const bb = 5e-5 * 0.1;
  assertEquals(got, {
    "backbone.absolute_pos_embed": [bb, 0],
    "backbone.patch_embed.proj.weight": [bb, 0.05],
    "backbone.patch_embed.proj.bias": [bb, 0.05],
    "backbone.patch_embed.norm.weight": [bb, 0.001],
    "backbone.patch_embed.norm.bias": [bb, 0.001],
    "backbone.attn.relative_position_bias_table": [bb, 0],
    "backbone.attn.qkv.weight": [bb, 0.05],
    "backbone.fusion.proj.weight": [5e-5, 0.05],
    "backbone.fusion.norm.weight": [5e-5, 0.001],
    "backbone.fusion.norm.bias": [5e-5, 0.001],
    "backbone.bn.weight": [bb, 0.001],
    "backbone.bn.bias": [bb, 0.001],
    "head.query_feat": [5e-5, 0.05],
    "head.query_embed.weight": [5e-5, 0.002],
    "head.norm.weight": [5e-5, 0.001],
    "head.norm.bias": [5e-5, 0.001],
    "head.shared.weight": [5e-5, 0.05],
    "head.shared.bias": [5e-5, 0.05],
  });
  ops.dispose(root.parameters());
});

Deno.test("param groups: equal settings share a group, in order of first appearance", () => {
  const { root, shared, frozen } = tree();
  const groups = buildParamGroups(root, OPTS);
  assertEquals(groups.map((g) => [g.lr, g.weightDecay]), [
    [5e-5 * 0.1, 0],
    [5e-5 * 0.1, 0.05],
    [5e-5 * 0.1, 0.001],
    [5e-5, 0.05],
    [5e-5, 0.001],
    [5e-5, 0.002],
  ]);
  const all = groups.flatMap((g) => g.params);
  assertStrictEquals(new Set(all).size, all.length); // nothing twice
  assertStrictEquals(all.filter((p) => p === shared.weight).length, 1);
  assertStrictEquals(all.includes(frozen.weight), false);
  // Every trainable parameter is somewhere.
  assertStrictEquals(all.length, root.trainableParameters().length);
  ops.dispose(root.parameters());
});

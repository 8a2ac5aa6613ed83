/**
 * AdamW against torch.optim.AdamW's update worked out in float64: a scalar case by hand, a vector
 * case with changing gradients through the formula, parameters without gradients, the full-model
 * clipping wrapper, state export/restore and the tensor count across steps. The implementation runs
 * in float32, so values agree to float32 rounding (rtol 1e-6 on O(1) values).
 */
import { assertClose, assertEquals, assertStrictEquals, assertThrows } from "../assert.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";
import { Linear } from "../../core/tensor/nn/mod.ts";
import { AdamW, solverOptionsFromConfig } from "../../core/engine/optimizer.ts";
import { buildParamGroups } from "../../core/engine/param_groups.ts";

await useBackend("cpu");

const values = (t: ops.Tensor) => Array.from(ops.toArray(t));

/** The float64 AdamW update of torch for a vector, over a sequence of gradients. */
function adamwReference(p0: number[], gradSeq: number[][], lr: number, wd: number): number[] {
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  const p = [...p0];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  gradSeq.forEach((g, k) => {
    const t = k + 1;
    for (let i = 0; i < p.length; i++) {
      p[i] *= 1 - lr * wd;
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const denom = Math.sqrt(v[i]) / Math.sqrt(1 - b2 ** t) + eps;
      p[i] -= (lr / (1 - b1 ** t)) * m[i] / denom;
    }
  });
  return p;
}

function stepWith(opt: AdamW, grads: Record<string, number[]>, vars: Record<string, ops.Variable>): void {
  const record: Record<string, ops.Tensor> = {};
  for (const [k, g] of Object.entries(grads)) record[vars[k].name] = ops.tensor(g);
  opt.step(record);
  ops.dispose(record);
}

Deno.test("AdamW: scalar, constant gradient, worked by hand", () => {
  // p = 1, g = 1, lr = 0.1, wd = 0.1. With a constant gradient both bias-corrected moments are 1,
  // so each step is p ← 0.99·p − 0.1 / (1 + 1e-8):
  // 0.890000001, then 0.88110000099 − 0.099999999 = 0.78110000199, then 0.6732890029701.
  const w = ops.variable(ops.tensor([1]));
  const opt = new AdamW([{ lr: 0.1, weightDecay: 0.1, names: ["w"], params: [w] }]);
  const seen: number[] = [];
  for (let i = 0; i < 3; i++) {
    stepWith(opt, { w: [1] }, { w });
    seen.push(values(w)[0]);
  }
  assertClose(seen, [0.890000001, 0.78110000199, 0.6732890029701], { atol: 0, rtol: 1e-6 });
  opt.dispose();
  w.dispose();
});

Deno.test("AdamW: eps is added outside the root of the corrected second moment", () => {
  // g = 1e-8, lr = 1: m̂ = 1e-8, √v̂ = 1e-8, so p ← 0 − 1e-8 / (1e-8 + 1e-8) = −0.5
  // (eps inside the root would give about −1e-4).
  const w = ops.variable(ops.tensor([0]));
  const opt = new AdamW([{ lr: 1, weightDecay: 0, params: [w] }]);
  stepWith(opt, { w: [1e-8] }, { w });
  assertClose(values(w), [-0.5], { atol: 0, rtol: 1e-6 });
  opt.dispose();
  w.dispose();
});

Deno.test("AdamW: vector with changing gradients and two groups, against the float64 formula", () => {
  const p0 = [0.5, -1.25, 2.0, 0.0];
  const q0 = [1.5, -0.75];
  const pGrads = [[0.3, -0.2, 1.5, 0.01], [-0.1, -0.4, 0.8, 0.02], [0.05, 0.6, -2.0, -0.03]];
  const qGrads = [[10, -3], [0.5, 0.25], [-7, 1e-3]];
  const p = ops.variable(ops.tensor(p0));
  const q = ops.variable(ops.tensor(q0));
  const opt = new AdamW([
    { lr: 5e-3, weightDecay: 0.05, names: ["p"], params: [p] },
    { lr: 5e-4, weightDecay: 0, names: ["q"], params: [q] },
  ]);
  for (let t = 0; t < 3; t++) stepWith(opt, { p: pGrads[t], q: qGrads[t] }, { p, q });
  assertClose(values(p), adamwReference(p0, pGrads, 5e-3, 0.05), { atol: 1e-7, rtol: 1e-6, label: "p" });
  assertClose(values(q), adamwReference(q0, qGrads, 5e-4, 0), { atol: 1e-7, rtol: 1e-6, label: "q" });
  // The rate is read at each step: the scheduler's writes take effect.
  opt.groups[1].lr = 0;
  const before = values(q);
  stepWith(opt, { q: [1, 1] }, { p, q });
  assertEquals(values(q), before);
  opt.dispose();
  ops.dispose([p, q]);
});

Deno.test("AdamW: a parameter without a gradient is neither decayed nor counted", () => {
  const a = ops.variable(ops.tensor([1, 2]));
  const b = ops.variable(ops.tensor([3]));
  const opt = new AdamW([{ lr: 0.1, weightDecay: 0.5, names: ["a", "b"], params: [a, b] }]);
  stepWith(opt, { a: [1, 1] }, { a, b });
  assertEquals(values(b), [3]);
  stepWith(opt, { a: [1, 1], b: [2] }, { a, b });
  // b's first step: bias-corrected moments are g and g², so p ← 3·(1 − 0.05) − 0.1·2/(2 + 1e-8).
  assertClose(values(b), adamwReference([3], [[2]], 0.1, 0.5), { atol: 0, rtol: 1e-6 });
  assertEquals(opt.stateDict().steps, { a: 2, b: 1 });
  opt.dispose();
  ops.dispose([a, b]);
});

Deno.test("AdamW: full-model clipping scales every gradient by max/(norm + 1e-6) before the update", () => {
  // Gradients [3, 4] and [12]: joint norm 13, clipped to 0.01.
  const grads = { a: [3, 4], b: [12] };
  const scale = 0.01 / (13 + 1e-6);
  const make = () => [ops.variable(ops.tensor([1, -1])), ops.variable(ops.tensor([0.5]))];
  const [a1, b1] = make();
  const clipped = new AdamW([{ lr: 0.01, weightDecay: 0.05, params: [a1, b1] }], {
    clip: { type: "full_model", value: 0.01, normType: 2 },
  });
  const record = { [a1.name]: ops.tensor(grads.a), [b1.name]: ops.tensor(grads.b) };
  const info = clipped.step(record);
  assertClose([info.totalNorm!], [13], { atol: 0, rtol: 1e-7 });
  assertClose(values(record[a1.name]), [3 * scale, 4 * scale], { atol: 0, rtol: 1e-6 });
  ops.dispose(record);
  assertClose(values(a1), adamwReference([1, -1], [[3 * scale, 4 * scale]], 0.01, 0.05), {
    atol: 0,
    rtol: 1e-6,
  });
  assertClose(values(b1), adamwReference([0.5], [[12 * scale]], 0.01, 0.05), { atol: 0, rtol: 1e-6 });
  clipped.dispose();
  ops.dispose([a1, b1]);
});

Deno.test("AdamW: exported state restores the same next steps", () => {
  const model = new Linear(3, 2);
  const groups = buildParamGroups(model, {
    baseLr: 1e-2,
    weightDecay: 0.05,
    weightDecayNorm: 0,
    weightDecayEmbed: 0,
    backboneMultiplier: 0.1,
  });
  const opt = new AdamW(groups);
  const x = ops.tensor([[0.2, -0.4, 1.0], [1.5, 0.3, -0.7]]);
  const train = (o: AdamW, m: Linear) => {
    const { value, grads } = ops.valueAndGrads(
      () => ops.mean(ops.square(m.forward(x))),
      m.trainableParameters(),
    );
    o.step(grads);
    ops.dispose([value, grads]);
  };
  for (let i = 0; i < 3; i++) train(opt, model);
  const state = opt.stateDict();
  assertEquals([...state.tensors.keys()].sort(), [
    "bias.exp_avg",
    "bias.exp_avg_sq",
    "weight.exp_avg",
    "weight.exp_avg_sq",
  ]);
  assertEquals(state.steps, { weight: 3, bias: 3 });

  // A second model with the same weights and a fresh optimizer given the saved state.
  const copy = new Linear(3, 2);
  copy.loadStateDict(model.stateDict());
  const restored = new AdamW(buildParamGroups(copy, {
    baseLr: 1e-2,
    weightDecay: 0.05,
    weightDecayNorm: 0,
    weightDecayEmbed: 0,
    backboneMultiplier: 0.1,
  }));
  restored.loadStateDict(state);
  ops.dispose([...state.tensors.values()]); // the optimizer holds its own
  for (let i = 0; i < 2; i++) {
    train(opt, model);
    train(restored, copy);
  }
  assertEquals(values(copy.weight), values(model.weight));
  assertEquals(values(copy.bias!), values(model.bias!));
  for (const o of [opt, restored]) o.dispose();
  ops.dispose([x, ...model.parameters(), ...copy.parameters()]);
});

Deno.test("AdamW: loading a bad state reports every problem and loads nothing", () => {
  const w = ops.variable(ops.tensor([1, 2]));
  const opt = new AdamW([{ lr: 0.1, weightDecay: 0, names: ["w"], params: [w] }]);
  stepWith(opt, { w: [1, 1] }, { w });
  const bad = {
    tensors: new Map([["w.exp_avg", ops.zeros([3])], ["x.exp_avg", ops.zeros([1])]]),
    steps: { w: 4, y: 1 },
  };
  const e = assertThrows(() => opt.loadStateDict(bad));
  for (
    const part of [
      "w.exp_avg: shape [3]",
      "missing w.exp_avg_sq",
      "unknown parameter y",
      "x.exp_avg has no step",
    ]
  ) {
    assertStrictEquals(e.message.includes(part), true, `"${part}" in ${e.message}`);
  }
  const kept = opt.stateDict();
  assertEquals(kept.steps, { w: 1 });
  opt.dispose();
  ops.dispose([...bad.tensors.values(), ...kept.tensors.values(), w]);
});

Deno.test("AdamW: steps leave the tensor count unchanged apart from the first step's state", () => {
  const model = new Linear(4, 3);
  const opt = new AdamW([{ lr: 1e-3, weightDecay: 0.05, params: model.trainableParameters() }], {
    clip: { type: "full_model", value: 0.01 },
  });
  const x = ops.tensor([[1, 2, 3, 4]]);
  const train = () => {
    const { value, grads } = ops.valueAndGrads(() => ops.sum(model.forward(x)));
    opt.step(grads);
    ops.dispose([value, grads]);
  };
  const before = ops.numTensors();
  train();
  assertStrictEquals(ops.numTensors(), before + 2 * 2); // exp_avg and exp_avg_sq of weight and bias
  const after = ops.numTensors();
  for (let i = 0; i < 5; i++) train();
  assertStrictEquals(ops.numTensors(), after);
  opt.dispose();
  assertStrictEquals(ops.numTensors(), before);
  ops.dispose([x, ...model.parameters()]);
});

Deno.test("solver options from the paper config's SOLVER keys", () => {
  const SOLVER = {
    OPTIMIZER: "ADAMW",
    LR_SCHEDULER_NAME: "WarmupMultiStepLR",
    BASE_LR: 0.00005,
    WEIGHT_DECAY: 0.05,
    WEIGHT_DECAY_NORM: 0.0,
    WEIGHT_DECAY_EMBED: 0.0,
    BACKBONE_MULTIPLIER: 0.1,
    MAX_ITER: 55000,
    STEPS: [40000, 50000],
    GAMMA: 0.1,
    WARMUP_FACTOR: 1.0,
    WARMUP_ITERS: 10,
    WARMUP_METHOD: "linear",
    RESCALE_INTERVAL: false,
    IMS_PER_BATCH: 8,
    CLIP_GRADIENTS: { ENABLED: true, CLIP_TYPE: "full_model", CLIP_VALUE: 0.01, NORM_TYPE: 2.0 },
  };
  assertEquals(solverOptionsFromConfig({ SOLVER }), {
    paramGroups: {
      baseLr: 5e-5,
      weightDecay: 0.05,
      weightDecayNorm: 0,
      weightDecayEmbed: 0,
      backboneMultiplier: 0.1,
    },
    adamW: { clip: { type: "full_model", value: 0.01, normType: 2 } },
    schedule: {
      maxIter: 55000,
      steps: [40000, 50000],
      gamma: 0.1,
      warmupFactor: 1,
      warmupIters: 10,
      warmupMethod: "linear",
      rescaleInterval: false,
    },
    imsPerBatch: 8,
  });
  // The original skips a full-model clip whose value is not positive.
  const off = solverOptionsFromConfig({
    SOLVER: { ...SOLVER, CLIP_GRADIENTS: { ...SOLVER.CLIP_GRADIENTS, CLIP_VALUE: 0 } },
  });
  assertStrictEquals(off.adamW.clip, null);
  assertThrows(() => solverOptionsFromConfig({ SOLVER: { ...SOLVER, OPTIMIZER: "SGD" } }), "only ADAMW");
  assertThrows(
    () => solverOptionsFromConfig({ SOLVER: { ...SOLVER, BASE_LR: "x" } }),
    "SOLVER.BASE_LR expects a number",
  );
  const { GAMMA: _, ...noGamma } = SOLVER;
  assertThrows(() => solverOptionsFromConfig({ SOLVER: noGamma }), "SOLVER.GAMMA");
});

/**
 * Gradients of the frame-level losses (class cross-entropy, point BCE and dice through bilinear point
 * sampling) and of the contrastive loss against central finite differences on tiny cases, on the
 * reference `cpu` backend. The mask points are all uniform (`importanceSampleRatio` 0), so they do not
 * move when the logits are perturbed, and every evaluation replays the same draws. Tolerance: atol 2e-3
 * on gradients of order 0.01-1 (float32 central differences with step 1e-2: rounding ~1e-5, truncation
 * ~1e-4); a wrong chain rule (a missing sigmoid or softmax factor) is off by far more.
 * @module
 */
import { assert, assertClose, assertEquals } from "../assert.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";
import { Generator } from "../../core/random.ts";
import {
  generatorUniforms,
  HungarianMatcher,
  type MatchIndices,
  SetCriterion,
} from "../../plugins/mask2former/losses/mod.ts";
import { multiPosCrossEntropy } from "../../plugins/dshmp/losses/mod.ts";

const EPS = 1e-2;
const ATOL = 2e-3;

/** Central differences of `f` at every element of `x0`. */
function finiteDifferences(f: (x: Float32Array) => number, x0: Float32Array): Float32Array {
  const g = new Float32Array(x0.length);
  for (let i = 0; i < x0.length; i++) {
    const plus = Float32Array.from(x0);
    const minus = Float32Array.from(x0);
    plus[i] += EPS;
    minus[i] -= EPS;
    g[i] = (f(plus) - f(minus)) / (2 * EPS);
  }
  return g;
}

Deno.test("SetCriterion: gradients of loss_ce + loss_mask + loss_dice match finite differences", async () => {
  await useBackend("cpu");
  const g = new Generator(3);
  const draw = (n: number, scale: number) => g.fillNormal(new Float32Array(n), 0, scale) as Float32Array;
  const logits0 = draw(6, 1);
  const masks0 = draw(48, 2);
  const tgt = new Float32Array(2 * 8 * 8);
  for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) tgt[y * 8 + x] = x < 4 ? 1 : 0;
  for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) tgt[64 + y * 8 + x] = y > 2 && x > 2 ? 1 : 0;
  const targetMasks = ops.tensor(tgt, [2, 8, 8]);
  const targets = [{ labels: [0, 0], masks: targetMasks }];
  const criterion = new SetCriterion({
    numClasses: 1,
    matcher: new HungarianMatcher({ costClass: 2, costMask: 5, costDice: 5, numPoints: 6 }),
    weightDict: { loss_ce: 2, loss_mask: 5, loss_dice: 5 },
    eosCoef: 0.1,
    numPoints: 6,
    oversampleRatio: 1,
    importanceSampleRatio: 0,
  });
  const matches: MatchIndices[][] = [];
  const total = (logits: ops.Tensor, masks: ops.Tensor) => {
    const { losses, fgIndices } = criterion.forward(
      { predLogits: logits, predMasks: masks },
      targets,
      generatorUniforms(new Generator(11)),
    );
    matches.push(fgIndices[0]);
    const w = criterion.weightDict;
    return Object.entries(losses).map(([k, v]) => ops.mul(v, w[k])).reduce((a, b) => ops.add(a, b));
  };
  const lv = ops.variable(ops.tensor(logits0, [1, 3, 2]));
  const mv = ops.variable(ops.tensor(masks0, [1, 3, 4, 4]));
  const { value, grads } = ops.valueAndGrads(() => total(lv, mv), [lv, mv]);
  assert(Number.isFinite(ops.toArray(value)[0]));
  const evalWith = (logits: Float32Array, masks: Float32Array) =>
    ops.tidy(() => ops.toArray(total(ops.tensor(logits, [1, 3, 2]), ops.tensor(masks, [1, 3, 4, 4])))[0]);
  const fdLogits = finiteDifferences((x) => evalWith(x, masks0), logits0);
  const fdMasks = finiteDifferences((x) => evalWith(logits0, x), masks0);
  // The perturbations must not change the assignment, or the differences would mix two losses.
  assert(matches.every((m) => JSON.stringify(m) === JSON.stringify(matches[0])), "matching changed");
  assertEquals(matches[0][0].src.length, 2);
  const gl = ops.toArray(grads[lv.name]);
  const gm = ops.toArray(grads[mv.name]);
  assertClose(gl, fdLogits, { atol: ATOL, rtol: 0, label: "d/d logits" });
  assertClose(gm, fdMasks, { atol: ATOL, rtol: 0, label: "d/d mask logits" });
  // The unmatched query's mask gets no gradient; the matched ones do.
  const unmatched = [0, 1, 2].find((q) => !matches[0][0].src.includes(q))!;
  assert(gm.slice(unmatched * 16, unmatched * 16 + 16).every((v) => v === 0), "unmatched mask gradient");
  assert(gm.some((v) => Math.abs(v) > 1e-2), "matched masks get a gradient");
  ops.dispose([value, Object.values(grads), lv, mv, targetMasks]);
  criterion.dispose();
});

Deno.test("multiPosCrossEntropy: value by hand and gradient by finite differences", async () => {
  await useBackend("cpu");
  const label = [[1, 1, 0, 0]];
  const pred0 = Float32Array.of(1.5, -0.5, 0.7, 2.0);
  const cos0 = Float32Array.of(0.9, 0.1, -0.3, 0.6);
  // By hand: positives' exponentials halved, loss = 2 * -(mean log-prob of the positives) + aux.
  const e = Array.from(pred0, (v) => Math.exp(v - 2.0));
  const denom = e[0] / 2 + e[1] / 2 + e[2] + e[3];
  const lp = (i: number) => pred0[i] - 2.0 - Math.log(denom);
  const aux = ((0.9 - 1) ** 2 + (0.1 - 1) ** 2 + 0.3 ** 2 + 0.6 ** 2) / 4;
  const expected = 2 * -(lp(0) + lp(1)) / 2 + aux;
  const f = (p: Float32Array, c: Float32Array) =>
    ops.tidy(() => ops.toArray(multiPosCrossEntropy(ops.tensor(p, [1, 4]), ops.tensor(c, [1, 4]), label))[0]);
  assertClose([f(pred0, cos0)], [expected], { atol: 1e-6, rtol: 1e-6, label: "value" });
  const pv = ops.variable(ops.tensor(pred0, [1, 4]));
  const cv = ops.variable(ops.tensor(cos0, [1, 4]));
  const { value, grads } = ops.valueAndGrads(() => multiPosCrossEntropy(pv, cv, label), [pv, cv]);
  assertClose(ops.toArray(grads[pv.name]), finiteDifferences((x) => f(x, cos0), pred0), {
    atol: ATOL,
    rtol: 0,
    label: "d/d pred",
  });
  assertClose(ops.toArray(grads[cv.name]), finiteDifferences((x) => f(pred0, x), cos0), {
    atol: ATOL,
    rtol: 0,
    label: "d/d cosine",
  });
  ops.dispose([value, Object.values(grads), pv, cv]);
});

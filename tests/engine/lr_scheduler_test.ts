/**
 * The learning-rate schedule against values worked out by hand from detectron2's definition
 * (multiplier = warm-up factor × GAMMA^(milestones passed)), for the paper config and for a config
 * whose warm-up is not flat, plus fvcore's epsilon quirk at very long schedules and state restore.
 */
import { assertClose, assertEquals, assertStrictEquals, assertThrows } from "../assert.ts";
import { lrMultiplier, LRScheduler, type WarmupMultiStepOptions } from "../../core/engine/lr_scheduler.ts";

// configs/dshmp_swin_tiny.yaml's SOLVER, with detectron2's GAMMA and WARMUP_METHOD.
const PAPER: WarmupMultiStepOptions = {
  maxIter: 55000,
  steps: [40000, 50000],
  gamma: 0.1,
  warmupFactor: 1.0,
  warmupIters: 10,
  warmupMethod: "linear",
};
const BASE_LR = 5e-5;

Deno.test("paper schedule: learning rate at the checked iterations", () => {
  // WARMUP_FACTOR 1.0 makes the warm-up flat: 1 until 40000, 0.1 until 50000, 0.01 after.
  const expected: [number, number][] = [
    [0, 5e-5],
    [1, 5e-5],
    [9, 5e-5],
    [10, 5e-5],
    [11, 5e-5],
    [39999, 5e-5],
    [40000, 5e-6],
    [49999, 5e-6],
    [50000, 5e-7],
    [54999, 5e-7],
    [55000, 5e-7],
  ];
  const got = expected.map(([i]) => BASE_LR * lrMultiplier(i, PAPER));
  assertClose(got, expected.map(([, lr]) => lr), { atol: 0, rtol: 1e-14, label: "lr" });
});

Deno.test("paper schedule: the scheduler writes every group's rate per iteration", () => {
  const groups = [{ initialLr: BASE_LR, lr: 0 }, { initialLr: BASE_LR * 0.1, lr: 0 }];
  const sched = new LRScheduler(groups, PAPER);
  assertStrictEquals(sched.iteration, 0);
  const seen = new Map<number, [number, number]>();
  for (let i = 0; i <= 55000; i++) {
    if (i > 0) sched.step();
    if ([0, 39999, 40000, 49999, 50000, 55000].includes(i)) seen.set(i, [groups[0].lr, groups[1].lr]);
  }
  assertClose(seen.get(39999)!, [5e-5, 5e-6], { atol: 0, rtol: 1e-14 });
  assertClose(seen.get(40000)!, [5e-6, 5e-7], { atol: 0, rtol: 1e-14 });
  assertClose(seen.get(50000)!, [5e-7, 5e-8], { atol: 0, rtol: 1e-14 });
  assertClose(seen.get(55000)!, [5e-7, 5e-8], { atol: 0, rtol: 1e-14 });
  // Past MAX_ITER fvcore refuses (where > 1).
  assertThrows(() => sched.step(), "past MAX_ITER");
});

Deno.test("linear warm-up: factor·(1 − i/N) + i/N, then the steps", () => {
  // detectron2's defaults: WARMUP_FACTOR 0.001, WARMUP_ITERS 1000.
  const opts: WarmupMultiStepOptions = {
    maxIter: 90000,
    steps: [60000, 80000],
    warmupFactor: 0.001,
    warmupIters: 1000,
  };
  const hand = (i: number) => {
    const alpha = i / 1000;
    return 0.001 * (1 - alpha) + alpha;
  };
  for (const i of [0, 1, 250, 500, 999]) {
    assertClose([lrMultiplier(i, opts)], [hand(i)], { atol: 0, rtol: 1e-12, label: `iteration ${i}` });
  }
  assertStrictEquals(lrMultiplier(0, opts), 0.001);
  assertStrictEquals(lrMultiplier(1000, opts), 1);
  assertStrictEquals(lrMultiplier(59999, opts), 1);
  assertClose([lrMultiplier(60000, opts), lrMultiplier(80000, opts)], [0.1, 0.01], { atol: 0, rtol: 1e-15 });
});

Deno.test("constant warm-up holds the factor", () => {
  const opts: WarmupMultiStepOptions = {
    maxIter: 100,
    steps: [50],
    warmupFactor: 0.25,
    warmupIters: 10,
    warmupMethod: "constant",
  };
  assertEquals([0, 5, 9, 10, 49, 50].map((i) => lrMultiplier(i, opts)), [0.25, 0.25, 0.25, 1, 1, 0.1]);
});

Deno.test("fvcore's 1e-6 tolerance moves a milestone earlier on very long schedules", () => {
  // int((i / N + 1e-6) · N): with N = 2e6 the tolerance is 2 iterations, so the decay at 1e6
  // already applies at 999998 — as in the original.
  const opts: WarmupMultiStepOptions = {
    maxIter: 2_000_000,
    steps: [1_000_000],
    warmupFactor: 1,
    warmupIters: 0,
  };
  assertStrictEquals(lrMultiplier(999_997, opts), 1);
  assertStrictEquals(lrMultiplier(999_998, opts), 0.1);
});

Deno.test("invalid schedules are refused as fvcore refuses them", () => {
  assertThrows(() => lrMultiplier(0, { maxIter: 100, steps: [100] }), "smaller than MAX_ITER");
  assertThrows(() => lrMultiplier(0, { maxIter: 100, steps: [50, 40] }), "increasing");
  assertThrows(() => lrMultiplier(101, { maxIter: 100, steps: [50] }), "outside the schedule");
  // A step beyond MAX_ITER is dropped (detectron2 warns), not an error.
  assertStrictEquals(lrMultiplier(99, { maxIter: 100, steps: [50, 200], warmupIters: 0 }), 0.1);
});

Deno.test("scheduler state restores the same rates", () => {
  const a = [{ initialLr: 1e-3, lr: 0 }];
  const sched = new LRScheduler(a, { maxIter: 30, steps: [20], warmupFactor: 0.1, warmupIters: 10 });
  for (let i = 0; i < 14; i++) sched.step();
  const state = sched.stateDict();
  assertEquals(state, { lastIter: 14 });
  const b = [{ initialLr: 1e-3, lr: 0 }];
  const resumed = new LRScheduler(b, { maxIter: 30, steps: [20], warmupFactor: 0.1, warmupIters: 10 });
  resumed.loadStateDict(state);
  assertStrictEquals(b[0].lr, a[0].lr);
  for (let i = 0; i < 10; i++) {
    sched.step();
    resumed.step();
    assertStrictEquals(b[0].lr, a[0].lr);
  }
  assertClose([b[0].lr], [1e-4], { atol: 0, rtol: 1e-14 });
});

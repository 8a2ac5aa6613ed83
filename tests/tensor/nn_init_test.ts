/**
 * Initialisers: bounds, moments and determinism. Statistical checks use 2^17+ draws, so the sample
 * variance of a uniform or normal is within ~1% of its value with overwhelming probability; the
 * tolerance is 3%. The draws come from fixed seeds, so the checks are deterministic.
 * @module
 */
import { assert, assertEquals, assertThrows } from "../assert.ts";
import * as ops from "../../core/tensor/ops.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import { defaultGenerator, Generator, manualSeed } from "../../core/random.ts";
import { Conv2d, Embedding, init, Linear, MultiheadAttention } from "../../core/tensor/nn/mod.ts";

await useBackend("wasm");

function stats(v: ops.Tensor): { mean: number; variance: number; min: number; max: number } {
  const x = ops.toArray(v);
  let s = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const a of x) {
    s += a;
    min = Math.min(min, a);
    max = Math.max(max, a);
  }
  const mean = s / x.length;
  let q = 0;
  for (const a of x) q += (a - mean) ** 2;
  return { mean, variance: q / x.length, min, max };
}

function near(actual: number, expected: number, rel: number, what: string): void {
  assert(
    Math.abs(actual - expected) <= rel * Math.abs(expected),
    `${what}: ${actual} vs expected ${expected}`,
  );
}

function variable(shape: number[]): ops.Variable {
  return ops.variable(ops.zeros(shape));
}

Deno.test("fans: PyTorch's fan_in / fan_out for Linear and Conv weights", () => {
  assertEquals(init.fans([64, 32]), { fanIn: 32, fanOut: 64 });
  assertEquals(init.fans([16, 8, 3, 3]), { fanIn: 72, fanOut: 144 });
  assertThrows(() => init.fans([5]), "rank >= 2");
});

Deno.test("xavierUniform and kaiming: bounds and variances", () => {
  const g = new Generator(30);
  const w = variable([256, 512]);
  const xb = Math.sqrt(6 / (256 + 512));
  init.xavierUniform(w, { generator: g });
  let s = stats(w);
  assert(s.min >= -xb && s.max <= xb && s.max > 0.99 * xb);
  near(s.variance, (xb * xb) / 3, 0.03, "xavier variance");
  init.xavierUniform(w, { gain: 2, generator: g });
  near(stats(w).variance, (4 * xb * xb) / 3, 0.03, "xavier gain 2 variance");

  // Default Linear init: kaiming_uniform(a=√5) -> bound 1/√fan_in; bias U(±1/√fan_in).
  const fc = new Linear(512, 256, { generator: g });
  s = stats(fc.weight);
  const kb = 1 / Math.sqrt(512);
  assert(s.min >= -kb && s.max <= kb && s.max > 0.99 * kb);
  near(s.variance, (kb * kb) / 3, 0.03, "default Linear weight variance");
  const b = stats(fc.bias!);
  assert(b.min >= -kb && b.max <= kb && b.max - b.min > kb, "default Linear bias range");

  // c2_xavier_fill: kaiming_uniform(a=1) -> std 1/√fan_in, bias 0.
  const conv = new Conv2d(64, 128, 3, { generator: g });
  init.c2XavierFill(conv, { generator: g });
  near(stats(conv.weight).variance, 1 / (64 * 9), 0.03, "c2_xavier_fill variance");
  assert(ops.toArray(conv.bias!).every((x) => x === 0));

  // c2_msra_fill: kaiming_normal(fan_out, relu) -> std √(2 / fan_out).
  init.c2MsraFill(conv, { generator: g });
  s = stats(conv.weight);
  near(s.variance, 2 / (128 * 9), 0.03, "c2_msra_fill variance");
  assert(Math.abs(s.mean) < 0.02 * Math.sqrt(s.variance), "c2_msra_fill mean (5 standard errors)");
  for (const v of [w, ...fc.parameters(), ...conv.parameters()]) v.dispose();
});

Deno.test("truncNormal: timm's absolute bounds, truncated-normal moments", () => {
  const g = new Generator(31);
  const w = variable([512, 256]);
  init.truncNormal(w, { std: 0.02, generator: g });
  let s = stats(w);
  near(s.variance, 0.02 ** 2, 0.03, "trunc_normal std .02 (bounds ±2 are 100σ away)");
  // A real truncation: N(0, 1) on [-0.5, 0.5] has variance 1 - 2aφ(a)/(2Φ(a) - 1) at a = 0.5.
  init.truncNormal(w, { a: -0.5, b: 0.5, generator: g });
  s = stats(w);
  const phi = Math.exp(-0.125) / Math.sqrt(2 * Math.PI);
  const mass = 0.38292492254802624; // Φ(0.5) - Φ(-0.5)
  assert(s.min >= -0.5 && s.max <= 0.5);
  near(s.variance, 1 - (2 * 0.5 * phi) / mass, 0.03, "truncated variance");
  assertThrows(() => init.truncNormal(w, { a: 1, b: 0 }), "needs a < b");
  w.dispose();
});

Deno.test("normal, uniform, constant, zeros, ones", () => {
  const g = new Generator(32);
  const w = variable([400, 400]);
  init.normal(w, 3, 0.5, { generator: g });
  const s = stats(w);
  near(s.mean, 3, 0.01, "normal mean");
  near(s.variance, 0.25, 0.03, "normal variance");
  init.uniform(w, -2, 6, { generator: g });
  const u = stats(w);
  assert(u.min >= -2 && u.max < 6);
  near(u.variance, 64 / 12, 0.03, "uniform variance");
  init.constant(w, 0.25);
  assert(ops.toArray(w).every((x) => x === 0.25));
  init.ones(w);
  assert(ops.toArray(w).every((x) => x === 1));
  init.zeros(w);
  assert(ops.toArray(w).every((x) => x === 0));
  w.dispose();
});

Deno.test("determinism: the same seed gives the same weights; modules draw from the given generator", () => {
  const build = (seed: number) => {
    const g = new Generator(seed);
    return [
      new Linear(6, 4, { generator: g }),
      new MultiheadAttention(8, 2, { generator: g }),
      new Embedding(5, 3, { generator: g }),
    ];
  };
  const flat = (ms: { parameters(): ops.Variable[] }[]) =>
    ms.flatMap((m) => m.parameters().flatMap((p) => Array.from(ops.toArray(p))));
  const a = build(7);
  const b = build(7);
  const c = build(8);
  assertEquals(flat(a), flat(b));
  assert(flat(a).some((x, i) => x !== flat(c)[i]));

  // Without a generator, modules use the process-wide one: manualSeed reproduces them.
  manualSeed(99);
  const d = new Linear(6, 4);
  manualSeed(99);
  const e = new Linear(6, 4);
  assertEquals(flat([d]), flat([e]));
  const state = JSON.stringify(defaultGenerator().getState());
  const f = new Linear(6, 4, { generator: new Generator(1) });
  assertEquals(
    JSON.stringify(defaultGenerator().getState()),
    state,
    "an explicit generator leaves the global one alone",
  );
  for (const m of [...a, ...b, ...c, d, e, f]) m.dispose();
});

/**
 * Parameter initialisers with PyTorch's (`torch.nn.init`), detectron2's (`c2_xavier_fill`,
 * `c2_msra_fill`) and timm's (`trunc_normal_`) formulas. Each assigns a new value to a variable in
 * place and draws from a {@link Generator} (the process-wide one unless `generator` is given), so the
 * same seed gives the same weights. Values are drawn in float64 and stored as float32, row-major.
 *
 * @example
 * ```ts
 * import { Generator } from "../../random.ts";
 * import { Linear } from "./linear.ts";
 * import { c2XavierFill, xavierUniform } from "./init.ts";
 * const g = new Generator(0);
 * const fc = new Linear(256, 256, { generator: g });
 * xavierUniform(fc.weight, { generator: g });
 * c2XavierFill(fc, { generator: g }); // kaiming_uniform(a=1) weight, zero bias
 * ```
 * @module
 */
import * as ops from "../ops.ts";
import type { Variable } from "../ops.ts";
import { defaultGenerator, type Generator } from "../../random.ts";

/** Where an initialiser draws from. */
export interface InitOptions {
  generator?: Generator;
}

/** PyTorch's fan-in and fan-out of a weight `[out, in, ...kernel]`. */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) {
    throw new Error(`fan in and fan out need a weight of rank >= 2, got shape [${shape}]`);
  }
  const receptive = shape.slice(2).reduce((p, d) => p * d, 1);
  return { fanIn: shape[1] * receptive, fanOut: shape[0] * receptive };
}

/** PyTorch's `calculate_gain` for the nonlinearities the initialisers use. */
export function calculateGain(nonlinearity: "linear" | "relu" | "leaky_relu" | "tanh" | "sigmoid", a = 0.01) {
  switch (nonlinearity) {
    case "linear":
    case "sigmoid":
      return 1;
    case "relu":
      return Math.SQRT2;
    case "leaky_relu":
      return Math.sqrt(2 / (1 + a * a));
    case "tanh":
      return 5 / 3;
  }
}

/** Fills `v` with U(low, high). */
export function uniform(v: Variable, low = 0, high = 1, { generator }: InitOptions = {}): Variable {
  return fill(v, (out) => gen(generator).fillUniform(out, low, high));
}

/** Fills `v` with N(mean, std²). */
export function normal(v: Variable, mean = 0, std = 1, { generator }: InitOptions = {}): Variable {
  return fill(v, (out) => gen(generator).fillNormal(out, mean, std));
}

/** Fills `v` with `value` (draws nothing). */
export function constant(v: Variable, value: number): Variable {
  return fill(v, (out) => out.fill(value));
}

/** Fills `v` with zeros. */
export function zeros(v: Variable): Variable {
  return constant(v, 0);
}

/** Fills `v` with ones. */
export function ones(v: Variable): Variable {
  return constant(v, 1);
}

/** Glorot uniform: U(±gain·√(6 / (fan_in + fan_out))). */
export function xavierUniform(
  v: Variable,
  { gain = 1, generator }: InitOptions & { gain?: number } = {},
): Variable {
  const { fanIn, fanOut } = fans(v.shape);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform(v, -bound, bound, { generator });
}

/** Options of the He initialisers. */
export interface KaimingOptions extends InitOptions {
  /** Negative slope of the leaky ReLU (default 0). */
  a?: number;
  /** Preserve the variance of the forward (`fan_in`, default) or backward (`fan_out`) pass. */
  mode?: "fan_in" | "fan_out";
  /** Default `leaky_relu`, as in PyTorch. */
  nonlinearity?: "relu" | "leaky_relu" | "linear";
}

/** He uniform: U(±gain·√(3 / fan)), PyTorch's `kaiming_uniform_`. */
export function kaimingUniform(v: Variable, opts: KaimingOptions = {}): Variable {
  const bound = Math.sqrt(3) * kaimingStd(v.shape, opts);
  return uniform(v, -bound, bound, opts);
}

/** He normal: N(0, (gain / √fan)²), PyTorch's `kaiming_normal_`. */
export function kaimingNormal(v: Variable, opts: KaimingOptions = {}): Variable {
  return normal(v, 0, kaimingStd(v.shape, opts), opts);
}

function kaimingStd(
  shape: readonly number[],
  { a = 0, mode = "fan_in", nonlinearity = "leaky_relu" }: KaimingOptions,
) {
  const { fanIn, fanOut } = fans(shape);
  return calculateGain(nonlinearity, a) / Math.sqrt(mode === "fan_in" ? fanIn : fanOut);
}

/**
 * Normal N(mean, std²) truncated to `[a, b]` — bounds in absolute units (timm's `trunc_normal_`,
 * default ±2). Out-of-range draws are redrawn, which gives exactly the truncated distribution.
 */
export function truncNormal(
  v: Variable,
  { mean = 0, std = 1, a = -2, b = 2, generator }: InitOptions & {
    mean?: number;
    std?: number;
    a?: number;
    b?: number;
  } = {},
): Variable {
  if (!(a < b)) throw new Error(`truncNormal needs a < b, got [${a}, ${b}]`);
  const g = gen(generator);
  return fill(v, (out) => {
    for (let i = 0; i < out.length; i++) {
      let x = mean + std * g.normal();
      // A guard against an interval far out in the tail, where redrawing would never end.
      for (let tries = 1; x < a || x > b; tries++) {
        if (tries === 10000) {
          throw new Error(`truncNormal: [${a}, ${b}] holds almost no mass of N(${mean}, ${std}²)`);
        }
        x = mean + std * g.normal();
      }
      out[i] = x;
    }
  });
}

/** A module with a weight and an optional bias (Linear, Conv2d). */
export interface WeightAndBias {
  weight: Variable;
  bias: Variable | null;
}

/** PyTorch's default Linear / Conv init: kaiming_uniform(a=√5) weight, bias U(±1/√fan_in). */
export function defaultLinearInit(m: WeightAndBias, { generator }: InitOptions = {}): void {
  kaimingUniform(m.weight, { a: Math.sqrt(5), generator });
  if (m.bias) {
    const { fanIn } = fans(m.weight.shape);
    const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
    uniform(m.bias, -bound, bound, { generator });
  }
}

/** detectron2's `c2_xavier_fill`: kaiming_uniform(a=1) weight (Caffe2's XavierFill), zero bias. */
export function c2XavierFill(m: WeightAndBias, { generator }: InitOptions = {}): void {
  kaimingUniform(m.weight, { a: 1, generator });
  if (m.bias) zeros(m.bias);
}

/** detectron2's `c2_msra_fill`: kaiming_normal(fan_out, relu) weight, zero bias. */
export function c2MsraFill(m: WeightAndBias, { generator }: InitOptions = {}): void {
  kaimingNormal(m.weight, { mode: "fan_out", nonlinearity: "relu", generator });
  if (m.bias) zeros(m.bias);
}

function gen(g: Generator | undefined): Generator {
  return g ?? defaultGenerator();
}

function fill(v: Variable, draw: (out: Float64Array) => void): Variable {
  if (v.dtype !== "float32") throw new Error(`initialisers fill float32 variables, got ${v.dtype}`);
  const out = new Float64Array(v.size);
  draw(out);
  const t = ops.tensor(Float32Array.from(out), v.shape);
  v.assign(t);
  ops.dispose(t);
  return v;
}

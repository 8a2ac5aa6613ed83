/**
 * Shared helpers of the tensor tests: backend loops, seeded data and float64 finite differences.
 * @module
 */
import { Generator } from "../../core/random.ts";
import { type BackendName, useBackend } from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";

/** The backends every op is checked on (webgpu has its own test where an adapter exists). */
export const BACKENDS: BackendName[] = ["wasm", "cpu"];

/** Runs `fn` once per backend, with that backend active. */
export async function onBackends(fn: (backend: BackendName) => void | Promise<void>): Promise<void> {
  for (const b of BACKENDS) {
    await useBackend(b);
    await fn(b);
  }
}

/** `n` normal values from a seeded generator, as float64. */
export function normals(n: number, seed: number, scale = 1): Float64Array {
  const out = new Float64Array(n);
  new Generator(seed).fillNormal(out, 0, scale);
  return out;
}

/** Uniform values in [lo, hi) from a seeded generator, as float64. */
export function uniforms(n: number, seed: number, lo: number, hi: number): Float64Array {
  const out = new Float64Array(n);
  new Generator(seed).fillUniform(out, lo, hi);
  return out;
}

/** A float32 tensor of `data` (rounded from float64). */
export function t(data: ArrayLike<number>, shape: number[]): ops.Tensor {
  return ops.tensor(Float32Array.from(data), shape);
}

/** The values of `x` as plain numbers (disposes nothing). */
export function values(x: ops.Tensor): number[] {
  return Array.from(ops.toArray(x));
}

/**
 * Central finite differences of `sum(f(x) * r)` in float64, one input element at a time: the
 * reference gradient for TF.js's float32 analytic one.
 */
export function fdGrad(
  f: (x: Float64Array) => ArrayLike<number>,
  x: Float64Array,
  r: ArrayLike<number>,
  h = 1e-6,
): Float64Array {
  const g = new Float64Array(x.length);
  const dot = (y: ArrayLike<number>) => {
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i] * r[i];
    return s;
  };
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    x[i] = v + h;
    const up = dot(f(x));
    x[i] = v - h;
    const down = dot(f(x));
    x[i] = v;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

/** Deep equality. */
export { assertEquals as eq } from "../assert.ts";

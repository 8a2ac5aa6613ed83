/**
 * Micro-benchmarks of the ops that dominate DsHmp's cost, on the active backend: a 1024^3 matmul,
 * conv2d (native forward, and the im2col path that training takes, forward + backward), bilinear
 * gridSample (the MSDeformAttn sampler; forward, and forward + backward) and a rank-5 permute.
 * `deno task bench` prints them.
 *
 * @example
 * ```ts
 * import { useBackend } from "./backend.ts";
 * import { benchOps } from "./bench.ts";
 * await useBackend("wasm");
 * for (const r of await benchOps({ repeats: 3 })) console.log(r.name, r.rate.toFixed(1), r.unit);
 * ```
 * @module
 */
import { Generator } from "../random.ts";
import { activeBackend } from "./backend.ts";
import * as ops from "./ops.ts";

/** One benchmark's best-of-`repeats` timing. */
export interface BenchResult {
  name: string;
  /** Best wall time of one run, milliseconds. */
  ms: number;
  /** Work per second in `unit`. */
  rate: number;
  unit: string;
  /** The backend it ran on, with its thread count for wasm. */
  backend: string;
}

/** Runs `fn` once to warm up, then `repeats` times; the best time, waiting for the values. */
async function best(repeats: number, fn: () => ops.Tensor): Promise<number> {
  let bestMs = Infinity;
  for (let i = 0; i <= repeats; i++) {
    const t0 = performance.now();
    const y = fn();
    await y.data(); // data() rather than dataSync(): webgpu supports only the former
    const ms = performance.now() - t0;
    y.dispose();
    if (i > 0) bestMs = Math.min(bestMs, ms);
  }
  return bestMs;
}

/**
 * Times the benchmark ops on the active backend (select it first with `useBackend`).
 *
 * @param opts.repeats timed runs per op after one warm-up (default 3); the best counts.
 * @param opts.log called with one formatted line per result.
 */
export async function benchOps(
  opts: { repeats?: number; log?: (line: string) => void } = {},
): Promise<BenchResult[]> {
  const repeats = opts.repeats ?? 3;
  const info = activeBackend();
  const backend = info ? `${info.name}${info.threads ? ` (${info.threads} threads)` : ""}` : "unselected";
  const g = new Generator(0);
  const results: BenchResult[] = [];
  const record = (name: string, ms: number, work: number, unit: string) => {
    const r = { name, ms, rate: work / (ms / 1000), unit, backend };
    results.push(r);
    opts.log?.(
      `${backend}  ${name.padEnd(40)} ${ms.toFixed(1).padStart(9)} ms  ${r.rate.toFixed(2)} ${unit}`,
    );
  };

  const a = ops.randn([1024, 1024], g);
  const b = ops.randn([1024, 1024], g);
  record("matmul 1024^3", await best(repeats, () => ops.matmul(a, b)), 2 * 1024 ** 3 / 1e9, "GFLOP/s");
  ops.dispose([a, b]);

  // A pixel-decoder-like 3x3 convolution: 256 -> 256 channels on 32x32.
  const [c, hw] = [256, 32];
  const x = ops.randn([1, c, hw, hw], g);
  const w = ops.mul(ops.randn([c, c, 3, 3], g), 0.02);
  const convFlops = 2 * c * c * 9 * hw * hw / 1e9;
  record(
    "conv2d 3x3 256->256 32x32 forward",
    await best(repeats, () => ops.conv2d(x, w, null, { padding: 1 })),
    convFlops,
    "GFLOP/s",
  );
  const wv = ops.variable(w.clone());
  record(
    "conv2d same, forward+backward (im2col)",
    await best(repeats, () => {
      const { value, grads } = ops.valueAndGrads(() => ops.sum(ops.conv2d(x, wv, null, { padding: 1 })), [
        wv,
      ]);
      ops.dispose(grads);
      return value;
    }),
    3 * convFlops,
    "GFLOP/s",
  );
  ops.dispose([x, w, wv]);

  // MSDeformAttn-like sampling: 8 heads x 32 channels, 64x64 map, 4096 queries x 4 points.
  const value = ops.randn([8, 32, 64, 64], g);
  const grid = ops.sub(ops.mul(ops.rand([8, 4096, 4, 2], g), 2), 1);
  const samples = 8 * 4096 * 4 / 1e6;
  record(
    "gridSample 8x32x64x64, 131k points",
    await best(repeats, () => ops.gridSample(value, grid)),
    samples,
    "Msamples/s",
  );
  const valueV = ops.variable(value.clone());
  const gridV = ops.variable(grid.clone());
  record(
    "gridSample same, forward+backward",
    await best(repeats, () => {
      const { value: loss, grads } = ops.valueAndGrads(
        () => ops.sum(ops.square(ops.gridSample(valueV, gridV))),
        [valueV, gridV],
      );
      ops.dispose(grads);
      return loss;
    }),
    3 * samples,
    "Msamples/s",
  );
  ops.dispose([value, grid, valueV, gridV]);

  // Swin's qkv split: a rank-5 permute that moves the leading axis.
  const qkv = ops.randn([322, 49, 3, 3, 32], g);
  record(
    "permute [322,49,3,3,32] by [2,0,3,1,4]",
    await best(repeats, () => ops.permute(qkv, [2, 0, 3, 1, 4])),
    qkv.size / 1e6,
    "Melements/s",
  );
  qkv.dispose();
  return results;
}

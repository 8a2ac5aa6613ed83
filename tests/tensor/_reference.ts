/**
 * Plain-TypeScript float64 references of PyTorch's kernels for the tensor tests (written from the
 * definitions and PyTorch's CPU kernels' formulas, independently of core/tensor).
 * @module
 */
import type { Conv2dOptions } from "../../core/tensor/ops.ts";

const f32 = Math.fround;

/** PyTorch's upsample_bilinear2d on one [H, W] plane, position math in float32 as its CPU kernel. */
export function naiveBilinear(
  x: ArrayLike<number>,
  h: number,
  w: number,
  ho: number,
  wo: number,
  align: boolean,
  scale?: number,
): Float64Array {
  const srcOf = (d: number, inS: number, outS: number) => {
    if (align) {
      const r = outS > 1 ? f32((inS - 1) / (outS - 1)) : 0;
      return f32(r * d);
    }
    const r = scale ? f32(1 / scale) : f32(inS / outS);
    const s = f32(f32(r * f32(d + 0.5)) - 0.5);
    return s < 0 ? 0 : s;
  };
  const out = new Float64Array(ho * wo);
  for (let oy = 0; oy < ho; oy++) {
    const sy = srcOf(oy, h, ho);
    const y0 = Math.floor(sy);
    const y1 = y0 < h - 1 ? y0 + 1 : y0;
    const ly1 = f32(sy - y0);
    const ly0 = f32(1 - ly1);
    for (let ox = 0; ox < wo; ox++) {
      const sx = srcOf(ox, w, wo);
      const x0 = Math.floor(sx);
      const x1 = x0 < w - 1 ? x0 + 1 : x0;
      const lx1 = f32(sx - x0);
      const lx0 = f32(1 - lx1);
      out[oy * wo + ox] = ly0 * (lx0 * x[y0 * w + x0] + lx1 * x[y0 * w + x1]) +
        ly1 * (lx0 * x[y1 * w + x0] + lx1 * x[y1 * w + x1]);
    }
  }
  return out;
}

/** PyTorch's grid_sampler_2d, bilinear, zeros padding, in float64. */
export function naiveGridSample(
  x: ArrayLike<number>,
  [n, c, h, w]: number[],
  grid: ArrayLike<number>,
  hg: number,
  wg: number,
  align: boolean,
): Float64Array {
  const out = new Float64Array(n * c * hg * wg);
  const un = (g: number, size: number) => (align ? ((g + 1) / 2) * (size - 1) : ((g + 1) * size - 1) / 2);
  for (let b = 0; b < n; b++) {
    for (let p = 0; p < hg * wg; p++) {
      const ix = un(grid[(b * hg * wg + p) * 2], w);
      const iy = un(grid[(b * hg * wg + p) * 2 + 1], h);
      const x0 = Math.floor(ix);
      const y0 = Math.floor(iy);
      const taps: [number, number, number][] = [
        [x0, y0, (x0 + 1 - ix) * (y0 + 1 - iy)],
        [x0 + 1, y0, (ix - x0) * (y0 + 1 - iy)],
        [x0, y0 + 1, (x0 + 1 - ix) * (iy - y0)],
        [x0 + 1, y0 + 1, (ix - x0) * (iy - y0)],
      ];
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (const [tx, ty, wt] of taps) {
          if (tx >= 0 && tx < w && ty >= 0 && ty < h) s += wt * x[((b * c + ch) * h + ty) * w + tx];
        }
        out[(b * c + ch) * hg * wg + p] = s;
      }
    }
  }
  return out;
}

/** A conv2d test case. */
export interface Case {
  n: number;
  c: number;
  h: number;
  w: number;
  o: number;
  k: [number, number];
  opts: Conv2dOptions;
}

/** `F.conv2d` by its definition, in float64. */
export function naiveConv2d(
  x: ArrayLike<number>,
  wt: ArrayLike<number>,
  bias: ArrayLike<number> | null,
  { n, c, h, w, o, k: [kh, kw], opts }: Case,
): { out: Float64Array; shape: number[] } {
  const two = (v: number | [number, number] | undefined, d: number) =>
    v === undefined ? [d, d] : typeof v === "number" ? [v, v] : v;
  const [sh, sw] = two(opts.stride, 1);
  const [ph, pw] = two(opts.padding, 0);
  const [dh, dw] = two(opts.dilation, 1);
  const g = opts.groups ?? 1;
  const cg = c / g;
  const og = o / g;
  const ho = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const wo = Math.floor((w + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  const out = new Float64Array(n * o * ho * wo);
  for (let b = 0; b < n; b++) {
    for (let oc = 0; oc < o; oc++) {
      const grp = Math.floor(oc / og);
      for (let y = 0; y < ho; y++) {
        for (let xx = 0; xx < wo; xx++) {
          let s = bias ? bias[oc] : 0;
          for (let ic = 0; ic < cg; ic++) {
            for (let i = 0; i < kh; i++) {
              for (let j = 0; j < kw; j++) {
                const iy = y * sh - ph + i * dh;
                const ix = xx * sw - pw + j * dw;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                s += x[((b * c + grp * cg + ic) * h + iy) * w + ix] * wt[((oc * cg + ic) * kh + i) * kw + j];
              }
            }
          }
          out[((b * o + oc) * ho + y) * wo + xx] = s;
        }
      }
    }
  }
  return { out, shape: [n, o, ho, wo] };
}

/** Normalisation over groups of `groupSize` consecutive elements, float64, biased variance. */
export function naiveNormalize(x: ArrayLike<number>, groupSize: number, eps: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let s = 0; s < x.length; s += groupSize) {
    let m = 0;
    for (let i = 0; i < groupSize; i++) m += x[s + i];
    m /= groupSize;
    let v = 0;
    for (let i = 0; i < groupSize; i++) v += (x[s + i] - m) ** 2;
    v /= groupSize;
    for (let i = 0; i < groupSize; i++) out[s + i] = (x[s + i] - m) / Math.sqrt(v + eps);
  }
  return out;
}

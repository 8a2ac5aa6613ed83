/**
 * Sine position encodings as DsHmp's `position_encoding.py` (the DETR / Mask2Former form):
 * {@link PositionEmbeddingSine} over image rows and columns and {@link PositionEmbeddingSine1D} over
 * the time axis. They have no parameters; the tables are computed in TypeScript with float32 rounding
 * at each step, in the original's operation order, so they agree with PyTorch's float32 values to
 * about an ulp of the sine argument.
 *
 * @example
 * ```ts
 * import { PositionEmbeddingSine } from "./position_encoding.ts";
 * import * as ops from "../ops.ts";
 * const pe = new PositionEmbeddingSine(128, { normalize: true }); // N_steps = hidden_dim / 2
 * pe.forward(ops.zeros([2, 256, 8, 12])); // [2, 256, 8, 12]
 * ```
 * @module
 */
import * as ops from "../ops.ts";
import type { Tensor } from "../ops.ts";
import { Module } from "./module.ts";

/** Options of the sine encodings. */
export interface PositionEmbeddingOptions {
  /** Base of the frequency ladder (default 10000). */
  temperature?: number;
  /** Scale positions to `[0, scale]` by the last position (default false). */
  normalize?: boolean;
  /** The normalised range (default 2π; only with `normalize`). */
  scale?: number;
}

const f32 = Math.fround;
const EPS = f32(1e-6);

/** Frequencies `temperature^(2⌊i/2⌋ / n)` for `i < n`, in float32 like `torch.arange(n).float()`. */
function frequencies(n: number, temperature: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = f32(Math.pow(temperature, f32(f32(2 * Math.floor(i / 2)) / n)));
  return out;
}

/** Channel `j` of the interleaved sin/cos table at position `p`. */
function sinCos(p: number, dimT: Float32Array, j: number): number {
  const a = f32(p / dimT[j]);
  return j % 2 === 0 ? Math.sin(a) : Math.cos(a);
}

abstract class SineBase extends Module {
  readonly temperature: number;
  readonly normalize: boolean;
  readonly scale: number;

  constructor(readonly numPosFeats: number, opts: PositionEmbeddingOptions) {
    super();
    this.temperature = opts.temperature ?? 10000;
    this.normalize = opts.normalize ?? false;
    if (opts.scale !== undefined && !this.normalize) {
      throw new Error("PositionEmbeddingSine: a scale needs normalize: true");
    }
    this.scale = opts.scale ?? 2 * Math.PI;
  }

  /** Reads a bool mask (true = padding) as 0/1 bytes, checking its shape. */
  protected maskData(mask: Tensor | null | undefined, shape: number[]): Uint8Array | null {
    if (!mask) return null;
    if (mask.dtype !== "bool" || mask.rank !== shape.length || mask.shape.some((d, i) => d !== shape[i])) {
      throw new Error(
        `${this.constructor.name}: mask must be bool [${shape}], got ${mask.dtype} [${mask.shape}]`,
      );
    }
    return ops.toArray(mask) as Uint8Array;
  }

  /** Running count of unpadded positions, normalised by the last one when asked. */
  protected embed(count: number, last: number): number {
    return this.normalize ? f32(f32(count / f32(last + EPS)) * f32(this.scale)) : count;
  }
}

/**
 * The 2-D encoding: for `x` `[B, C, H, W]` (only its shape is used) and an optional bool padding mask
 * `[B, H, W]`, a `[B, 2·numPosFeats, H, W]` table whose first half encodes the row, second half the
 * column.
 */
export class PositionEmbeddingSine extends SineBase {
  constructor(numPosFeats = 64, opts: PositionEmbeddingOptions = {}) {
    super(numPosFeats, opts);
  }

  /** The encoding for `x`'s batch and spatial size. */
  forward(x: Tensor, mask: Tensor | null = null): Tensor {
    if (x.rank !== 4) throw new Error(`PositionEmbeddingSine: input must be [B, C, H, W], got [${x.shape}]`);
    const [B, , H, W] = x.shape;
    const m = this.maskData(mask, [B, H, W]);
    const n = this.numPosFeats;
    const dimT = frequencies(n, this.temperature);
    const HW = H * W;
    const out = new Float32Array(B * 2 * n * HW);
    const yEmbed = new Float64Array(HW);
    const xEmbed = new Float64Array(HW);
    for (let b = 0; b < B; b++) {
      // Cumulative counts of unpadded pixels down each column (y) and along each row (x).
      const off = b * HW;
      for (let w = 0; w < W; w++) {
        let c = 0;
        for (let h = 0; h < H; h++) yEmbed[h * W + w] = c += m && m[off + h * W + w] ? 0 : 1;
        for (let h = 0; h < H; h++) yEmbed[h * W + w] = this.embed(yEmbed[h * W + w], c);
      }
      for (let h = 0; h < H; h++) {
        let c = 0;
        for (let w = 0; w < W; w++) xEmbed[h * W + w] = c += m && m[off + h * W + w] ? 0 : 1;
        for (let w = 0; w < W; w++) xEmbed[h * W + w] = this.embed(xEmbed[h * W + w], c);
      }
      for (let j = 0; j < n; j++) {
        const oy = (b * 2 * n + j) * HW;
        const ox = (b * 2 * n + n + j) * HW;
        for (let i = 0; i < HW; i++) {
          out[oy + i] = sinCos(yEmbed[i], dimT, j);
          out[ox + i] = sinCos(xEmbed[i], dimT, j);
        }
      }
    }
    return ops.tensor(out, [B, 2 * n, H, W]);
  }
}

/**
 * The temporal encoding: for `x` `[T, Q, B, C]` (only its shape is used) and an optional bool mask
 * `[T, Q, B]`, a `[T, Q, B, 2·numPosFeats]` table over the time axis.
 */
export class PositionEmbeddingSine1D extends SineBase {
  constructor(numPosFeats = 64, opts: PositionEmbeddingOptions = {}) {
    super(numPosFeats, opts);
  }

  /** The encoding for `x`'s first three dimensions. */
  forward(x: Tensor, mask: Tensor | null = null): Tensor {
    if (x.rank !== 4) {
      throw new Error(`PositionEmbeddingSine1D: input must be [T, Q, B, C], got [${x.shape}]`);
    }
    const [T, Q, B] = x.shape;
    const m = this.maskData(mask, [T, Q, B]);
    const d = 2 * this.numPosFeats;
    const dimT = frequencies(d, this.temperature);
    const QB = Q * B;
    const out = new Float32Array(T * QB * d);
    const z = new Float64Array(T);
    for (let k = 0; k < QB; k++) {
      let c = 0;
      for (let t = 0; t < T; t++) z[t] = c += m && m[t * QB + k] ? 0 : 1;
      for (let t = 0; t < T; t++) {
        const o = (t * QB + k) * d;
        const p = this.embed(z[t], c);
        for (let j = 0; j < d; j++) out[o + j] = sinCos(p, dimT, j);
      }
    }
    return ops.tensor(out, [T, Q, B, d]);
  }
}

/**
 * Multi-scale deformable attention (Deformable DETR's `MSDeformAttn`, as vendored by Mask2Former in
 * `pixel_decoder/ops/modules/ms_deform_attn.py`), computed on the pure sampling path
 * ({@link msDeformAttnCorePytorch}: one bilinear `grid_sample` per level) instead of the CUDA kernel;
 * both give the same numbers up to summation order.
 *
 * Every query predicts, per head, level and point, an offset from its reference point (in pixels of
 * that level) and an attention weight (softmax over levels × points per head); the output is the
 * weighted sum of the value map sampled at those locations, then `output_proj`.
 *
 * @example
 * ```ts
 * import { MSDeformAttn } from "./ms_deform_attn.ts";
 * import * as ops from "../../../../core/tensor/ops.ts";
 * const attn = new MSDeformAttn({ dModel: 32, nLevels: 2, nHeads: 4, nPoints: 2 });
 * const shapes: [number, number][] = [[2, 3], [4, 6]];
 * const x = ops.randn([1, 30, 32]);
 * const ref = ops.full([1, 30, 2, 2], 0.5); // every query looks around the centre
 * attn.forward(x, ref, x, shapes).shape; // [1, 30, 32]
 * ```
 * @module
 */
import * as ops from "../../../../core/tensor/ops.ts";
import type { Tensor } from "../../../../core/tensor/ops.ts";
import type { Generator } from "../../../../core/random.ts";
import { init, Linear, Module } from "../../../../core/tensor/nn/mod.ts";

/** `(H, W)` of each level, in the order their tokens are concatenated. */
export type SpatialShapes = readonly (readonly [number, number])[];

const f32 = Math.fround;

/**
 * The deformable sampling itself: for `value` `[N, ΣHW, M, D]` (levels concatenated in
 * `spatialShapes` order), `samplingLocations` `[N, Lq, M, L, P, 2]` ((x, y) in [0, 1], top-left
 * corner 0, bottom-right corner 1) and `attentionWeights` `[N, Lq, M, L, P]`, returns
 * `[N, Lq, M·D]`: per query and head, `Σ_{l,p} w · bilinear(value_l, loc)`, zero outside the map
 * (`grid_sample` with `align_corners=False`, zero padding).
 *
 * @example
 * ```ts
 * import { msDeformAttnCorePytorch } from "./ms_deform_attn.ts";
 * import * as ops from "../../../../core/tensor/ops.ts";
 * const value = ops.ones([1, 4, 1, 2]); // one 2x2 level, 1 head, 2 channels
 * const loc = ops.full([1, 1, 1, 1, 1, 2], 0.5);
 * const w = ops.ones([1, 1, 1, 1, 1]);
 * msDeformAttnCorePytorch(value, [[2, 2]], loc, w); // [[[1, 1]]]
 * ```
 */
export function msDeformAttnCorePytorch(
  value: Tensor,
  spatialShapes: SpatialShapes,
  samplingLocations: Tensor,
  attentionWeights: Tensor,
): Tensor {
  const [n, s, m, d] = value.shape;
  const [, lq, , l, p] = samplingLocations.shape;
  const sizes = spatialShapes.map(([h, w]) => h * w);
  if (
    value.rank !== 4 || samplingLocations.rank !== 6 || l !== spatialShapes.length ||
    sizes.reduce((a, b) => a + b, 0) !== s
  ) {
    throw new Error(
      `msDeformAttnCorePytorch: value [${value.shape}] and locations [${samplingLocations.shape}] ` +
        `do not fit spatial shapes ${JSON.stringify(spatialShapes)}`,
    );
  }
  return ops.tidy(() => {
    const valueList = ops.split(value, sizes, 1);
    const grids = ops.sub(ops.mul(samplingLocations, 2), 1); // [0, 1] -> grid_sample's [-1, 1]
    const sampled = spatialShapes.map(([h, w], lvl) => {
      // [N, HW, M, D] -> [N·M, D, H, W]: each head samples its own D channels.
      const v = ops.reshape(ops.permute(valueList[lvl], [0, 2, 3, 1]), [n * m, d, h, w]);
      // [N, Lq, M, P, 2] -> [N·M, Lq, P, 2]: the points of a query form one row of the grid.
      const g = ops.slice(grids, [0, 0, 0, lvl, 0, 0], [n, lq, m, 1, p, 2]);
      const grid = ops.reshape(ops.permute(ops.reshape(g, [n, lq, m, p, 2]), [0, 2, 1, 3, 4]), [
        n * m,
        lq,
        p,
        2,
      ]);
      return ops.gridSample(v, grid, { alignCorners: false }); // [N·M, D, Lq, P]
    });
    const stacked = ops.reshape(ops.stack(sampled, 3), [n * m, d, lq, l * p]);
    const weights = ops.reshape(ops.transpose(attentionWeights, 1, 2), [n * m, 1, lq, l * p]);
    const out = ops.reshape(ops.sum(ops.mul(stacked, weights), 3), [n, m * d, lq]);
    return ops.transpose(out, 1, 2);
  });
}

/**
 * The default sampling-offset bias: head `h` points along the angle `2πh / nHeads`, scaled so that the
 * larger of |cos|, |sin| is 1, and point `p` lies `p + 1` such steps away, the same on every level.
 * Returned flattened as `[nHeads, nLevels, nPoints, 2]`, in float32 as the original computes it.
 *
 * @example
 * ```ts
 * import { defaultSamplingGrid } from "./ms_deform_attn.ts";
 * defaultSamplingGrid(4, 1, 2); // head 0: (1, 0), (2, 0); head 1: (~0, 1), (~0, 2); ...
 * ```
 */
export function defaultSamplingGrid(nHeads: number, nLevels: number, nPoints: number): Float32Array {
  const out = new Float32Array(nHeads * nLevels * nPoints * 2);
  const step = f32(2 * Math.PI / nHeads);
  for (let h = 0; h < nHeads; h++) {
    const theta = f32(h * step);
    const c = f32(Math.cos(theta));
    const s = f32(Math.sin(theta));
    const scale = Math.max(Math.abs(c), Math.abs(s));
    const unit = [f32(c / scale), f32(s / scale)];
    for (let l = 0; l < nLevels; l++) {
      for (let p = 0; p < nPoints; p++) {
        const o = ((h * nLevels + l) * nPoints + p) * 2;
        out[o] = f32(unit[0] * (p + 1));
        out[o + 1] = f32(unit[1] * (p + 1));
      }
    }
  }
  return out;
}

/** Options of {@link MSDeformAttn} (the original's defaults). */
export interface MSDeformAttnOptions {
  /** Hidden size (default 256); a multiple of `nHeads`. */
  dModel?: number;
  /** Feature levels (default 4). */
  nLevels?: number;
  /** Attention heads (default 8). */
  nHeads?: number;
  /** Sampling points per head and level (default 4). */
  nPoints?: number;
  /** Where the initialisation draws from. */
  generator?: Generator;
}

/** What {@link MSDeformAttn.samplingInputs} computes before the sampling. */
export interface MSDeformAttnSampling {
  /** `value_proj(input)` as `[N, ΣHW, nHeads, dModel / nHeads]`. */
  value: Tensor;
  /** `[N, Lq, nHeads, nLevels, nPoints, 2]`, (x, y) normalised to [0, 1]. */
  samplingLocations: Tensor;
  /** `[N, Lq, nHeads, nLevels, nPoints]`, summing to 1 over levels × points. */
  attentionWeights: Tensor;
}

/**
 * Multi-scale deformable attention with 2-d reference points. Parameters (state-dict keys):
 * `sampling_offsets`, `attention_weights`, `value_proj`, `output_proj` (all Linear).
 */
export class MSDeformAttn extends Module {
  readonly dModel: number;
  readonly nLevels: number;
  readonly nHeads: number;
  readonly nPoints: number;
  readonly samplingOffsets: Linear;
  readonly attentionWeights: Linear;
  readonly valueProj: Linear;
  readonly outputProj: Linear;

  constructor(opts: MSDeformAttnOptions = {}) {
    super();
    this.dModel = opts.dModel ?? 256;
    this.nLevels = opts.nLevels ?? 4;
    this.nHeads = opts.nHeads ?? 8;
    this.nPoints = opts.nPoints ?? 4;
    if (this.dModel % this.nHeads !== 0) {
      throw new Error(`MSDeformAttn: d_model ${this.dModel} is not divisible by n_heads ${this.nHeads}`);
    }
    const { generator } = opts;
    const hlp = this.nHeads * this.nLevels * this.nPoints;
    this.samplingOffsets = this.registerModule(
      "sampling_offsets",
      new Linear(this.dModel, hlp * 2, { generator }),
    );
    this.attentionWeights = this.registerModule(
      "attention_weights",
      new Linear(this.dModel, hlp, { generator }),
    );
    this.valueProj = this.registerModule("value_proj", new Linear(this.dModel, this.dModel, { generator }));
    this.outputProj = this.registerModule("output_proj", new Linear(this.dModel, this.dModel, { generator }));
    this.resetParameters(generator);
  }

  /**
   * The original's initialisation: zero offset weights with the {@link defaultSamplingGrid} as bias
   * (so every query starts by sampling a fixed star around its reference point), zero attention
   * logits (uniform weights), Xavier-uniform projections with zero biases.
   */
  resetParameters(generator?: Generator): void {
    init.zeros(this.samplingOffsets.weight);
    const grid = ops.tensor(defaultSamplingGrid(this.nHeads, this.nLevels, this.nPoints));
    this.samplingOffsets.bias!.assign(grid);
    ops.dispose(grid);
    init.zeros(this.attentionWeights.weight);
    init.zeros(this.attentionWeights.bias!);
    init.xavierUniform(this.valueProj.weight, { generator });
    init.zeros(this.valueProj.bias!);
    init.xavierUniform(this.outputProj.weight, { generator });
    init.zeros(this.outputProj.bias!);
  }

  /**
   * Everything the sampling needs, as the original computes it inside `forward` (also useful to
   * inspect a layer): the projected values, the sampling locations
   * `reference + offset / (W_l, H_l)` and the attention weights.
   *
   * @param query `[N, Lq, dModel]`
   * @param referencePoints `[N, Lq, nLevels, 2]`, (x, y) in [0, 1]
   * @param inputFlatten `[N, ΣHW, dModel]`, the levels' tokens concatenated in `spatialShapes` order
   * @param spatialShapes `(H, W)` per level
   */
  samplingInputs(
    query: Tensor,
    referencePoints: Tensor,
    inputFlatten: Tensor,
    spatialShapes: SpatialShapes,
  ): MSDeformAttnSampling {
    const [n, lq] = query.shape;
    const [, len] = inputFlatten.shape;
    const { nHeads: m, nLevels: l, nPoints: p } = this;
    const total = spatialShapes.reduce((a, [h, w]) => a + h * w, 0);
    if (spatialShapes.length !== l || total !== len) {
      throw new Error(
        `MSDeformAttn: ${len} input tokens do not fit ${l} levels ${JSON.stringify(spatialShapes)}`,
      );
    }
    if (referencePoints.rank !== 4 || referencePoints.shape[3] !== 2) {
      throw new Error(
        `MSDeformAttn: reference points must be [N, Lq, ${l}, 2], got [${referencePoints.shape}]`,
      );
    }
    return ops.tidy(() => {
      const value = ops.reshape(this.valueProj.forward(inputFlatten), [n, len, m, this.dModel / m]);
      const offsets = ops.reshape(this.samplingOffsets.forward(query), [n, lq, m, l, p, 2]);
      const logits = ops.reshape(this.attentionWeights.forward(query), [n, lq, m, l * p]);
      const attentionWeights = ops.reshape(ops.softmax(logits, -1), [n, lq, m, l, p]);
      // Offsets are in pixels of their level: divide by (W_l, H_l) to reach [0, 1] units.
      const normalizer = ops.tensor(spatialShapes.flatMap(([h, w]) => [w, h]), [1, 1, 1, l, 1, 2]);
      const ref = ops.reshape(referencePoints, [referencePoints.shape[0], lq, 1, l, 1, 2]);
      const samplingLocations = ops.add(ref, ops.div(offsets, normalizer));
      return { value, samplingLocations, attentionWeights };
    });
  }

  /**
   * Attends from every query to `nPoints` sampled locations per head and level; returns
   * `[N, Lq, dModel]`. Arguments as {@link MSDeformAttn.samplingInputs}. The original's padding mask
   * is not taken: the pixel decoder never pads (its masks are all false).
   */
  forward(
    query: Tensor,
    referencePoints: Tensor,
    inputFlatten: Tensor,
    spatialShapes: SpatialShapes,
  ): Tensor {
    return ops.tidy(() => {
      const s = this.samplingInputs(query, referencePoints, inputFlatten, spatialShapes);
      const out = msDeformAttnCorePytorch(s.value, spatialShapes, s.samplingLocations, s.attentionWeights);
      return this.outputProj.forward(out);
    });
  }
}

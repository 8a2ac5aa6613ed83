/**
 * Hierarchical motion perception (DsHmp, CVPR 2024): {@link HierarchicalCrossAttentionLayer} lets the
 * frame queries of one temporal window attend to the motion words of the sentence at three temporal
 * scales, and adds the result back through a gate.
 *
 * What the layer does, in the original's order:
 * 1. Frame queries are re-ordered so that query `q` of every frame follows one object: frame `i > 0`
 *    is matched to the already re-ordered frame `i - 1` by Hungarian matching on the cosine distance
 *    ({@link matchEmbeds}), applied as `cur[indices]` ({@link sortEmbedding}). The original's indices
 *    are the matching read the wrong way round (the reference query given to each current query, not
 *    the current query given to each reference slot), so unless the permutation is its own inverse the
 *    queries do NOT line up with the previous frame; that is kept by default, and
 *    `alignQueryOrder: true` applies the matching as intended.
 * 2. Each query trajectory (one row per query and batch column, time along axis 1) attends to the
 *    motion features with a softmax over the TIME axis, each row then divided by its sum + eps;
 *    the scale is `d_model^-0.5` (heads are not used).
 * 3. Three levels `norm_l(out_l(attn(q_l)) + q_l)`, each followed by {@link pairwiseAverage} that halves
 *    the time axis, so a window of up to 8 frames ends at length 1.
 * 4. `tgt + tanh-gate(o) * o` broadcast over time, and the original query order is restored.
 *
 * Masks are not used: padded frames take part like real ones, as in the original.
 *
 * @example
 * ```ts
 * import { HierarchicalCrossAttentionLayer } from "./hierarchical_cross_attention.ts";
 * import * as ops from "../../../../core/tensor/ops.ts";
 * const hca = new HierarchicalCrossAttentionLayer({ dModel: 32 });
 * const tgt = ops.randn([5, 4, 3, 32]); // (T, fQ, bs, C): one window of frame queries
 * const motion = ops.randn([3, 32]); // (S, C): motion words + sentence feature
 * const y = hca.forward(tgt, motion); // (5, 4, 3, 32), original query order
 * ```
 * @module
 */
import * as ops from "../../../../core/tensor/ops.ts";
import type { Tensor } from "../../../../core/tensor/ops.ts";
import type { Generator } from "../../../../core/random.ts";
import { LayerNorm, Linear, Module, ReLU, Sequential, Tanh } from "../../../../core/tensor/nn/mod.ts";
import { linearSumAssignment } from "../../../../core/math/linear_sum_assignment.ts";

/** Added to the L2 norm before dividing, in the cosine distance. */
const NORM_EPS = 1e-6;

/** Constructor options of {@link HierarchicalCrossAttentionLayer}. */
export interface HierarchicalCrossAttentionOptions {
  /** Feature width C. */
  dModel: number;
  /** Added to each attention row's sum before normalising it (default 1e-8). */
  eps?: number;
  /**
   * Re-order each frame so that slot `q` holds the query matched to slot `q` of the previous frame
   * (default false: the original's inverted order, see the module doc).
   */
  alignQueryOrder?: boolean;
  /** Where the default initialisation draws from. */
  generator?: Generator;
}

/**
 * How the queries of every frame were re-ordered: for batch column `j` and frame `i`,
 * `matchIndices[j][i][q]` is the original query placed at slot `q` (frame 0 keeps its order) and
 * `inverseMaps[j][i]` its argsort, which puts them back.
 */
export interface QueryOrder {
  matchIndices: Int32Array[][];
  inverseMaps: Int32Array[][];
}

/** Intermediate values a caller can ask {@link HierarchicalCrossAttentionLayer.forward} to record. */
export interface HierarchicalTrace {
  /** The re-ordering used. */
  order?: QueryOrder;
  /** Each level's normalised output before its pairwise average: `(fQ*bs, T_l, C)`, row `q*bs + b`. */
  levels?: { shape: number[]; data: Float32Array }[];
}

/**
 * Cosine-distance Hungarian matching of `cur` to `ref` (both `n x c`, row-major float32): returns,
 * for every slot `q`, the row of `cur` that goes there (`cur[indices]` lines up with `ref`).
 *
 * As the original: cost `1 - cos` with rows scaled by `1 / (||x|| + 1e-6)`, NaN costs set to 0, and
 * scipy's assignment on the TRANSPOSED cost (rows = `cur`), whose column indices are returned. The
 * costs are computed in float64 from the float32 features, so rows (or columns) of identical queries
 * give bitwise-equal costs and tie exactly, as they do in the original.
 *
 * @example
 * ```ts
 * import { matchEmbeds } from "./hierarchical_cross_attention.ts";
 * const ref = new Float32Array([1, 0, 0, 1]);
 * const cur = new Float32Array([0, 1, 1, 0]);
 * matchEmbeds(ref, cur, 2, 2); // Int32Array [1, 0]
 * ```
 */
export function matchEmbeds(ref: Float32Array, cur: Float32Array, n: number, c: number): Int32Array {
  const refN = unitRows(ref, n, c);
  const curN = unitRows(cur, n, c);
  // cost.T: row r = cur query r, column k = ref query k.
  const costT = new Float64Array(n * n);
  for (let r = 0; r < n; r++) {
    for (let k = 0; k < n; k++) {
      let dot = 0;
      for (let d = 0; d < c; d++) dot += refN[k * c + d] * curN[r * c + d];
      const cost = 1 - dot;
      costT[r * n + k] = Number.isNaN(cost) ? 0 : cost;
    }
  }
  return linearSumAssignment({ rows: n, cols: n, data: costT }).colInd;
}

function unitRows(x: Float32Array, n: number, c: number): Float64Array {
  const out = new Float64Array(n * c);
  for (let r = 0; r < n; r++) {
    let ss = 0;
    for (let d = 0; d < c; d++) ss += x[r * c + d] * x[r * c + d];
    const denom = Math.sqrt(ss) + NORM_EPS;
    for (let d = 0; d < c; d++) out[r * c + d] = x[r * c + d] / denom;
  }
  return out;
}

/**
 * Re-orders the queries of every frame after the first by matching them to the (re-ordered) previous
 * frame, for each batch column independently. `tgt` is `(T, fQ, bs, C)`; returns the re-ordered
 * tensor (same shape, a differentiable row gather) and the {@link QueryOrder}. By default frame `i`
 * becomes `cur[matchEmbeds(prev, cur)]` as in the original; with `alignQueryOrder` it becomes
 * `cur[argsort(matchEmbeds(prev, cur))]`, which lines each query up with its match.
 *
 * @example
 * ```ts
 * import { sortEmbedding } from "./hierarchical_cross_attention.ts";
 * import * as ops from "../../../../core/tensor/ops.ts";
 * const { sorted, order } = sortEmbedding(ops.randn([3, 4, 2, 8]));
 * order.matchIndices[0][0]; // Int32Array [0, 1, 2, 3]: frame 0 is the reference
 * ```
 */
export function sortEmbedding(
  tgt: Tensor,
  { alignQueryOrder = false }: { alignQueryOrder?: boolean } = {},
): { sorted: Tensor; order: QueryOrder } {
  if (tgt.rank !== 4) throw new Error(`sortEmbedding: tgt must be (T, fQ, bs, C), got [${tgt.shape}]`);
  const [T, fQ, bs, C] = tgt.shape;
  // Sequential by nature (each frame matches the previous result) and not differentiated (the
  // original detaches), so it runs on the host.
  const data = ops.toArray(tgt) as Float32Array;
  const row = (i: number, q: number, j: number) => ((i * fQ + q) * bs + j) * C;
  const matchIndices: Int32Array[][] = [];
  const inverseMaps: Int32Array[][] = [];
  const ref = new Float32Array(fQ * C);
  const cur = new Float32Array(fQ * C);
  for (let j = 0; j < bs; j++) {
    const identity = Int32Array.from({ length: fQ }, (_, q) => q);
    const perFrame: Int32Array[] = [identity];
    let prev: Int32Array = identity;
    for (let i = 1; i < T; i++) {
      for (let q = 0; q < fQ; q++) {
        ref.set(data.subarray(row(i - 1, prev[q], j), row(i - 1, prev[q], j) + C), q * C);
        cur.set(data.subarray(row(i, q, j), row(i, q, j) + C), q * C);
      }
      const indices = matchEmbeds(ref, cur, fQ, C);
      prev = alignQueryOrder ? inversePermutation(indices) : indices;
      perFrame.push(prev);
    }
    matchIndices.push(perFrame);
    inverseMaps.push(perFrame.map(inversePermutation));
  }
  const order = { matchIndices, inverseMaps };
  return { sorted: permuteQueries(tgt, order.matchIndices), order };
}

/**
 * Puts the queries of every frame back in their original order: the inverse of {@link sortEmbedding}
 * for a tensor of the same `(T, fQ, bs, C)` shape.
 */
export function unsortEmbedding(x: Tensor, order: QueryOrder): Tensor {
  return permuteQueries(x, order.inverseMaps);
}

/** `out[i, q, j] = x[i, perm[j][i][q], j]` as one row gather over the flattened `(T*fQ*bs, C)`. */
function permuteQueries(x: Tensor, perm: Int32Array[][]): Tensor {
  const [T, fQ, bs, C] = x.shape;
  const rows = new Int32Array(T * fQ * bs);
  for (let i = 0; i < T; i++) {
    for (let q = 0; q < fQ; q++) {
      for (let j = 0; j < bs; j++) rows[(i * fQ + q) * bs + j] = (i * fQ + perm[j][i][q]) * bs + j;
    }
  }
  return ops.tidy(() => {
    const idx = ops.tensor(rows, [rows.length], "int32");
    return ops.reshape(ops.indexSelect(ops.reshape(x, [T * fQ * bs, C]), 0, idx), [T, fQ, bs, C]);
  });
}

function inversePermutation(p: Int32Array): Int32Array {
  const inv = new Int32Array(p.length);
  p.forEach((v, i) => (inv[v] = i));
  return inv;
}

/**
 * Averages neighbouring steps along axis 1 of `(N, T, C)`, halving it; an odd length first repeats
 * its last step, so the result has length `ceil(T / 2)`.
 *
 * @example
 * ```ts
 * import { pairwiseAverage } from "./hierarchical_cross_attention.ts";
 * import * as ops from "../../../../core/tensor/ops.ts";
 * pairwiseAverage(ops.tensor([1, 3, 5], [1, 3, 1])); // [[[2], [5]]]
 * ```
 */
export function pairwiseAverage(x: Tensor): Tensor {
  if (x.rank !== 3) throw new Error(`pairwiseAverage: expected (N, T, C), got [${x.shape}]`);
  return ops.tidy(() => {
    const [N, T, C] = x.shape;
    const even = T % 2 === 0 ? x : ops.cat([x, ops.narrow(x, 1, T - 1, 1)], 1);
    const pairs = ops.reshape(even, [N, Math.ceil(T / 2), 2, C]);
    const first = ops.squeeze(ops.narrow(pairs, 2, 0, 1), [2]);
    const second = ops.squeeze(ops.narrow(pairs, 2, 1, 1), [2]);
    return ops.div(ops.add(first, second), 2);
  });
}

/** Cross-attention from frame-query trajectories to motion words at three temporal scales. */
export class HierarchicalCrossAttentionLayer extends Module {
  readonly toQ: Linear;
  readonly toK: Linear;
  readonly toV: Linear;
  readonly out1: Linear;
  readonly norm1: LayerNorm;
  readonly out2: Linear;
  readonly norm2: LayerNorm;
  readonly out3: Linear;
  readonly norm3: LayerNorm;
  readonly resGate: Sequential;
  readonly eps: number;
  readonly scale: number;
  readonly alignQueryOrder: boolean;

  constructor(opts: HierarchicalCrossAttentionOptions) {
    super();
    const d = opts.dModel;
    const g = { generator: opts.generator };
    this.toQ = this.registerModule("to_q", new Linear(d, d, g));
    this.toK = this.registerModule("to_k", new Linear(d, d, g));
    this.toV = this.registerModule("to_v", new Linear(d, d, g));
    this.out1 = this.registerModule("out1", new Linear(d, d, g));
    this.norm1 = this.registerModule("norm1", new LayerNorm(d));
    this.out2 = this.registerModule("out2", new Linear(d, d, g));
    this.norm2 = this.registerModule("norm2", new LayerNorm(d));
    this.out3 = this.registerModule("out3", new Linear(d, d, g));
    this.norm3 = this.registerModule("norm3", new LayerNorm(d));
    this.resGate = this.registerModule(
      "res_gate",
      new Sequential([
        new Linear(d, d, { bias: false, ...g }),
        new ReLU(),
        new Linear(d, d, { bias: false, ...g }),
        new Tanh(),
      ]),
    );
    this.eps = opts.eps ?? 1e-8;
    this.alignQueryOrder = opts.alignQueryOrder ?? false;
    this.scale = d ** -0.5;
  }

  /**
   * Attention of `q` `(N, T, C)` to keys `k` and values `v` `(S, C)` shared by every row, normalised
   * over the time axis and then per step: `(softmax_T(q kᵀ * scale) / (row sum + eps)) v`.
   */
  getAttn(q: Tensor, k: Tensor, v: Tensor): Tensor {
    return ops.tidy(() => {
      const [N, T, C] = q.shape;
      const S = k.shape[0];
      const dots = ops.mul(
        ops.reshape(ops.matmul(ops.reshape(q, [N * T, C]), k, false, true), [N, T, S]),
        this.scale,
      );
      const attn = ops.softmax(dots, 1);
      const weight = ops.sum(attn, -1, true);
      const normed = ops.div(attn, ops.add(weight, this.eps));
      return ops.reshape(ops.matmul(ops.reshape(normed, [N * T, S]), v), [N, T, C]);
    });
  }

  /**
   * `tgt` `(T, fQ, bs, C)` with T <= 8 (one temporal window), `memory` `(S, C)` motion features.
   * Returns `(T, fQ, bs, C)` in the original query order. `trace`, when given, receives the
   * re-ordering and each level's output.
   */
  forward(tgt: Tensor, memory: Tensor, trace?: HierarchicalTrace): Tensor {
    if (tgt.rank !== 4) {
      throw new Error(`HierarchicalCrossAttentionLayer: tgt must be (T, fQ, bs, C), got [${tgt.shape}]`);
    }
    const [T, fQ, bs, C] = tgt.shape;
    if (memory.rank !== 2 || memory.shape[1] !== C) {
      throw new Error(`HierarchicalCrossAttentionLayer: memory must be (S, ${C}), got [${memory.shape}]`);
    }
    if (T > 8) {
      // Three halvings must reach length 1 to broadcast over the window (the original fails too).
      throw new Error(`HierarchicalCrossAttentionLayer: at most 8 frames per window, got ${T}`);
    }
    return ops.tidy(() => {
      const { sorted, order } = sortEmbedding(tgt, { alignQueryOrder: this.alignQueryOrder });
      if (trace) trace.order = order;
      // (T, fQ*bs, C) -> (fQ*bs, T, C): one row per query trajectory.
      const x = ops.transpose(ops.reshape(sorted, [T, fQ * bs, C]), 0, 1);
      const k = this.toK.forward(memory);
      const v = this.toV.forward(memory);
      let q = this.toQ.forward(x);
      const levels: [Linear, LayerNorm][] = [[this.out1, this.norm1], [this.out2, this.norm2], [
        this.out3,
        this.norm3,
      ]];
      for (const [out, norm] of levels) {
        const level = norm.forward(ops.add(out.forward(this.getAttn(q, k, v)), q));
        if (trace) {
          (trace.levels ??= []).push({ shape: level.shape, data: ops.toArray(level) as Float32Array });
        }
        q = pairwiseAverage(level);
      }
      const y = ops.add(x, ops.mul(this.resGate.forward(q), q));
      return unsortEmbedding(ops.reshape(ops.transpose(y, 0, 1), [T, fQ, bs, C]), order);
    });
  }
}

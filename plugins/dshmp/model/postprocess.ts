/**
 * DsHmp's video post-processing: what `DsHmp.inference` does after the clip decoder. From the last
 * decoder layer's class logits and mask embeddings and the mask features of every frame it
 *
 * 1. scores each clip query with `softmax(logits)[:, :-1]` (one foreground class);
 * 2. keeps the queries scoring above `outputThreshold` (`merge`, MeViS) or the best one (top-1,
 *    every other data set);
 * 3. per chunk of `interpolateChunkSize` frames: mask logits `einsum("qc,tchw->qthw")`, bilinear
 *    (`align_corners=False`) to the padded input size, cropped to the unpadded image size; the
 *    sigmoid inside the hard mask (`> 0.5`) feeds a per-query quality factor; the cropped logits are
 *    resized to the output size, thresholded at 0 and united over the kept queries;
 * 4. multiplies each kept score by `sum(soft * hard) / (sum(hard) + 1e-6)` over all frames.
 *
 * Memory: only one chunk of frames is ever resized, so the peak is
 * `kept queries x chunk x out_h x out_w` floats; the masks are returned on the host as bytes. The mask
 * features can stay on the backend or on the host ({@link MaskFeatureStore}), as the original keeps
 * them on the GPU up to 36 frames and in CPU memory beyond.
 *
 * @example
 * ```ts
 * import { MaskFeatureStore, postprocessVideo } from "./postprocess.ts";
 * import * as ops from "../../../core/tensor/ops.ts";
 * const store = new MaskFeatureStore();
 * store.append(ops.randn([3, 4, 8, 8])); // (T, C, Hp/4, Wp/4)
 * const out = postprocessVideo(ops.tensor([[2, -2], [-1, 1]]), ops.randn([2, 4]), store, {
 *   merge: true, outputThreshold: 0.5, interpolateChunkSize: 5,
 *   imageSize: [30, 28], paddedSize: [32, 32], outSize: [60, 56],
 * });
 * out.predMasks.shape; // [1, 3, 60, 56]
 * store.dispose();
 * ```
 * @module
 */
import * as ops from "../../../core/tensor/ops.ts";
import type { Tensor } from "../../../core/tensor/ops.ts";
import { checkMemory } from "../../../core/tensor/backend.ts";

/** Options of {@link postprocessVideo} (the original's attributes and per-video sizes). */
export interface PostprocessOptions {
  /** Unite every query over the threshold (MeViS) instead of taking the best one. */
  merge: boolean;
  /** `MODEL.VITA.TEST_OUTPUT_THRESHOLD`. */
  outputThreshold: number;
  /** `MODEL.VITA.TEST_INTERPOLATE_CHUNK_SIZE`: frames resized at once. */
  interpolateChunkSize: number;
  /** `(h, w)` of the resized frames before padding (`images.image_sizes[0]`). */
  imageSize: readonly [number, number];
  /** `(Hp, Wp)` of the padded batch (the original's `interim_size`). */
  paddedSize: readonly [number, number];
  /** `(height, width)` of the returned masks: the video's original size. */
  outSize: readonly [number, number];
}

/** The original's `processed_results` for one video (non-COCO). */
export interface VideoPrediction {
  /** `(height, width)` of the masks. */
  imageSize: [number, number];
  /** One score per kept query (float32 values). */
  predScores: number[];
  /** One label per kept query (always 0: one foreground class). */
  predLabels: number[];
  /** The union of the kept queries' masks, 0/1 bytes of shape `[1, T, height, width]`. */
  predMasks: { data: Uint8Array; shape: [1, number, number, number] };
}

/**
 * Mask features of a video's frames, appended chunk by chunk as the frame-level model produces them.
 * `onHost` keeps them as host arrays (the original's `to_store = "cpu"` for videos over 36 frames) so
 * that long videos do not fill the backend's memory; otherwise they stay backend tensors.
 *
 * @example
 * ```ts
 * import { MaskFeatureStore } from "./postprocess.ts";
 * import * as ops from "../../../core/tensor/ops.ts";
 * const store = new MaskFeatureStore({ onHost: true });
 * store.append(ops.zeros([2, 4, 3, 3]));
 * store.append(ops.ones([1, 4, 3, 3]));
 * store.frames; // 3
 * store.range(1, 2).shape; // [2, 4, 3, 3]
 * ```
 */
export class MaskFeatureStore {
  readonly onHost: boolean;
  #chunks: { tensor?: Tensor; host?: Float32Array; shape: number[] }[] = [];

  constructor(opts: { onHost?: boolean } = {}) {
    this.onHost = opts.onHost ?? false;
  }

  /** Frames stored so far. */
  get frames(): number {
    return this.#chunks.reduce((n, c) => n + c.shape[0], 0);
  }

  /** `(C, h, w)` of a frame, once a chunk is stored. */
  get frameShape(): number[] {
    if (this.#chunks.length === 0) throw new Error("MaskFeatureStore: no frames stored");
    return this.#chunks[0].shape.slice(1);
  }

  /** Stores `x` `(t, C, h, w)`; the store takes it over (it is disposed here when kept on the host). */
  append(x: Tensor): void {
    if (x.rank !== 4) throw new Error(`MaskFeatureStore: expected (t, C, h, w), got [${x.shape}]`);
    if (this.#chunks.length > 0) {
      const want = this.frameShape;
      if (x.shape.slice(1).some((d, i) => d !== want[i])) {
        throw new Error(`MaskFeatureStore: frames of shape [${x.shape.slice(1)}], stored ones [${want}]`);
      }
    }
    if (this.onHost) {
      this.#chunks.push({ host: Float32Array.from(ops.toArray(x)), shape: [...x.shape] });
      ops.dispose(x);
    } else {
      this.#chunks.push({ tensor: x, shape: [...x.shape] });
    }
  }

  /** A new `(count, C, h, w)` tensor of frames `start .. start + count - 1`; the caller disposes it. */
  range(start: number, count: number): Tensor {
    if (!(start >= 0 && count > 0 && start + count <= this.frames)) {
      throw new Error(`MaskFeatureStore: frames ${start}..${start + count - 1} of ${this.frames}`);
    }
    return ops.tidy(() => {
      const parts: Tensor[] = [];
      let first = 0;
      for (const c of this.#chunks) {
        const t = c.shape[0];
        const lo = Math.max(start, first);
        const hi = Math.min(start + count, first + t);
        if (lo < hi) {
          const whole = c.tensor ?? ops.tensor(c.host!, c.shape);
          parts.push(
            lo === first && hi === first + t ? ops.add(whole, 0) : ops.narrow(whole, 0, lo - first, hi - lo),
          );
        }
        first += t;
      }
      return parts.length === 1 ? parts[0] : ops.cat(parts, 0);
    });
  }

  /** Frees the stored tensors. */
  dispose(): void {
    for (const c of this.#chunks) if (c.tensor) ops.dispose(c.tensor);
    this.#chunks = [];
  }
}

/**
 * The clip queries kept from their foreground scores: every index scoring above `threshold` in
 * query order (`merge`), or the single best one (first on ties).
 *
 * @example
 * ```ts
 * import { selectQueries } from "./postprocess.ts";
 * selectQueries([0.2, 0.9, 0.7], true, 0.5); // [1, 2]
 * selectQueries([0.2, 0.9, 0.7], false, 0.5); // [1]
 * ```
 */
export function selectQueries(scores: ArrayLike<number>, merge: boolean, threshold: number): number[] {
  const n = scores.length;
  if (merge) return Array.from({ length: n }, (_, q) => q).filter((q) => scores[q] > threshold);
  if (n === 0) throw new Error("selectQueries: no query to take the best of");
  let best = 0;
  for (let q = 1; q < n; q++) if (scores[q] > scores[best]) best = q;
  return [best];
}

/**
 * Post-processes one video (see the module doc).
 *
 * @param predLogits `(cQ, 2)` class logits of the last clip-decoder layer (`pred_logits[-1, 0]`)
 * @param predMaskEmbed `(cQ, C)` mask embeddings of the same layer
 * @param maskFeatures every frame's `vita_mask_features` output, `(T, C, Hp/4, Wp/4)`
 */
export function postprocessVideo(
  predLogits: Tensor,
  predMaskEmbed: Tensor,
  maskFeatures: MaskFeatureStore,
  opts: PostprocessOptions,
): VideoPrediction {
  if (predLogits.rank !== 2 || predLogits.shape[1] !== 2) {
    // The original's indexing (`scores.squeeze(-1)`, `mask_embed[idx]`) only works for one class.
    throw new Error(
      `postprocessVideo: logits must be (cQ, 2) (one class + no-object), got [${predLogits.shape}]`,
    );
  }
  if (predMaskEmbed.rank !== 2 || predMaskEmbed.shape[0] !== predLogits.shape[0]) {
    throw new Error(
      `postprocessVideo: mask embeddings must be (${predLogits.shape[0]}, C), got [${predMaskEmbed.shape}]`,
    );
  }
  const chunk = opts.interpolateChunkSize;
  if (!(Number.isInteger(chunk) && chunk > 0)) {
    throw new Error(`postprocessVideo: interpolateChunkSize must be a positive integer, got ${chunk}`);
  }
  const [h, w] = opts.imageSize;
  const [hp, wp] = opts.paddedSize;
  const [outH, outW] = opts.outSize;
  if (h > hp || w > wp) throw new Error(`postprocessVideo: image ${h}x${w} exceeds the padded ${hp}x${wp}`);

  const scoresAll = ops.tidy(() => ops.narrow(ops.softmax(predLogits, -1), 1, 0, 1));
  const fg = ops.toArray(scoresAll) as Float32Array;
  ops.dispose(scoresAll);
  const kept = selectQueries(fg, opts.merge, opts.outputThreshold);
  const T = maskFeatures.frames;
  const masks = new Uint8Array(T * outH * outW);
  const numerator = new Float32Array(kept.length);
  const denominator = new Float32Array(kept.length);

  if (kept.length > 0) {
    const embed = ops.indexSelect(predMaskEmbed, 0, kept);
    try {
      for (let start = 0; start < T; start += chunk) {
        const t = Math.min(chunk, T - start);
        const { num, den, union } = ops.tidy(() => {
          const feats = maskFeatures.range(start, t);
          const logits = ops.einsum("qc,tchw->qthw", embed, feats);
          const interim = ops.interpolate(logits, { size: [hp, wp], mode: "bilinear", alignCorners: false });
          const cropped = ops.slice(interim, [0, 0, 0, 0], [-1, -1, h, w]);
          const soft = ops.sigmoid(cropped);
          const hard = ops.cast(ops.greater(soft, 0.5), "float32");
          const num = ops.sum(ops.reshape(ops.mul(soft, hard), [kept.length, -1]), 1);
          const den = ops.sum(ops.reshape(hard, [kept.length, -1]), 1);
          const resized = ops.interpolate(cropped, {
            size: [outH, outW],
            mode: "bilinear",
            alignCorners: false,
          });
          checkMemory("DsHmp post-processing");
          const union = ops.cast(ops.any(ops.greater(resized, 0), 0), "int32");
          return { num, den, union };
        });
        const [n, d, u] = [ops.toArray(num), ops.toArray(den), ops.toArray(union)];
        ops.dispose([num, den, union]);
        for (let q = 0; q < kept.length; q++) {
          numerator[q] += n[q]; // Float32Array: accumulates in float32, as the original's tensors
          denominator[q] += d[q];
        }
        masks.set(u, start * outH * outW);
      }
    } finally {
      ops.dispose(embed);
    }
  }

  const f32 = Math.fround;
  const predScores = kept.map((q, i) => f32(fg[q] * f32(numerator[i] / f32(denominator[i] + 1e-6))));
  return {
    imageSize: [outH, outW],
    predScores,
    predLabels: kept.map(() => 0),
    predMasks: { data: masks, shape: [1, T, outH, outW] },
  };
}

/**
 * DsHmp's `prepare_targets`: the mapped per-frame instances of each clip become one clip target (masks
 * zero-padded to the batch's padded size, `[N, T, H, W]`) and T frame targets.
 *
 * Behaviour kept from the original:
 * - the classes are frame 0's, a -1 filled from a later frame (in frame order, each frame overwriting
 *   the still -1 entries);
 * - an object's id becomes -1 in a frame where its (padded) mask is empty; objects absent from every
 *   frame are dropped; the remaining valid ids are shifted so the smallest is 0 (a negative minimum is
 *   not shifted);
 * - a frame target holds only the objects whose id there is not -1.
 *
 * @example
 * ```ts
 * import { prepareTargets } from "./prepare_targets.ts";
 * const frame = (on: number) => ({
 *   image_size: [1, 2] as [number, number],
 *   gt_classes: Int32Array.of(0),
 *   gt_ids: Int32Array.of(5),
 *   gt_masks: Uint8Array.of(on, 0),
 * });
 * const { clipTargets, frameTargets } = prepareTargets(
 *   [{ instances: [frame(1), frame(0)], refer_id: 7 }],
 *   { numFrames: 2, padSize: [2, 2] },
 * );
 * clipTargets[0].ids; // [[0, -1]]
 * frameTargets[1].labels; // Int32Array []
 * ```
 * @module
 */
import * as ops from "../../../core/tensor/ops.ts";
import type { ClipTarget, FrameTarget } from "./vita_criterion.ts";

/** One frame's mapped instances (the MeViS train mapper's `FrameInstances`, the fields read here). */
export interface TargetFrameInstances {
  /** `[height, width]` of the frame after augmentation. */
  image_size: [number, number];
  gt_classes: ArrayLike<number>;
  gt_ids: ArrayLike<number>;
  /** `[N, height, width]` 0/1 masks, row-major. */
  gt_masks: ArrayLike<number>;
}

/** One mapped training clip (the fields read here). */
export interface TargetVideo {
  instances: TargetFrameInstances[];
  refer_id: number;
  video_len?: number;
  frame_idx?: number[];
}

/** A clip target with the sample's bookkeeping carried along, as in the original's dict. */
export interface PreparedClipTarget extends ClipTarget {
  labels: Int32Array;
  referId: number;
  videoLen?: number;
  frameIdx?: number[];
}

/** A frame target with host-side labels and ids. */
export interface PreparedFrameTarget extends FrameTarget {
  labels: Int32Array;
  ids: Int32Array;
}

/** Options of {@link prepareTargets}. */
export interface PrepareTargetsOptions {
  /** Frames per clip (`INPUT.SAMPLING_FRAME_NUM`). */
  numFrames: number;
  /** `[hPad, wPad]`: the padded image batch's size. */
  padSize: [number, number];
}

/**
 * Frame targets (clip by clip, frame by frame: B*T of them) and clip targets (B) for a batch; the
 * mask tensors are new and owned by the caller.
 */
export function prepareTargets(
  videos: TargetVideo[],
  { numFrames, padSize: [hPad, wPad] }: PrepareTargetsOptions,
): { frameTargets: PreparedFrameTarget[]; clipTargets: PreparedClipTarget[] } {
  const frameTargets: PreparedFrameTarget[] = [];
  const clipTargets: PreparedClipTarget[] = [];
  const plane = hPad * wPad;
  for (const video of videos) {
    if (video.instances.length < numFrames) {
      throw new Error(`prepareTargets: ${video.instances.length} frames of instances, expected ${numFrames}`);
    }
    const n = video.instances[0].gt_classes.length;
    const masks = new Uint8Array(n * numFrames * plane);
    const classes = Int32Array.from(video.instances[0].gt_classes);
    const ids = new Int32Array(n * numFrames);
    for (let f = 0; f < numFrames; f++) {
      const inst = video.instances[f];
      const [h, w] = inst.image_size;
      if (h > hPad || w > wPad) {
        throw new Error(`prepareTargets: frame ${h}x${w} exceeds the pad ${hPad}x${wPad}`);
      }
      for (let i = 0; i < n; i++) {
        if (classes[i] === -1) classes[i] = inst.gt_classes[i];
        let area = 0;
        for (let y = 0; y < h; y++) {
          const dst = (i * numFrames + f) * plane + y * wPad;
          const src = (i * h + y) * w;
          for (let x = 0; x < w; x++) {
            const v = inst.gt_masks[src + x] ? 1 : 0;
            masks[dst + x] = v;
            area += v;
          }
        }
        ids[i * numFrames + f] = area === 0 ? -1 : inst.gt_ids[i];
      }
    }
    const keep: number[] = [];
    for (let i = 0; i < n; i++) {
      for (let f = 0; f < numFrames; f++) {
        if (ids[i * numFrames + f] !== -1) {
          keep.push(i);
          break;
        }
      }
    }
    let minId = Infinity;
    for (const i of keep) {
      for (let f = 0; f < numFrames; f++) {
        const id = ids[i * numFrames + f];
        if (id !== -1) minId = Math.min(minId, id);
      }
    }
    const shift = keep.length > 0 ? Math.max(minId, 0) : 0;
    const idRows = keep.map((i) =>
      Array.from({ length: numFrames }, (_, f) => {
        const id = ids[i * numFrames + f];
        return id === -1 ? -1 : id - shift;
      })
    );
    const keptMasks = new Float32Array(keep.length * numFrames * plane);
    keep.forEach((i, k) => {
      const block = masks.subarray(i * numFrames * plane, (i + 1) * numFrames * plane);
      for (let p = 0; p < block.length; p++) keptMasks[k * numFrames * plane + p] = block[p];
    });
    const labels = Int32Array.from(keep, (i) => classes[i]);
    clipTargets.push({
      labels,
      ids: idRows,
      masks: ops.tensor(keptMasks, [keep.length, numFrames, hPad, wPad]),
      referId: video.refer_id,
      videoLen: video.video_len,
      frameIdx: video.frame_idx,
    });
    for (let f = 0; f < numFrames; f++) {
      const present = idRows.map((r, k) => (r[f] !== -1 ? k : -1)).filter((k) => k >= 0);
      const frameMasks = new Float32Array(present.length * plane);
      present.forEach((k, j) =>
        frameMasks.set(
          keptMasks.subarray((k * numFrames + f) * plane, (k * numFrames + f + 1) * plane),
          j * plane,
        )
      );
      frameTargets.push({
        labels: Int32Array.from(present, (k) => labels[k]),
        ids: Int32Array.from(present, (k) => idRows[k][f]),
        masks: ops.tensor(frameMasks, [present.length, hPad, wPad]),
      });
    }
  }
  return { frameTargets, clipTargets };
}

/**
 * `prepareTargets` on a hand-made clip: padding, ids set to -1 on empty frames, objects absent from
 * every frame dropped, ids shifted to start at 0, classes filled from later frames, frame targets
 * holding only present objects.
 * @module
 */
import { assertEquals, assertThrows } from "../assert.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";
import { prepareTargets } from "../../plugins/dshmp/losses/mod.ts";

// Three objects over three 2x3 frames, padded to 3x4. Object 0 (id 7) is visible in frames 0 and 2,
// object 1 (id 9, class -1 in frame 0) only in frame 1, object 2 (id 4) never (its masks are empty).
const frame = (classes: number[], ids: number[], masks: number[][]) => ({
  image_size: [2, 3] as [number, number],
  gt_classes: Int32Array.from(classes),
  gt_ids: Int32Array.from(ids),
  gt_masks: Uint8Array.from(masks.flat()),
});
const z = [0, 0, 0, 0, 0, 0];
const video = {
  instances: [
    frame([0, -1, 0], [7, -1, 4], [[1, 1, 0, 0, 0, 0], z, z]),
    frame([0, 0, 0], [7, 9, 4], [z, [0, 0, 0, 0, 0, 1], z]),
    frame([0, 0, 0], [7, 9, 4], [[0, 0, 0, 1, 0, 0], z, z]),
  ],
  refer_id: 12,
  video_len: 30,
  frame_idx: [3, 4, 5],
};

Deno.test("prepareTargets: the original's clip and frame targets", async () => {
  await useBackend("cpu");
  const { clipTargets, frameTargets } = prepareTargets([video], { numFrames: 3, padSize: [3, 4] });
  assertEquals(clipTargets.length, 1);
  const clip = clipTargets[0];
  assertEquals(Array.from(clip.labels), [0, 0], "object 2 dropped; object 1's class from frame 1");
  assertEquals(clip.ids, [[0, -1, 0], [-1, 2, -1]], "ids shifted by the smallest (7)");
  assertEquals(clip.masks.shape, [2, 3, 3, 4]);
  const m = ops.toArray(clip.masks);
  const at = (n: number, t: number, y: number, x: number) => m[((n * 3 + t) * 3 + y) * 4 + x];
  assertEquals([at(0, 0, 0, 0), at(0, 0, 0, 1), at(0, 0, 0, 2), at(0, 2, 1, 0), at(1, 1, 1, 2)], [
    1,
    1,
    0,
    1,
    1,
  ]);
  assertEquals(Array.from(m).reduce((s, v) => s + v, 0), 4, "padding is zero");
  assertEquals([clip.referId, clip.videoLen, clip.frameIdx], [12, 30, [3, 4, 5]]);
  assertEquals(frameTargets.length, 3);
  assertEquals(frameTargets.map((f) => Array.from(f.ids)), [[0], [2], [0]]);
  assertEquals(frameTargets.map((f) => Array.from(f.labels)), [[0], [0], [0]]);
  assertEquals(frameTargets.map((f) => f.masks.shape), [[1, 3, 4], [1, 3, 4], [1, 3, 4]]);
  assertEquals(Array.from(ops.toArray(frameTargets[1].masks)).indexOf(1), 1 * 4 + 2);
  ops.dispose([clip.masks, frameTargets.map((f) => f.masks)]);
  assertThrows(() => prepareTargets([video], { numFrames: 3, padSize: [1, 4] }), "exceeds the pad");
});

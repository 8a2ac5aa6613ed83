/**
 * The MeViS mappers and loaders on fake splits: output shapes and fields, masks aligned with images
 * after augmentation, object numbering as a Python set, resampling until the target shows, determinism
 * by seed, the test mapper, bad data found while mapping, and the loaders' batches and resumption.
 * @module
 */
import { join } from "node:path";
import { assert, assertEquals, assertNotEquals, assertRejects } from "../assert.ts";
import type { TrainAugmentationOptions } from "../../core/data/clip_augmentations.ts";
import { Generator } from "../../core/random.ts";
import { buildSmallBpeTokenizer, ByteLevelBpeTokenizer } from "../../core/text/mod.ts";
import { BadDataError } from "../../plugins/mevis/data/bad_data.ts";
import {
  mevisTestLoader,
  mevisTrainLoader,
  trainMapperOptionsFromConfig,
} from "../../plugins/mevis/data/loader.ts";
import { loadMevisSplit } from "../../plugins/mevis/data/mevis_dataset.ts";
import { encodeLang, type MevisSample } from "../../plugins/mevis/data/sample.ts";
import { MevisTestMapper } from "../../plugins/mevis/data/test_mapper.ts";
import { MevisTrainMapper, pythonSetOrder, swapLeftRight } from "../../plugins/mevis/data/train_mapper.ts";
import { CLEAN, type FakeVideo, quietReport, writeFakeSplit } from "./_fake_split.ts";

const AUG: TrainAugmentationOptions = {
  minSize: [20, 28, 36],
  maxSize: 64,
  sampling: "choice_by_clip",
  crop: { size: [10, 20], preResizeSizes: [30], preResizeMaxSize: 64 },
  flip: "flip_by_clip",
};

async function withSplit<T>(
  folder: string,
  videos: Record<string, FakeVideo>,
  fn: (root: string) => Promise<T>,
): Promise<T> {
  const root = await Deno.makeTempDir({ prefix: "dshmp_mapper_" });
  try {
    await writeFakeSplit(root, folder, videos);
    return await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("pythonSetOrder iterates as CPython 3.11's set (collisions, probing, growth)", () => {
  // Expected values printed by CPython 3.11.7: s = set(); s.update(v); list(s).
  assertEquals(pythonSetOrder([5, 12]), [12, 5]);
  assertEquals(pythonSetOrder([3, 1, 3]), [1, 3]);
  assertEquals(pythonSetOrder([8, 1]), [8, 1]);
  assertEquals(pythonSetOrder([16, 1, 32]), [16, 1, 32]);
  assertEquals(pythonSetOrder([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assertEquals(pythonSetOrder([40, 8, 3, 17, 25, 9]), [3, 40, 8, 9, 17, 25]);
  assertEquals(pythonSetOrder([100, 3, 64, 7, 2]), [64, 2, 3, 100, 7]);
});

function checkShapes(s: MevisSample, numFrames: number, numObjects: number): void {
  assertEquals(s.image.length, numFrames);
  assertEquals(s.instances.length, numFrames);
  assertEquals(s.gt_masks_merge.length, numFrames);
  assertEquals(s.frame_idx.length, numFrames);
  for (let t = 0; t < numFrames; t++) {
    const [c, h, w] = s.image[t].shape;
    assertEquals(c, 3);
    assertEquals(s.image[t].data.length, 3 * h * w);
    const inst = s.instances[t];
    assertEquals(inst.image_size, [h, w]);
    assertEquals(inst.gt_ids.length, numObjects);
    assertEquals(inst.gt_classes.length, numObjects);
    assertEquals(inst.gt_masks.length, numObjects * h * w);
    assertEquals(inst.gt_boxes.length, numObjects * 4);
    assertEquals(s.gt_masks_merge[t].length, h * w);
  }
}

Deno.test("train mapper: shapes, fields, ids -1 where absent, masks aligned with images after augmentation", async () => {
  await withSplit("train", CLEAN, async (root) => {
    const { report } = quietReport();
    const split = await loadMevisSplit("mevis_train", root, { report });
    const tok = ByteLevelBpeTokenizer.fromJson(buildSmallBpeTokenizer(["both", "boxes"]), "small");
    const mapper = new MevisTrainMapper(split, {
      sampling: { numFrames: 4, range: 3 },
      augmentation: AUG,
      tokenizer: tok,
    });
    const record = split.records[1]; // "both boxes": objects 0 (every frame) and 1 (frames 2, 3)
    let sawAbsent = false;
    let sawFlip = false;
    for (let seed = 0; seed < 12; seed++) {
      const s = await mapper.map(record, new Generator(seed));
      checkShapes(s, 4, 2);
      assertEquals([s.sentence, s.exp_id, s.video_name, s.refer_id, s.dataset_name], [
        "both boxes",
        "1",
        "vidA",
        1,
        "mevis",
      ]);
      assertEquals([s.height, s.width, s.length, s.video_len], [24, 32, 6, 6]);
      assertEquals(s.file_names, s.frame_idx.map((f) => record.file_names[f]));
      assertEquals(s.lang_tokens!.length, 40);
      assertEquals(Array.from(s.lang_mask!.slice(0, 5)), [1, 1, 1, 1, 0]);
      assert(s.valid.includes(1));
      for (let t = 0; t < 4; t++) {
        const f = s.frame_idx[t];
        const inst = s.instances[t];
        const [, h, w] = s.image[t].shape;
        const plane = h * w;
        const present = f === 2 || f === 3;
        // Object 1 is absent outside frames 2-3: placeholder class -1, id -1, empty mask.
        const k1 = pythonSetOrder(s.frame_idx.flatMap((g) => record.annotations[g].map((o) => o.id))).indexOf(
          1,
        );
        if (k1 >= 0 && !present) {
          sawAbsent = true;
          assertEquals([inst.gt_classes[k1], inst.gt_ids[k1]], [-1, -1]);
          assert(inst.gt_masks.subarray(k1 * plane, (k1 + 1) * plane).every((v) => v === 0));
        }
        // Alignment: where any mask is set the image is red, elsewhere blue (JPEG and resampling blur the
        // edges, so pixels next to an edge are not judged).
        const img = s.image[t].data;
        const merged = s.gt_masks_merge[t];
        let judged = 0, agree = 0;
        for (let y = 1; y < h - 1; y++) {
          for (let x = 1; x < w - 1; x++) {
            const p = y * w + x;
            const edge = merged[p] !== merged[p - 1] || merged[p] !== merged[p + 1] ||
              merged[p] !== merged[p - w] ||
              merged[p] !== merged[p + w];
            if (edge) continue;
            judged++;
            const red = img[p] > img[2 * plane + p];
            if (red === (merged[p] === 1)) agree++;
          }
        }
        assert(judged > 0 && agree / judged > 0.97, `frame ${f}: ${agree}/${judged} pixels agree`);
        for (let k = 0; k < 2; k++) {
          const m = inst.gt_masks.subarray(k * plane, (k + 1) * plane);
          const nonEmpty = m.some((v) => v === 1);
          assertEquals(
            inst.gt_ids[k] !== -1,
            nonEmpty,
            `frame ${f} object ${k}: id without mask or mask without id`,
          );
        }
      }
      // The box of object 0 sits at x 4..14 of 32 in the source; a flip moves its mask to the right half.
      const k0 = pythonSetOrder(s.frame_idx.flatMap((g) => record.annotations[g].map((o) => o.id))).indexOf(
        0,
      );
      const inst0 = s.instances[0];
      if (
        inst0.gt_ids[k0] !== -1 && s.image[0].shape[2] > 20 &&
        inst0.gt_boxes[k0 * 4] > s.image[0].shape[2] / 2
      ) {
        sawFlip = true;
      }
    }
    assert(sawAbsent, "no sampled clip had object 1 absent");
    assert(sawFlip, "no sampled clip was flipped");
  });
});

Deno.test("swapLeftRight swaps whole words only, keeping case and suffixes", () => {
  assertEquals(swapLeftRight("the bird moving left, then right"), "the bird moving right, then left");
  assertEquals(
    swapLeftRight("Left of the leftmost cat, moving rightwards"),
    "Right of the rightmost cat, moving leftwards",
  );
  assertEquals(swapLeftRight("a bright leftover"), "a bright leftover");
});

Deno.test("train mapper: FLIP_SWAPS_LEFT_RIGHT swaps the sentence of flipped clips only, tokens included", async () => {
  await withSplit("train", CLEAN, async (root) => {
    const split = await loadMevisSplit("mevis_train", root, { report: quietReport().report });
    const record = { ...split.records[1], sentence: "both boxes left" };
    const tok = ByteLevelBpeTokenizer.fromJson(
      buildSmallBpeTokenizer(["both", "boxes", "left", "right"]),
      "small",
    );
    const options = { sampling: { numFrames: 4, range: 3 }, augmentation: AUG, tokenizer: tok };
    const keep = new MevisTrainMapper(split, options);
    const swap = new MevisTrainMapper(split, { ...options, swapLeftRightOnFlip: true });
    const seen = new Set<string>();
    for (let seed = 0; seed < 12; seed++) {
      const a = await keep.map(record, new Generator(seed));
      const b = await swap.map(record, new Generator(seed));
      // Same draws either way: same frames and pixels.
      assertEquals(b.image.map((i) => i.data), a.image.map((i) => i.data));
      assertEquals(a.sentence, "both boxes left");
      // Object 0 sits in the left half of the source frames; right of the middle means flipped.
      const k0 = pythonSetOrder(a.frame_idx.flatMap((g) => record.annotations[g].map((o) => o.id))).indexOf(
        0,
      );
      const inst = a.instances[0];
      if (inst.gt_ids[k0] === -1) continue;
      const flipped = inst.gt_boxes[k0 * 4] > a.image[0].shape[2] / 2;
      assertEquals(b.sentence, flipped ? "both boxes right" : "both boxes left", `seed ${seed}`);
      // The tokens are the shown sentence's.
      assertEquals(
        Array.from(b.lang_tokens!),
        Array.from(encodeLang(b.sentence, tok, undefined).lang_tokens!),
      );
      seen.add(b.sentence);
    }
    assertEquals(seen.size, 2, "both flipped and unflipped clips were drawn");
  });
});

Deno.test("train mapper draws new clips until the target shows, and is deterministic by seed", async () => {
  const target: FakeVideo["objects"][string] = Array(30).fill(null);
  target[27] = [2, 2, 10, 10];
  await withSplit("train", {
    late: {
      frames: 30,
      objects: { "1": target },
      expressions: { "0": { exp: "late", obj_id: [4], anno_id: [1] } },
    },
  }, async (root) => {
    const split = await loadMevisSplit("mevis_train", root, { report: quietReport().report });
    const mapper = new MevisTrainMapper(split, {
      sampling: { numFrames: 2, range: 2 },
      augmentation: { minSize: [24], maxSize: 64, sampling: "choice_by_clip", flip: "none" },
    });
    const a = await mapper.map(split.records[0], new Generator(3));
    assert(a.frame_idx.includes(27), `clip ${a.frame_idx} misses the only frame with the target`);
    assertEquals(a.instances[a.frame_idx.indexOf(27)].gt_ids[0], 4);
    const b = await mapper.map(split.records[0], new Generator(3));
    assertEquals(b.frame_idx, a.frame_idx);
    assertEquals(b.image.map((i) => i.data), a.image.map((i) => i.data));
    assertEquals(b.instances, a.instances);
    const c = await mapper.map(split.records[0], new Generator(4));
    assert(c.frame_idx.includes(27));
    const limited = new MevisTrainMapper(split, { ...mapper.options, maxAttempts: 1 });
    // With one attempt, some seed draws a clip without the target: an error naming video and file.
    let err: unknown;
    for (let seed = 0; seed < 20 && !err; seed++) {
      await limited.map(split.records[0], new Generator(seed)).catch((e) => (err = e));
    }
    assert(
      err instanceof BadDataError && err.issue.kind === "no_target" &&
        /video "late", expression 0/.test(err.message),
    );
  });
});

Deno.test("test mapper: every frame, shortest edge MIN_SIZE_TEST, original size kept, BGR on request", async () => {
  await withSplit("valid", CLEAN, async (root) => {
    const split = await loadMevisSplit("mevis_test", root, { report: quietReport().report });
    const rgb = await new MevisTestMapper(split, { minSizeTest: 12 }).map(split.records[0]);
    assertEquals(rgb.image.length, 6);
    assertEquals(rgb.frame_idx, [0, 1, 2, 3, 4, 5]);
    assertEquals(rgb.image[0].shape, [3, 12, 16]);
    assertEquals([rgb.height, rgb.width, rgb.video_len, rgb.refer_id], [24, 32, 0, -1]);
    assertEquals([rgb.instances, rgb.gt_masks_merge, rgb.lang_tokens], [[], [], null]);
    const bgr = await new MevisTestMapper(split, { minSizeTest: 12, format: "BGR" }).map(split.records[0]);
    const plane = 12 * 16;
    assertEquals(bgr.image[0].data.subarray(0, plane), rgb.image[0].data.subarray(2 * plane));
    // The short video is a test record too: one frame.
    const short = split.records.find((r) => r.video_name === "short")!;
    assertEquals((await new MevisTestMapper(split, { minSizeTest: 12 }).map(short)).image.length, 1);
  });
});

Deno.test("a frame that fails to decode while mapping is named; loaders skip it once or stop when strict", async () => {
  await withSplit("train", CLEAN, async (root) => {
    const dir = join(root, "mevis", "train");
    const { report, warnings } = quietReport();
    const split = await loadMevisSplit("mevis_train", root, { report });
    // Broken after loading (the load reads only each video's first frame header). The target shows only
    // in frames 1 and 2, so every accepted clip of vidB needs one of them.
    const broken = [1, 2].map((f) => join(dir, "JPEGImages", "vidB", `0000${f}.jpg`));
    for (const file of broken) await Deno.writeFile(file, new Uint8Array([0xff, 0xd8, 0xff, 0, 1, 2]));
    const mapper = new MevisTrainMapper(split, {
      sampling: { numFrames: 2, range: 3 },
      augmentation: { minSize: [16], maxSize: 64, sampling: "choice_by_clip", flip: "none" },
    });
    const err = await assertRejects(() => mapper.map(split.records[2], new Generator(0)));
    assert(err instanceof BadDataError);
    assertEquals([err.issue.kind, err.issue.video, err.issue.expressions], ["unreadable_image", "vidB", [
      "0",
    ]]);
    assert(broken.includes(err.issue.file), err.issue.file);
    const batches = [];
    for await (const batch of mevisTrainLoader(split, mapper, { seed: 1, batchSize: 2, concurrency: 2 })) {
      batches.push(batch);
      if (batches.length === 6) break;
    }
    assert(batches.every((b) => b.samples.every((s) => s.video_name === "vidA")));
    // Reported once per file, however often vidB is drawn.
    const named = broken.filter((file) => warnings.some((w) => w.includes(file)));
    assert(named.length >= 1);
    assertEquals(report.count("unreadable_image"), named.length);
    const strict = quietReport(true);
    await assertRejects(async () => {
      for await (
        const _ of mevisTrainLoader(split, mapper, { seed: 1, batchSize: 2, report: strict.report })
      ) {
        // keeps going until the bad sample
      }
    }, /video "vidB", expression 0, file .*0000[12]\.jpg/);
    const testSplit = { ...split, name: "mevis_test" };
    const seen = [];
    for await (const s of mevisTestLoader(testSplit, new MevisTestMapper(testSplit, { minSizeTest: 12 }))) {
      seen.push(`${s.video_name}/${s.exp_id}`);
    }
    assertEquals(seen, ["vidA/0", "vidA/1"]);
  });
});

Deno.test("train loader batches depend only on the seed, and resume exactly from nextIndex", async () => {
  await withSplit("train", CLEAN, async (root) => {
    const split = await loadMevisSplit("mevis_train", root, { report: quietReport().report });
    const mapper = new MevisTrainMapper(split, { sampling: { numFrames: 3, range: 2 }, augmentation: AUG });
    const take = async (options: Parameters<typeof mevisTrainLoader>[2], n: number) => {
      const out = [];
      for await (const b of mevisTrainLoader(split, mapper, options)) {
        out.push({
          indices: b.indices,
          nextIndex: b.nextIndex,
          keys: b.samples.map((s) => `${s.video_name}/${s.exp_id}:${s.frame_idx}`),
          pixels: b.samples.map((s) => s.image[0].data),
        });
        if (out.length === n) break;
      }
      return out;
    };
    const serial = await take({ seed: 9, batchSize: 2, concurrency: 1, prefetch: 1 }, 4);
    assertEquals(serial.map((b) => b.indices), [[0, 1], [2, 3], [4, 5], [6, 7]]);
    // Each pass over the 3 records visits each once.
    assertEquals(new Set(serial.flatMap((b) => b.keys).slice(0, 3).map((k) => k.split(":")[0])).size, 3);
    assertEquals(await take({ seed: 9, batchSize: 2, concurrency: 4, prefetch: 8 }, 4), serial);
    const resumed = await take({ seed: 9, batchSize: 2, startIndex: serial[1].nextIndex }, 2);
    assertEquals(resumed, serial.slice(2));
    const other = await take({ seed: 10, batchSize: 2 }, 4);
    assertNotEquals(other.map((b) => b.keys), serial.map((b) => b.keys));
  });
});

Deno.test("trainMapperOptionsFromConfig reads the original's keys, crop size from INPUT.PSEUDO.CROP", () => {
  const cfg = {
    INPUT: {
      SAMPLING_FRAME_NUM: 8,
      SAMPLING_FRAME_RANGE: 10,
      SAMPLING_FRAME_SHUFFLE: false,
      MIN_SIZE_TRAIN: [288, 320],
      MAX_SIZE_TRAIN: 768,
      MIN_SIZE_TRAIN_SAMPLING: "choice_by_clip",
      RANDOM_FLIP: "flip_by_clip",
      FLIP_SWAPS_LEFT_RIGHT: false,
      AUGMENTATIONS: [],
      FORMAT: "RGB",
      CROP: { ENABLED: true, TYPE: "absolute_range", SIZE: [600, 720] },
      PSEUDO: { CROP: { TYPE: "absolute_range", SIZE: [384, 600] } },
      LSJ_AUG: { ENABLED: false },
    },
  };
  const opts = trainMapperOptionsFromConfig(cfg);
  assertEquals(opts.swapLeftRightOnFlip, false);
  assertEquals(
    trainMapperOptionsFromConfig({ INPUT: { ...cfg.INPUT, FLIP_SWAPS_LEFT_RIGHT: true } })
      .swapLeftRightOnFlip,
    true,
  );
  assertEquals(opts.sampling, { numFrames: 8, range: 10, shuffle: false });
  assertEquals(opts.augmentation.crop, { size: [384, 600] });
  assertEquals([opts.augmentation.minSize, opts.augmentation.maxSize, opts.format], [[288, 320], 768, "RGB"]);
  const rotation = { INPUT: { ...cfg.INPUT, AUGMENTATIONS: ["rotation"] } };
  let message = "";
  try {
    trainMapperOptionsFromConfig(rotation);
  } catch (e) {
    message = (e as Error).message;
  }
  assert(/INPUT\.AUGMENTATIONS .*not ported/.test(message), message);
});

/**
 * MeViS records from small fake splits: counts, sentence normalisation, short videos, every bad-data
 * case and its message, strict mode, and the dataset root rule.
 * @module
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch, assertRejects } from "../assert.ts";
import { rleEncode } from "../../core/data/rle.ts";
import { createRegistries } from "../../core/registries.ts";
import { Generator } from "../../core/random.ts";
import {
  loadMevisJson,
  loadMevisSplit,
  mevisDatasetFactory,
  type MevisSplit,
  normalizeSentence,
} from "../../plugins/mevis/data/mevis_dataset.ts";
import { box, CLEAN, quietReport, writeFakeSplit } from "./_fake_split.ts";

async function tempRoot(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "dshmp_mevis_" });
}

Deno.test("normalizeSentence lower-cases and collapses whitespace as Python's split()", () => {
  assertEquals(normalizeSentence("  The Cat\t\tMOVING\nleft "), "the cat moving left");
  // U+001C..U+001F and U+0085 separate words in Python; U+FEFF does not (JavaScript's \s would).
  assertEquals(normalizeSentence("a\x1cb\x85c\ufeffd\u3000e"), "a b c\ufeffd e");
  assertEquals(normalizeSentence(" \n\t "), "");
});

Deno.test("mevis_train records: counts, sorted frames, per-frame objects, refer ids, short videos skipped", async () => {
  const root = await tempRoot();
  try {
    await writeFakeSplit(root, "train", CLEAN);
    const { report, warnings } = quietReport();
    const split = await loadMevisSplit("mevis_train", root, { report });
    assertEquals(split.records.length, 3);
    assertEquals(split.stats.videos, 3);
    assertEquals(split.stats.expressions, 5);
    assertEquals(split.stats.skippedShortVideos, 1);
    assertEquals(report.count("short_video"), 1);
    assertMatch(
      warnings[0],
      /mevis_train: video "short", expressions 0, 1, file .*meta_expressions_idx\.json/,
    );
    const [a0, a1, b0] = split.records;
    assertEquals(a0.sentence, "the red box moving");
    assertEquals(a1.sentence, "both boxes");
    assertEquals([a0.refer_id, a1.refer_id, b0.refer_id], [0, 1, 2]);
    assertEquals(a0.length, 6);
    assertEquals(a0.file_names[0], join(root, "mevis", "train", "JPEGImages", "vidA", "00000.jpg"));
    assertEquals(a0.file_names[5], join(root, "mevis", "train", "JPEGImages", "vidA", "00005.jpg"));
    assertEquals(a1.annotations.map((objs) => objs.map((o) => o.id)), [[0], [0], [0, 1], [0, 1], [0], [0]]);
    assertEquals(a1.annotations[2][1], { id: 1, anno_id: "11", category_id: 0 });
    assertEquals(b0.annotations.map((o) => o.length), [0, 1, 1, 0]);
    assertEquals(split.stats.instancesWithSegmentation, 6 + 8 + 2);
    assertEquals(split.stats.instancesWithoutSegmentation, 4 + 2);
    assertEquals(split.frameSizes.get("vidA"), [24, 32]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("mevis_val and mevis_test records carry no ground truth and keep short videos", async () => {
  const root = await tempRoot();
  try {
    await writeFakeSplit(root, "valid_u", CLEAN);
    await writeFakeSplit(root, "valid", CLEAN);
    for (const name of ["mevis_val", "mevis_test"] as const) {
      const { report } = quietReport();
      const split = await loadMevisSplit(name, root, { report });
      assertEquals(split.records.length, 5, name);
      assertEquals(split.masks, null);
      assert(split.records.every((r) => r.refer_id === -1 && r.annotations.length === 0));
      assertEquals(report.count(), 0);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("mevis_train without meta_expressions_idx.json says to run deno task prepare", async () => {
  const root = await tempRoot();
  try {
    const dir = await writeFakeSplit(root, "train", { vidB: CLEAN.vidB });
    await Deno.remove(join(dir, "meta_expressions_idx.json"));
    await assertRejects(
      () => loadMevisSplit("mevis_train", root),
      /meta_expressions_idx\.json.*deno task prepare/,
    );
    // Pointing the training split at the file without idx is caught too.
    await assertRejects(
      () => loadMevisJson({ imageRoot: dir, jsonFile: join(dir, "meta_expressions.json") }),
      /vidB", expression 0 has no integer "idx".*deno task prepare/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

/** A train split where every expression but vidA/0 has one problem. */
async function writeBrokenSplit(root: string): Promise<string> {
  const ok = box(3, [2, 2, 6, 6]);
  const dir = await writeFakeSplit(root, "train", {
    vidA: {
      frames: 3,
      objects: { "1": ok, "2": box(3, null), "3": ok },
      expressions: {
        "0": { exp: "fine", obj_id: [0], anno_id: [1] },
        "1": { exp: " \t ", obj_id: [0], anno_id: [1] },
        "2": { exp: "unknown object", obj_id: [0], anno_id: [99] },
        "3": { exp: "never visible", obj_id: [0], anno_id: [2] },
        "4": { exp: "more obj ids", obj_id: [0, 5], anno_id: [3] },
      },
    },
    vidMissing: {
      frames: 3,
      objects: { "4": ok },
      expressions: { "0": { exp: "gone", obj_id: [0], anno_id: [4] } },
    },
    vidBadJpeg: {
      frames: 3,
      objects: { "5": ok },
      expressions: { "0": { exp: "broken", obj_id: [0], anno_id: [5] } },
    },
    vidLen: {
      frames: 3,
      objects: { "6": ok },
      expressions: { "0": { exp: "short masks", obj_id: [0], anno_id: [6] } },
    },
    vidSize: {
      frames: 3,
      objects: { "7": ok },
      expressions: { "0": { exp: "wrong size", obj_id: [0], anno_id: [7] } },
    },
  });
  await Deno.remove(join(dir, "JPEGImages", "vidMissing", "00001.jpg"));
  await Deno.writeFile(join(dir, "JPEGImages", "vidBadJpeg", "00000.jpg"), new Uint8Array([1, 2, 3, 4]));
  const masks = JSON.parse(await Deno.readTextFile(join(dir, "mask_dict.json")));
  masks["6"] = masks["6"].slice(0, 2);
  masks["7"] = masks["7"].map(() => rleEncode(new Uint8Array(12 * 16).fill(1), 12, 16));
  await Deno.writeTextFile(join(dir, "mask_dict.json"), JSON.stringify(masks));
  return dir;
}

Deno.test("each bad-data case is skipped, counted and named by video, expression and file", async () => {
  const root = await tempRoot();
  try {
    const dir = await writeBrokenSplit(root);
    const { report, warnings } = quietReport();
    const split = await loadMevisSplit("mevis_train", root, { report });
    assertEquals(split.records.map((r) => `${r.video_name}/${r.exp_id}`), ["vidA/0", "vidA/4"]);
    assertEquals(split.stats.skippedExpressions, 7);
    const masks = join(dir, "mask_dict.json").replace(/[.\\]/g, "\\$&");
    const expect: [string, RegExp][] = [
      [
        "empty_sentence",
        /video "vidA", expression 1, file .*meta_expressions_idx\.json: the sentence " \\t " is empty/,
      ],
      [
        "unknown_anno",
        new RegExp(`video "vidA", expression 2, file ${masks}: anno_id "99" is not in mask_dict`),
      ],
      ["no_target", new RegExp(`video "vidA", expression 3, file ${masks}: none of anno_id 2 has a mask`)],
      [
        "id_mismatch",
        /video "vidA", expression 4, file .*meta_expressions_idx\.json: 2 obj_id but 1 anno_id/,
      ],
      [
        "missing_frame",
        /video "vidMissing", expression 0, file .*JPEGImages\/vidMissing\/00001\.jpg: frame file is missing \(1 of 3/,
      ],
      [
        "unreadable_image",
        /video "vidBadJpeg", expression 0, file .*JPEGImages\/vidBadJpeg\/00000\.jpg: cannot read image/,
      ],
      [
        "mask_length",
        new RegExp(`video "vidLen", expression 0, file ${masks}: anno_id "6" has 2 frame masks, the video 3`),
      ],
      [
        "mask_size",
        new RegExp(
          `video "vidSize", expression 0, file ${masks}: anno_id "7" masks are 12x16, the frames 24x32`,
        ),
      ],
    ];
    for (const [kind, pattern] of expect) {
      assertEquals(report.count(kind as never), 1, kind);
      assert(
        warnings.some((w) => pattern.test(w) && w.includes(`[${kind}]`)),
        `${kind}: ${warnings.join("\n")}`,
      );
    }
    assertEquals(report.count(), expect.length);
    assertEquals(
      report.summary(),
      "empty_sentence: 1, id_mismatch: 1, mask_length: 1, mask_size: 1, missing_frame: 1, no_target: 1, " +
        "unknown_anno: 1, unreadable_image: 1",
    );
    // The zip-truncated expression keeps only the paired object, as the original.
    assertEquals(split.records[1].annotations[0], [{ id: 0, anno_id: "3", category_id: 0 }]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("strict mode stops at the first bad expression with its message; short videos stay tolerated", async () => {
  const root = await tempRoot();
  try {
    await writeBrokenSplit(root);
    const { report } = quietReport(true);
    await assertRejects(
      () => loadMevisSplit("mevis_train", root, { report }),
      /mevis_train: video "vidA", expression 1, file .*: the sentence .* is empty \[empty_sentence\]/,
    );
    const root2 = await tempRoot();
    try {
      await writeFakeSplit(root2, "train", CLEAN);
      const strict = quietReport(true);
      const split = await loadMevisSplit("mevis_train", root2, { report: strict.report });
      assertEquals(split.stats.skippedShortVideos, 1);
    } finally {
      await Deno.remove(root2, { recursive: true });
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("registry factory: DATASETS.ROOT, else DSHMP_DATASETS, and ctx.strictData", async () => {
  const root = await tempRoot();
  const previous = Deno.env.get("DSHMP_DATASETS");
  try {
    await writeFakeSplit(root, "valid", { vidB: CLEAN.vidB });
    const registries = createRegistries();
    registries.datasets.register("mevis_test", mevisDatasetFactory("mevis_test"));
    const ctx = { registries, generator: new Generator(0), strictData: true };
    const fromKey =
      await (registries.datasets.get("mevis_test")({ DATASETS: { ROOT: root } }, ctx) as Promise<
        MevisSplit
      >);
    assertEquals(fromKey.records.length, 1);
    assert(fromKey.report.strict);
    Deno.env.set("DSHMP_DATASETS", root);
    const fromEnv = await (registries.datasets.get("mevis_test")({ DATASETS: { ROOT: "" } }, ctx) as Promise<
      MevisSplit
    >);
    assertEquals(fromEnv.records[0].file_names, fromKey.records[0].file_names);
  } finally {
    if (previous === undefined) Deno.env.delete("DSHMP_DATASETS");
    else Deno.env.set("DSHMP_DATASETS", previous);
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("mask_dict.json is indexed in a stream and read back entry by entry", async () => {
  const { MaskDict } = await import("../../plugins/mevis/data/mask_dict.ts");
  const dir = await tempRoot();
  try {
    const path = join(dir, "mask_dict.json");
    const rle = rleEncode(new Uint8Array([0, 1, 1, 1, 0, 0]), 2, 3);
    // Keys with escapes, brackets inside strings, falsy frame values, a scalar entry.
    const text = ` {"a\\"]" : [null, ${JSON.stringify(rle)}, {}, [], 0],\n "7":"x,}[" ,"8": [${
      JSON.stringify(rle)
    }]}\n`;
    await Deno.writeTextFile(path, text);
    for (const chunk of [3, 1 << 16]) {
      const masks = await MaskDict.open(path, chunk);
      assertEquals(masks.size, 3);
      assertEquals(Array.from(masks.entry('a"]')!.present), [0, 1, 0, 0, 0]);
      assertEquals(await masks.get('a"]'), [null, rle, null, null, null]);
      assertMatch(masks.entry("7")!.problem!.detail, /string, not a list/);
      assertEquals(await masks.get("8"), [rle]);
    }
    await Deno.writeTextFile(path, `{"1": [null], "2"`);
    await assertRejects(() => MaskDict.open(path), /not a mask_dict \(unexpected end of file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

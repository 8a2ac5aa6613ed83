/**
 * The contrastive memory bank: positives and hard negatives from small hand-made `idx2positive.json` /
 * `idx2negative.json` files, random negatives drawn only from the other expressions, the three branches
 * of the original's negative selection, the update rule, and the buffer names and shapes of the paper
 * configuration (`reference_keys.json`).
 * @module
 */
import { join } from "node:path";
import { assert, assertClose, assertEquals, assertThrows } from "../assert.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";
import { Generator } from "../../core/random.ts";
import {
  loadContrastiveTables,
  MemoryConstruct,
  VitaHungarianMatcher,
  VitaSetCriterion,
} from "../../plugins/dshmp/losses/mod.ts";

// Two videos: expressions 0-3 in video A (0 and 2 share a referent), 4-5 in video B, 6-9 in video C.
const idx2positive = {
  "0": [0, 2],
  "1": [1],
  "2": [0, 2],
  "3": [3],
  "4": [4, 5],
  "5": [4, 5],
  "6": [6],
  "7": [7],
  "8": [8],
  "9": [9],
};
const idx2negative = {
  "0": [1, 3],
  "1": [0, 2, 3],
  "2": [1, 3],
  "3": [0, 1, 2],
  "4": [],
  "5": [],
  "6": [7, 8, 9],
  "7": [6, 8, 9],
  "8": [6, 7, 9],
  "9": [6, 7, 8],
};

async function tablesDir(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "dshmp_bank_" });
  await Deno.writeTextFile(join(dir, "idx2positive.json"), JSON.stringify(idx2positive, null, 4));
  await Deno.writeTextFile(join(dir, "idx2negative.json"), JSON.stringify(idx2negative, null, 4));
  return dir;
}

Deno.test("MemoryConstruct: positives, then random others followed by all hard negatives", async () => {
  await useBackend("cpu");
  const dir = await tablesDir();
  const tables = loadContrastiveTables(dir);
  await Deno.remove(dir, { recursive: true });
  const bank = new MemoryConstruct({
    numSamples: 10,
    numFeatures: 4,
    numContrastiveBatch: 6,
    tables,
    generator: new Generator(5),
  });
  const seen = new Set<number>();
  for (let k = 0; k < 50; k++) {
    const { positive, negative } = bank.sampleIndices(0);
    assertEquals(positive, [0, 2]);
    assertEquals(negative.length, 4, "batch 6 minus 2 positives");
    assertEquals(negative.slice(2), [1, 3], "the hard negatives come last, in table order");
    const random = negative.slice(0, 2);
    assertEquals(new Set(random).size, 2, "drawn without replacement");
    for (const i of random) {
      assert(![0, 1, 2, 3].includes(i), `random negative ${i} is a positive or a hard negative`);
      seen.add(i);
    }
  }
  assertEquals([...seen].sort(), [4, 5, 6, 7, 8, 9], "every other expression gets drawn");
  // No hard negatives: all negatives are random others.
  const b = bank.sampleIndices(4);
  assertEquals(b.positive, [4, 5]);
  assertEquals(b.negative.length, 4);
  assert(b.negative.every((i) => i !== 4 && i !== 5));
  // More hard negatives than room: the first ones only, no random draw.
  bank.numContrastiveBatch = 3;
  assertEquals(bank.sampleIndices(6), { positive: [6], negative: [7, 8] });
  bank.numContrastiveBatch = 4;
  const full = bank.sampleIndices(6);
  assertEquals(full.negative, [7, 8, 9], "exactly enough hard negatives: none drawn");
  assertThrows(() => bank.sampleIndices(10), "outside [0, 10)");
  bank.dispose();
});

Deno.test("MemoryConstruct: same seed, same draws; the sampler is injectable", async () => {
  await useBackend("cpu");
  const make = (seed: number) =>
    new MemoryConstruct({
      numSamples: 10,
      numFeatures: 4,
      numContrastiveBatch: 6,
      tables: { idx2positive, idx2negative },
      generator: new Generator(seed),
    });
  const [a, b] = [make(1), make(1)];
  assertEquals(a.sampleIndices(1), b.sampleIndices(1));
  assertEquals(ops.toArray(a.features), ops.toArray(b.features), "same initial features");
  const offered: number[][] = [];
  a.negativeSampler = (candidates, size) => {
    offered.push([...candidates, -size]);
    return candidates.slice(0, size);
  };
  assertEquals(a.sampleIndices(7).negative, [0, 1, 6, 8, 9]);
  assertEquals(offered, [[0, 1, 2, 3, 4, 5, -2]]);
  a.dispose();
  b.dispose();
});

Deno.test("MemoryConstruct.update: 0.1 old + 0.9 new in one row, other rows untouched", async () => {
  await useBackend("cpu");
  const bank = new MemoryConstruct({ numSamples: 5, numFeatures: 3, generator: new Generator(2) });
  for (const row of [0, 2, 4]) {
    const before = Float32Array.from(ops.toArray(bank.features));
    const embed = ops.tensor([1, -2, 3], [1, 3]);
    bank.update(row, embed);
    const after = ops.toArray(bank.features);
    const expected = Float32Array.from(before);
    for (let j = 0; j < 3; j++) expected[row * 3 + j] = 0.1 * before[row * 3 + j] + 0.9 * [1, -2, 3][j];
    assertClose(after, expected, { atol: 1e-6, rtol: 1e-6, label: `row ${row}` });
    ops.dispose(embed);
  }
  bank.dispose();
});

Deno.test("VitaSetCriterion: buffer names and shapes of the paper configuration", async () => {
  await useBackend("wasm");
  const ref = JSON.parse(
    await Deno.readTextFile(new URL("../../../shared/fixtures/reference_keys.json", import.meta.url)),
  ).keys as Record<string, { shape: number[] }>;
  const vita = new VitaSetCriterion({
    numClasses: 1,
    matcher: new VitaHungarianMatcher({ numPoints: 4 }),
    weightDict: {},
    eosCoef: 0.1,
    numPoints: 4,
    memoryBank: { generator: new Generator(0) },
  });
  const got = [...vita.stateDict()].map(([k, v]) => [`vita_criterion.${k}`, v.shape]);
  const expected = Object.entries(ref).filter(([k]) => k.startsWith("vita_criterion.")).map((
    [k, v],
  ) => [k, v.shape]);
  assertEquals(got, expected);
  assertEquals(expected.find(([k]) => k === "vita_criterion.train_memory_bank.features")![1], [23051, 256]);
  assertEquals(Array.from(ops.toArray(vita.emptyWeight)), [1, Math.fround(0.1)]);
  vita.dispose();
});

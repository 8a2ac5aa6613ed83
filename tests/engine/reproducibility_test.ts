/**
 * Reproducibility of training on the `wasm` backend (the CI backend), with the tiny model of
 * tests/golden/tiny_model.ts and gradient accumulation over 2 micro-batches:
 *
 * - one seed, two runs (with and without prefetching): the same losses and weights, bit for bit;
 * - `2k` iterations == `k` + resume + `k`: same losses, and the final checkpoint files (weights and
 *   AdamW moments) byte for byte, also when the interrupted run went past its last checkpoint;
 * - the losses equal the golden ones in tests/golden/engine_tiny_wasm.json exactly (float64 values
 *   of float32 sums, compared with `===`). Regenerate them with
 *   `deno run -A tests/golden/regenerate_engine.ts` only for an intended change.
 *
 * The learning-rate schedule and clipping have their own tests.
 */
import { assert, assertEquals, assertNotEquals, assertRejects } from "../assert.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import type { TrainerHook } from "../../core/engine/hooks.ts";
import { goldenRecord, lossesOf, runTiny, weightsDigest, weightsOf } from "../golden/tiny_model.ts";
import { GOLDEN_PATH } from "../golden/regenerate_engine.ts";

async function inTempDirs(n: number, fn: (...dirs: string[]) => Promise<void>): Promise<void> {
  await useBackend("wasm");
  const dirs = await Promise.all(
    Array.from({ length: n }, () => Deno.makeTempDir({ prefix: "dshmp_repro_" })),
  );
  try {
    await fn(...dirs);
  } finally {
    for (const d of dirs) await Deno.remove(d, { recursive: true });
  }
}

/** A hook that stops the run with an error after `iteration`, as a crash or a kill would. */
const crashAfter = (iteration: number): TrainerHook => ({
  afterStep: (_t, step) => {
    if (step.iteration === iteration) throw new Error(`simulated crash after iteration ${iteration}`);
  },
});

const read = (path: string) => Deno.readFile(path);

Deno.test("one seed, two runs: identical losses and weights (prefetching or not)", async () => {
  await inTempDirs(3, async (a, b, c) => {
    const runA = await runTiny({ outputDir: a, maxIter: 6, prefetch: 3 });
    const runB = await runTiny({ outputDir: b, maxIter: 6, prefetch: 0 });
    assertEquals(await lossesOf(a), await lossesOf(b));
    assertEquals(weightsOf(runA.net), weightsOf(runB.net));
    // A different seed gives a different run (the comparison above can fail).
    const runC = await runTiny({ outputDir: c, maxIter: 6, seed: 8 });
    assertNotEquals(await lossesOf(c), await lossesOf(a));
    for (const r of [runA, runB, runC]) r.net.dispose();
  });
});

Deno.test("2k iterations == k + resume + k: same losses, same final weights and moments byte for byte", async () => {
  await inTempDirs(2, async (whole, parts) => {
    const k = 4;
    const full = await runTiny({ outputDir: whole, maxIter: 2 * k, checkpointPeriod: k });
    const firstSeen: number[] = [];
    await assertRejects(
      () =>
        runTiny({
          outputDir: parts,
          maxIter: 2 * k,
          checkpointPeriod: k,
          hooks: [crashAfter(k - 1)],
          seen: firstSeen,
        }),
      /simulated crash/,
    );
    // The resumed run starts from other initial weights: everything must come from the checkpoint.
    const seen: number[] = [];
    const resumed = await runTiny({
      outputDir: parts,
      maxIter: 2 * k,
      checkpointPeriod: k,
      resume: true,
      initSeed: 123,
      prefetch: 0,
      seen,
    });
    // Two micro-batches per iteration: the resumed run asks for micro-batches 2k.. only.
    assertEquals(seen, Array.from({ length: 2 * k }, (_, i) => 2 * k + i));
    assert(firstSeen.slice(0, 2 * k).every((v, i) => v === i));
    assertEquals(await lossesOf(parts), await lossesOf(whole));
    assertEquals(weightsOf(resumed.net), weightsOf(full.net));
    for (
      const f of ["model_final.safetensors", "model_final.optim.safetensors", "model_0000007.safetensors"]
    ) {
      assertEquals(await read(`${parts}/${f}`), await read(`${whole}/${f}`), f);
    }
    full.net.dispose();
    resumed.net.dispose();
  });
});

Deno.test("a crash past the last checkpoint: the resumed run redoes those iterations and the log reads as one run", async () => {
  await inTempDirs(2, async (whole, parts) => {
    const full = await runTiny({ outputDir: whole, maxIter: 9, checkpointPeriod: 3 });
    await assertRejects(
      () => runTiny({ outputDir: parts, maxIter: 9, checkpointPeriod: 3, hooks: [crashAfter(4)] }),
      /simulated crash/,
    );
    // The log has rows 0..4; the checkpoint is at 2, so rows 3 and 4 are written again.
    const resumed = await runTiny({
      outputDir: parts,
      maxIter: 9,
      checkpointPeriod: 3,
      resume: true,
      initSeed: 5,
    });
    assertEquals(await lossesOf(parts), await lossesOf(whole));
    assertEquals((await lossesOf(parts)).map((r) => r.iteration), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assertEquals(await weightsDigest(resumed.net), await weightsDigest(full.net));
    full.net.dispose();
    resumed.net.dispose();
  });
});

Deno.test("the tiny run's losses equal the golden ones on wasm, bitwise", async () => {
  await inTempDirs(1, async (dir) => {
    const golden = JSON.parse(await Deno.readTextFile(GOLDEN_PATH));
    const record = await goldenRecord(dir);
    assertEquals(golden.backend, "wasm");
    assertEquals(record.run, golden.run);
    // assertEquals compares numbers with Object.is: every float64 must match exactly.
    assertEquals(record.losses, golden.losses);
    assertEquals(record.weightsSha256, golden.weightsSha256);
  });
});

Deno.test("replicas in worker threads: the one-process run's losses and weights, bit for bit", async () => {
  await inTempDirs(3, async (one, two, four) => {
    const run = { maxIter: 5, imsPerBatch: 4, checkpointPeriod: 10 };
    const alone = await runTiny({ outputDir: one, ...run });
    // One replica: micro-batches in pairs; three: all four of an iteration at once.
    const paired = await runTiny({ outputDir: two, ...run, replicas: 1 });
    const wide = await runTiny({ outputDir: four, ...run, replicas: 3 });
    assertEquals(await lossesOf(two), await lossesOf(one));
    assertEquals(await lossesOf(four), await lossesOf(one));
    assertEquals(weightsOf(paired.net), weightsOf(alone.net));
    assertEquals(weightsOf(wide.net), weightsOf(alone.net));
    for (const r of [alone, paired, wide]) r.net.dispose();
  });
});

Deno.test("replicas: a replica that cannot build stops training with its message", async () => {
  await inTempDirs(1, async (dir) => {
    await assertRejects(
      () => runTiny({ outputDir: dir, maxIter: 2, replicas: 1, failBuild: "no model here" }),
      /replica 1: Error: no model here/,
    );
  });
});

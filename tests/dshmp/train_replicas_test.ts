/**
 * `deno task train`'s replicas (`--replicas`, `core/engine/replicas.ts` with `tasks/train_replica.ts`)
 * on the tiny DsHmp config: two iterations of two clips, each iteration's second clip on a replica in a
 * worker thread, give the one-process run's losses and final state dict (the contrastive memory bank
 * included: the replica's bank writes reach the trainer's model), bit for bit.
 * @module
 */
import { join } from "node:path";
import { assertEquals, assertNotEquals } from "../assert.ts";
import * as ops from "../../core/tensor/ops.ts";
import { activeBackend, useBackend } from "../../core/tensor/backend.ts";
import { Generator } from "../../core/random.ts";
import { readMetrics } from "../../core/engine/metrics_log.ts";
import { createDshmpTraining } from "../../plugins/dshmp/model/train_adapter.ts";
import type { TrainReplicaInit } from "../../tasks/train_replica.ts";
import { PAPER_CONFIG, tinySetup, tinyTrainer } from "./_tiny_dshmp.ts";

Deno.test("DsHmp training with a replica in a worker thread: the one-process run's losses and state, bit for bit", async () => {
  await useBackend("wasm");
  const root = await Deno.makeTempDir({ prefix: "dshmp_replicas_" });
  try {
    const setup = await tinySetup(root, ["SOLVER.IMS_PER_BATCH", "2"]);
    const { cfg, registries } = setup;
    const run = async (out: string, replicas: number) => {
      const init: TrainReplicaInit = {
        argv: ["--config-file", PAPER_CONFIG, ...setup.overrides],
        backend: activeBackend()!.name,
        threads: 1,
      };
      const { training, trainer } = await tinyTrainer(setup, out, {
        replicas: {
          count: replicas,
          spec: { workerUrl: new URL("../../tasks/train_replica.ts", import.meta.url), init },
        },
      });
      try {
        await trainer.resumeOrLoad();
        await trainer.train();
        const losses = (await readMetrics(join(out, "metrics.jsonl")))
          .map(({ time: _t, data_time: _d, ...rest }) => rest);
        const state = Object.fromEntries(
          [...training.model.stateDict()].map(([k, v]) => [k, Array.from(ops.toArray(v))]),
        );
        return { losses, state };
      } finally {
        trainer.dispose();
        training.model.dispose();
      }
    };
    const alone = await run(join(root, "alone"), 0);
    const paired = await run(join(root, "paired"), 1);
    assertEquals(paired.losses, alone.losses);
    assertEquals(paired.state, alone.state);
    // The bank was written by both clips of each iteration (the comparison above covers a change).
    const bank = "vita_criterion.train_memory_bank.features";
    const fresh = await createDshmpTraining(cfg, { registries, generator: new Generator(3), seed: 11 });
    assertNotEquals(alone.state[bank], Array.from(ops.toArray(fresh.model.stateDict().get(bank)!)));
    fresh.model.dispose();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

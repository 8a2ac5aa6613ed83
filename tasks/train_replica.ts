/**
 * Worker module of `deno task train`'s replicas (`--replicas`, `core/engine/replicas.ts`): rebuilds the
 * task's config from the same command line, selects the same backend and builds the model without a
 * data set; the trainer's process then sends it its weights and micro-batches, and during an evaluation
 * a shard of the test set to predict (`train_eval.ts`).
 *
 * @module
 */
import { serveReplica } from "../core/engine/replicas.ts";
import { useBackend } from "../core/tensor/backend.ts";
import { dshmpPredictor } from "../plugins/dshmp/model/eval_adapter.ts";
import { createDshmpReplica } from "../plugins/dshmp/model/train_adapter.ts";
import type { VideoPredictor } from "../plugins/mevis/eval/predictor.ts";
import { buildTaskContext } from "./cli.ts";
import { trainSpec } from "./train.ts";
import { type EvalShardRequest, predictEvalShard, withKeys } from "./train_eval.ts";

/** What the train task sends a replica: its command line (with `DATASETS.ROOT`), backend and threads. */
export interface TrainReplicaInit {
  argv: string[];
  backend: string;
  threads: number;
}

serveReplica(async (data) => {
  const init = data as TrainReplicaInit;
  await useBackend(init.backend, { threads: init.threads });
  const ctx = await buildTaskContext(init.argv, trainSpec);
  const { model, trainable, generators } = await createDshmpReplica(ctx.cfg, ctx);
  let predictor: VideoPredictor | null = null;
  const serve = async (request: unknown, report: (frames: unknown) => void) => {
    predictor ??= await dshmpPredictor(model, withKeys(ctx.cfg, { "MODEL.WEIGHTS": "" }), { log: () => {} });
    model.eval();
    try {
      await predictEvalShard(ctx.cfg, ctx, predictor, request as EvalShardRequest, report);
    } finally {
      model.train();
    }
  };
  return { module: model, model: trainable, generators, serve };
});

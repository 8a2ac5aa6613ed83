/**
 * Worker module of the tiny model's replicas (`core/engine/replicas.ts`): builds {@link tinySetup}'s
 * model on the backend the trainer's process uses. `init` is `{ seed, backend }`; a `failBuild` message
 * makes the build throw, for the tests of how a replica's failure is reported.
 *
 * @module
 */
import { serveReplica } from "../../core/engine/replicas.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import { tinySetup } from "./tiny_model.ts";

/** What the tiny replica's build reads. */
export interface TinyReplicaInit {
  seed: number;
  backend: string;
  failBuild?: string;
}

serveReplica(async (data) => {
  const init = data as TinyReplicaInit;
  await useBackend(init.backend, { threads: 1 });
  if (init.failBuild) throw new Error(init.failBuild);
  const { net, model, generators } = tinySetup({ seed: init.seed });
  return { module: net, model, generators };
});

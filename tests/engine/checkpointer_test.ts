/**
 * Checkpoints: the three files and the pointer, the original's key names, and a resume that restores
 * weights, AdamW's moments and step counts, the schedule and the generators exactly; plus the config
 * hash check, refusing an incomplete sidecar before touching anything, and loading plain weights.
 */
import { assert, assertEquals, assertMatch, assertRejects, assertStrictEquals } from "../assert.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";
import { AdamW } from "../../core/engine/optimizer.ts";
import { LRScheduler } from "../../core/engine/lr_scheduler.ts";
import { buildParamGroups } from "../../core/engine/param_groups.ts";
import {
  Checkpointer,
  checkpointName,
  type CheckpointSidecar,
  configHash,
  loadWeights,
} from "../../core/engine/checkpointer.ts";
import { loadSafetensors, saveSafetensors } from "../../core/io/safetensors.ts";
import { Generator } from "../../core/random.ts";
import { StateDictError } from "../../core/tensor/nn/module.ts";
import { tinySetup, tinySolver, weightsOf } from "../golden/tiny_model.ts";

/** A model with an optimizer and scheduler that took `steps` steps on made-up gradients. */
function trainedState(seed: number, steps: number) {
  const setup = tinySetup({ seed });
  const solver = tinySolver(20);
  const optimizer = new AdamW(buildParamGroups(setup.net, solver.paramGroups), solver.adamW);
  const scheduler = new LRScheduler(optimizer.groups, solver.schedule);
  const g = new Generator(seed);
  for (let s = 0; s < steps; s++) {
    const grads = Object.fromEntries(optimizer.params.map((p) => [p.name, ops.randn(p.shape, g)]));
    optimizer.step(grads);
    ops.dispose(grads);
    scheduler.step();
  }
  const generators = { dropout: setup.generators.dropout, data: g };
  const dispose = () => {
    optimizer.dispose();
    setup.net.dispose();
  };
  return { net: setup.net, optimizer, scheduler, generators, dispose };
}

function momentsOf(optimizer: AdamW): Record<string, number[]> {
  const { tensors, steps } = optimizer.stateDict();
  const out: Record<string, number[]> = { steps: Object.values(steps) };
  for (const [k, t] of tensors) out[k] = Array.from(ops.toArray(t));
  ops.dispose([...tensors.values()]);
  return out;
}

async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  await useBackend("wasm");
  const dir = await Deno.makeTempDir({ prefix: "dshmp_ckpt_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("checkpointName pads the iteration to seven digits", () => {
  assertStrictEquals(checkpointName(4999), "model_0004999");
  assertStrictEquals(checkpointName(54999), "model_0054999");
});

Deno.test("save writes model, moments and sidecar under the original's keys, then last_checkpoint", async () => {
  await inTempDir(async (dir) => {
    const a = trainedState(3, 5);
    const hash = await configHash({ SOLVER: { MAX_ITER: 20 } });
    const ckpt = new Checkpointer(dir, { module: a.net, ...a, configHash: hash });
    const path = await ckpt.save("model_0000004", 4);
    assertStrictEquals(path, `${dir}/model_0000004.safetensors`);
    assertStrictEquals(await Deno.readTextFile(`${dir}/last_checkpoint`), "model_0000004.safetensors");
    assertStrictEquals(await ckpt.lastCheckpoint(), path);

    const model = await loadSafetensors(path);
    assertEquals([...model.tensors.keys()].sort(), [...a.net.stateDict().keys()].sort());
    assertEquals(model.tensors.get("linear1.weight")!.shape, [8, 4]); // torch's [out, in]
    assertEquals(model.metadata, { format: "pt", iteration: "4" });
    const optim = await loadSafetensors(`${dir}/model_0000004.optim.safetensors`);
    assert(optim.tensors.has("linear1.weight.exp_avg") && optim.tensors.has("norm.bias.exp_avg_sq"));

    const sidecar: CheckpointSidecar = JSON.parse(await Deno.readTextFile(`${dir}/model_0000004.json`));
    assertStrictEquals(sidecar.format, "dshmp-checkpoint/1");
    assertStrictEquals(sidecar.iteration, 4);
    assertMatch(sidecar.configHash!, /^sha256:[0-9a-f]{64}$/);
    assertStrictEquals(sidecar.model, "model_0000004.safetensors");
    assertStrictEquals(sidecar.optimizer!.steps["linear1.weight"], 5);
    assertEquals(sidecar.scheduler, { lastIter: 5 });
    assertEquals(sidecar.generators.data, a.generators.data.getState());
    assert(![...Deno.readDirSync(dir)].some((e) => e.name.includes(".tmp")));
    a.dispose();
  });
});

Deno.test("resume restores weights, moments, steps, schedule and generators exactly", async () => {
  await inTempDir(async (dir) => {
    const a = trainedState(3, 5);
    await new Checkpointer(dir, { module: a.net, ...a }).save("model_0000004", 4);
    const b = trainedState(11, 1); // other weights, moments, rates and generator states
    const info = await new Checkpointer(dir, { module: b.net, ...b }).resume();
    assertStrictEquals(info!.iteration, 4);
    assertStrictEquals(info!.configWarning, undefined);
    assertEquals(weightsOf(b.net), weightsOf(a.net));
    assertEquals(momentsOf(b.optimizer), momentsOf(a.optimizer));
    assertStrictEquals(b.scheduler.iteration, a.scheduler.iteration);
    assertEquals(b.optimizer.groups.map((g) => g.lr), a.optimizer.groups.map((g) => g.lr));
    for (const k of ["dropout", "data"] as const) {
      assertStrictEquals(b.generators[k].uniform(), a.generators[k].uniform());
      assertStrictEquals(b.generators[k].normal(), a.generators[k].normal());
    }
    a.dispose();
    b.dispose();
  });
});

Deno.test("resume: none without last_checkpoint, a warning for another config, nothing changed when incomplete", async () => {
  await inTempDir(async (dir) => {
    const a = trainedState(3, 2);
    assertStrictEquals(await new Checkpointer(dir, { module: a.net }).resume(), null);
    const hashA = await configHash({ SOLVER: { MAX_ITER: 20 } });
    const hashB = await configHash({ SOLVER: { MAX_ITER: 30 } });
    assert(hashA !== hashB);
    await new Checkpointer(dir, { module: a.net, ...a, configHash: hashA }).save("model_0000001", 1);

    const b = trainedState(5, 1);
    const info = await new Checkpointer(dir, { module: b.net, ...b, configHash: hashB }).resume();
    assertMatch(info!.configWarning!, /another config/);

    const c = trainedState(6, 1);
    const before = weightsOf(c.net);
    const extra = { ...c.generators, memory_bank: new Generator(1) };
    await assertRejects(
      () => new Checkpointer(dir, { module: c.net, ...c, generators: extra }).resume(),
      /lacks generator memory_bank/,
    );
    assertEquals(weightsOf(c.net), before);
    for (const s of [a, b, c]) s.dispose();
  });
});

Deno.test("loadWeights: not strict by default with a report, strict on request", async () => {
  await inTempDir(async (dir) => {
    const a = trainedState(3, 0);
    const sd = a.net.stateDict();
    const partial = new Map(
      [...sd].filter(([k]) => k.startsWith("linear1.")).map(([k, v]) => [k, {
        dtype: "F32" as const,
        shape: v.shape,
        data: ops.toArray(v),
      }]),
    );
    partial.set("extra.weight", { dtype: "F32", shape: [1], data: new Float32Array([1]) });
    await saveSafetensors(`${dir}/partial.safetensors`, partial);
    const b = trainedState(4, 0);
    const report = await loadWeights(b.net, `${dir}/partial.safetensors`);
    assertEquals(report.unexpected, ["extra.weight"]);
    assertEquals(report.missing, [
      "norm.weight",
      "norm.bias",
      "linear2.weight",
      "linear2.bias",
      "aux.weight",
      "aux.bias",
    ]);
    assertEquals(weightsOf(b.net)["linear1.weight"], weightsOf(a.net)["linear1.weight"]);
    const e = await assertRejects(
      () => loadWeights(b.net, `${dir}/partial.safetensors`, { strict: true }),
      /extra\.weight/,
    );
    assert(e instanceof StateDictError);
    a.dispose();
    b.dispose();
  });
});

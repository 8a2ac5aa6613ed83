/**
 * DsHmp as the evaluation's predictor on a tiny config and split: one 0/1 mask per frame at the
 * original size; MODEL.WEIGHTS loaded (a model of another seed then predicts as the saved one) and
 * refused when a tensor the inference needs is missing; `deno task eval` end to end as a subprocess.
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import { Generator } from "../../core/random.ts";
import type { Config } from "../../core/config/merge.ts";
import type { Registries } from "../../core/registries.ts";
import { loadMevisSplit } from "../../plugins/mevis/data/mevis_dataset.ts";
import { MevisTestMapper } from "../../plugins/mevis/data/test_mapper.ts";
import { testMapperOptionsFromConfig } from "../../plugins/mevis/data/loader.ts";
import type { MevisSample } from "../../plugins/mevis/data/sample.ts";
import { createPredictor } from "../../plugins/mevis/eval/predictor.ts";
import type { DshmpPredictor } from "../../plugins/dshmp/model/eval_adapter.ts";
import {
  PAPER_CONFIG,
  saveStateDict,
  TINY_SIZE,
  tinyConfig,
  tinyOverrides,
  tinySetup,
} from "./_tiny_dshmp.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));

async function predictorFor(cfg: Config, registries: Registries, seed: number): Promise<DshmpPredictor> {
  const p = await createPredictor(cfg, { registries, generator: new Generator(seed) });
  assert("model" in p, "the DsHmp adapter answers");
  return p as DshmpPredictor;
}

async function samples(cfg: Config, root: string, p: DshmpPredictor): Promise<MevisSample[]> {
  const split = await loadMevisSplit("mevis_val", root);
  const mapper = new MevisTestMapper(split, { ...testMapperOptionsFromConfig(cfg), ...p.mapper });
  return await Promise.all(split.records.map((r) => mapper.map(r)));
}

Deno.test("DsHmp predictor: masks per frame at the original size; MODEL.WEIGHTS loaded and checked", async () => {
  await useBackend("wasm");
  const root = await Deno.makeTempDir({ prefix: "dshmp_eval_" });
  const logs: string[] = [];
  const error = console.error;
  console.error = (...a: unknown[]) => logs.push(a.join(" "));
  try {
    const { cfg, registries } = await tinySetup(root);
    const a = await predictorFor(cfg, registries, 1);
    const all = await samples(cfg, root, a);
    assertEquals(all.length, 3);
    assert(logs.some((l) => l.includes("MODEL.WEIGHTS is empty")), logs.join("\n"));
    for (const s of all) {
      assert(s.lang_tokens !== null, "the mapper got the tokenizer");
      const { masks, height, width } = await a.predict(s);
      assertEquals([height, width], TINY_SIZE);
      assertEquals(masks.length, s.image.length);
      for (const m of masks) {
        assertEquals(m.length, TINY_SIZE[0] * TINY_SIZE[1]);
        assert(m.every((v) => v === 0 || v === 1));
      }
    }
    const sample = all[0];
    // predict runs in eval mode and gives back the mode it found (training can go on between evals).
    a.model.train();
    const inTraining = await a.predict(sample);
    assert(a.model.training && a.model.vitaModule.training, "the training mode is restored");
    a.model.eval();
    assertEquals((await a.predict(sample)).masks, inTraining.masks, "same masks whatever the mode before");
    const weights = join(root, "w.safetensors");
    await saveStateDict(weights, a.model.stateDict());
    const aMasks = (await a.predict(sample)).masks;
    const differing = (x: DshmpPredictor, y: DshmpPredictor) => {
      const other = y.model.stateDict();
      const same = (p: ArrayLike<number>, q: ArrayLike<number>) => {
        if (p.length !== q.length) return false;
        for (let i = 0; i < p.length; i++) if (p[i] !== q[i]) return false;
        return true;
      };
      return [...x.model.stateDict()].filter(([k, v]) => !same(v.dataSync(), other.get(k)!.dataSync()))
        .map(([k]) => k);
    };

    const fresh = await predictorFor(cfg, registries, 2);
    assert(differing(fresh, a).length > 100, "another seed initialises differently");
    fresh.dispose?.();
    const { cfg: withWeights } = await tinyConfig(root, ["MODEL.WEIGHTS", weights]);
    const b = await predictorFor(withWeights, registries, 2);
    assertEquals(differing(b, a), [], "every tensor loaded from MODEL.WEIGHTS");
    assertEquals((await b.predict(sample)).masks, aMasks, "loaded weights predict as the saved model");
    assert(logs.some((l) => l.includes(`from ${weights}`)), logs.join("\n"));
    b.dispose?.();

    // A tensor the inference needs is missing: refused, naming it.
    const partial = join(root, "partial.safetensors");
    await saveStateDict(partial, a.model.stateDict(), ["resizer.fc.weight"]);
    const { cfg: withPartial } = await tinyConfig(root, ["MODEL.WEIGHTS", partial]);
    await assertRejects(() => predictorFor(withPartial, registries, 3), "resizer.fc.weight");
    a.dispose?.();
  } finally {
    console.error = error;
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("deno task eval: DsHmp on a tiny split end to end, with the saved weights", async () => {
  await useBackend("wasm");
  const root = await Deno.makeTempDir({ prefix: "dshmp_eval_task_" });
  try {
    const { cfg, registries } = await tinySetup(root);
    const p = await predictorFor(cfg, registries, 4);
    const weights = join(root, "w.safetensors");
    await saveStateDict(weights, p.model.stateDict());
    p.dispose?.();
    const out = join(root, "eval_out");
    const args = [
      ...["run", "-A", "--config", join(REPO, "deno.json"), join(REPO, "tasks", "eval.ts")],
      ...["--config-file", PAPER_CONFIG, "--eval-only", "--dataset", "mevis_val"],
      ...tinyOverrides(root, ["MODEL.WEIGHTS", weights, "OUTPUT_DIR", out]),
    ];
    const start = performance.now();
    const res = await new Deno.Command(Deno.execPath(), { args, cwd: REPO, stdout: "piped", stderr: "piped" })
      .output();
    const dec = new TextDecoder();
    const stdout = dec.decode(res.stdout);
    const stderr = dec.decode(res.stderr);
    assertEquals(res.code, 0, `${stdout}\n${stderr}`);
    console.log(`deno task eval (tiny, 3 expressions): ${((performance.now() - start) / 1000).toFixed(1)} s`);
    assert(/mevis_val: J [\d.]+ {2}F [\d.]+ {2}J&F [\d.]+ {2}\(3 expressions\)/.test(stdout), stdout);
    const results = JSON.parse(await Deno.readTextFile(join(out, "inference", "results.json")));
    assert(Number.isFinite(results.JF) && results.JF >= 0 && results.JF <= 1, JSON.stringify(results));
    assert(stderr.includes(`from ${weights}`), stderr);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

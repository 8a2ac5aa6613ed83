/**
 * Checkpoint conversion: `--raw` keeps the fixture checkpoints exactly (names, values, dtypes),
 * `process_ckpt` cuts the query tables of a detectron2 pickle built here and renames `static_query`,
 * the load report lists exactly what it fills, skips, leaves and ignores, and `deno task convert` runs
 * end to end as a subprocess (with a tiny model registered by a plugin for the report).
 * @module
 */
import { parseCheckpoint, readCheckpoint } from "../../core/io/checkpoint.ts";
import { loadSafetensors, type NamedTensor, saveSafetensors } from "../../core/io/safetensors.ts";
import type { CheckpointConverter } from "../../core/io/weights.ts";
import { createRegistries } from "../../core/registries.ts";
import { Generator } from "../../core/random.ts";
import type { Config } from "../../core/config/merge.ts";
import {
  loadReport,
  mask2formerConverterFactory,
  processCkpt,
  rawConverterFactory,
  renameStaticQuery,
} from "../../plugins/mask2former/convert/mod.ts";
import { defaultOutPath } from "../../tasks/convert.ts";
import { assert, assertEquals, assertMatch, assertThrows } from "../assert.ts";
import { bu, le, ndarrayReduce, p, type Part } from "../io/pickle_bytes.ts";

const FIXTURES = Deno.env.get("DSHMP_CHECKPOINT_FIXTURES") ??
  new URL("../../../shared/fixtures/checkpoints", import.meta.url).pathname;
const ROOT = new URL("../../", import.meta.url).pathname;

const ctx = { registries: createRegistries(), generator: new Generator(0) };
const cfgWithQueries = (n: number) =>
  ({ MODEL: { MASK_FORMER: { NUM_OBJECT_QUERIES: n } } }) as unknown as Config;
const raw = rawConverterFactory({} as Config, ctx) as CheckpointConverter;
const m2f = (n: number) => mask2formerConverterFactory(cfgWithQueries(n), ctx) as CheckpointConverter;

function assertSameTensors(got: Map<string, NamedTensor>, want: Map<string, NamedTensor>, label: string) {
  assertEquals([...got.keys()].sort(), [...want.keys()].sort(), `${label}: names`);
  for (const [name, w] of want) {
    const g = got.get(name)!;
    assertEquals([g.dtype, g.shape], [w.dtype, w.shape], `${label}: ${name}`);
    assertEquals(g.data, w.data, `${label}: ${name} values`);
  }
}

Deno.test("--raw: every fixture checkpoint converts to the expected tensors exactly, dtypes kept", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cases = [
      ["detectron2_style_p2.pkl", "detectron2_style"],
      ["detectron2_style_p4.pkl", "detectron2_style"],
      ["torch_zip.pth", "torch"],
      ["torch_legacy.pth", "torch"],
    ];
    for (const [file, expected] of cases) {
      const src = `${FIXTURES}/${file}`;
      const out = raw.convert(await readCheckpoint(src), src);
      await saveSafetensors(`${dir}/${file}.safetensors`, out.tensors, out.metadata);
      const written = await loadSafetensors(`${dir}/${file}.safetensors`);
      const want = (await loadSafetensors(`${FIXTURES}/${expected}.expected.safetensors`)).tensors;
      assertSameTensors(written.tensors, want, file);
      if (expected === "torch") {
        assertEquals(
          [...new Set([...written.tensors.values()].map((t) => t.dtype))].sort(),
          ["BOOL", "F16", "F32", "I64"],
        );
        assertEquals(written.metadata.iteration, "54999");
        assertEquals(written.metadata.scheduler, '{"last_epoch":54999}');
      } else {
        assertEquals(written.tensors.get("sem_seg_head.predictor.level_embed.weight")?.dtype, "F64");
        assertEquals(written.metadata.__author__, "Detectron2 Model Zoo");
        assertEquals(written.metadata.matching_heuristics, "true");
      }
      assertEquals(written.metadata["dshmp.converter"], "Raw");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A numpy array as pickle protocol 3 writes it (`_reconstruct` + BUILD with the raw bytes). */
function ndarray(dtype: "f4" | "f8", shape: number[], values: ArrayLike<number>): Uint8Array {
  const data = dtype === "f4" ? new Float32Array(values) : new Float64Array(values);
  const bytes = new Uint8Array(data.buffer);
  const raw = p("B", le(bytes.length, 4), bytes);
  return ndarrayReduce({
    module: "numpy.core.multiarray",
    dtype,
    order: "<",
    shape,
    fortran: false,
    data: raw,
  });
}

/** `{model: {name: array}, __author__, matching_heuristics: True}`, pickle protocol 3. */
function detectron2Pickle(arrays: [string, Uint8Array][]): Uint8Array {
  return p(
    0x80,
    3,
    "}",
    "(",
    bu("model"),
    "}",
    "(",
    ...arrays.flatMap(([name, a]): Part[] => [bu(name), a]),
    "u",
    bu("__author__"),
    bu("Detectron2 Model Zoo"),
    bu("matching_heuristics"),
    0x88,
    "u",
    ".",
  );
}

const iota = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

Deno.test("process_ckpt on a detectron2 pickle: 100-row query tables end with 20, static_query renamed", () => {
  const C = 3;
  const bytes = detectron2Pickle([
    ["sem_seg_head.predictor.query_embed.weight", ndarray("f4", [100, C], iota(100 * C))],
    ["sem_seg_head.predictor.static_query.weight", ndarray("f4", [100, C], iota(100 * C, 1000))],
    ["sem_seg_head.predictor.class_embed.weight", ndarray("f4", [81, C], iota(81 * C))],
    ["sem_seg_head.predictor.level_embed.weight", ndarray("f8", [3, C], iota(3 * C, 0.5))],
  ]);
  const ckpt = parseCheckpoint(bytes, "built.pkl");
  assertEquals(ckpt.format, "pickle");
  const out = m2f(20).convert(ckpt, "built.pkl");
  assertEquals([...out.tensors.keys()], [
    "sem_seg_head.predictor.query_embed.weight",
    "sem_seg_head.predictor.query_feat.weight",
    "sem_seg_head.predictor.class_embed.weight",
    "sem_seg_head.predictor.level_embed.weight",
  ]);
  const embed = out.tensors.get("sem_seg_head.predictor.query_embed.weight")!;
  const feat = out.tensors.get("sem_seg_head.predictor.query_feat.weight")!;
  assertEquals([embed.dtype, embed.shape, [...embed.data]], ["F32", [20, C], iota(20 * C)]);
  assertEquals([feat.dtype, feat.shape, [...feat.data]], ["F32", [20, C], iota(20 * C, 1000)]);
  // Untouched: the 81-class head (loading skips it) and a float64 table (dtype kept).
  assertEquals(out.tensors.get("sem_seg_head.predictor.class_embed.weight")!.shape, [81, C]);
  const level = out.tensors.get("sem_seg_head.predictor.level_embed.weight")!;
  assertEquals([level.dtype, [...level.data]], ["F64", iota(3 * C, 0.5)]);
  assertEquals(out.metadata.matching_heuristics, "true");
  assertEquals(out.metadata["dshmp.num_object_queries"], "20");
  assertEquals(out.notes, [
    "sem_seg_head.predictor.query_embed.weight: first 20 of 100 rows kept",
    "sem_seg_head.predictor.query_feat.weight: first 20 of 100 rows kept",
    "sem_seg_head.predictor.static_query.weight renamed sem_seg_head.predictor.query_feat.weight",
  ]);
});

Deno.test("process_ckpt: the fixture pickle, default queries, short tables, clashes, bad counts", async () => {
  const ckpt = await readCheckpoint(`${FIXTURES}/detectron2_style_p2.pkl`);
  const done = processCkpt(ckpt.tensors, { numQueries: 20 });
  assertEquals(done.truncated, [
    { key: "sem_seg_head.predictor.query_embed.weight", rows: 100, kept: 20 },
    { key: "sem_seg_head.predictor.query_feat.weight", rows: 100, kept: 20 },
  ]);
  const before = ckpt.tensors.get("sem_seg_head.predictor.static_query.weight")!;
  assertEquals(
    done.tensors.get("sem_seg_head.predictor.query_feat.weight")!.data,
    before.data.slice(0, 20 * 8),
  );
  assert(!done.tensors.has("sem_seg_head.predictor.static_query.weight"));

  // The default of 100 queries cuts nothing, and the converter says so.
  assertMatch(m2f(100).convert(ckpt, "x").notes.join("\n"), /not cut: NUM_OBJECT_QUERIES is 100/);

  const t = (rows: number): NamedTensor => ({
    dtype: "F32",
    shape: [rows, 2],
    data: new Float32Array(rows * 2),
  });
  const short = processCkpt(new Map([["sem_seg_head.predictor.query_embed.weight", t(10)]]), {
    numQueries: 20,
  });
  assertEquals(short.tensors.get("sem_seg_head.predictor.query_embed.weight")!.shape, [10, 2]);
  assertMatch(short.notes[0], /10 rows, fewer than NUM_OBJECT_QUERIES 20/);
  assertEquals(processCkpt(new Map([["a", t(1)]]), { numQueries: 20 }).notes, [
    "no query tables (sem_seg_head.predictor.query_embed.weight, sem_seg_head.predictor.static_query.weight): " +
    "nothing cut",
  ]);
  assertThrows(
    () =>
      processCkpt(
        new Map([["x.static_query.weight", t(2)], ["x.query_feat.weight", t(2)]]),
        { numQueries: 1 },
      ),
    /both x.static_query.weight and x.query_feat.weight/,
  );
  assertThrows(() => processCkpt(new Map(), { numQueries: 0 }), /positive integer/);
  assertEquals(renameStaticQuery("a.static_query.static_query"), "a.query_feat.query_feat");
});

Deno.test("load report against a {name: shape} map: exact lists, heuristics as the checkpoint asks", () => {
  const f32 = (shape: number[]): NamedTensor => ({
    dtype: "F32",
    shape,
    data: new Float32Array(shape.reduce((a, b) => a * b, 1)),
  });
  const ckpt = {
    format: "pickle" as const,
    extra: { __author__: "Detectron2 Model Zoo", matching_heuristics: true },
    tensors: new Map([
      ["sem_seg_head.predictor.class_embed.weight", f32([81, 4])],
      ["sem_seg_head.predictor.class_embed.bias", f32([81])],
      ["sem_seg_head.predictor.static_query.weight", f32([20, 4])],
      ["sem_seg_head.predictor.query_embed.weight", f32([20, 4])],
      ["criterion.empty_weight", f32([81])],
    ]),
  };
  const target = {
    "sem_seg_head.predictor.query_feat.weight": [20, 4],
    "sem_seg_head.predictor.query_embed.weight": [20, 4],
    "sem_seg_head.predictor.class_embed.weight": [2, 4],
    "sem_seg_head.predictor.class_embed.bias": [2],
    "sem_seg_head.predictor.cross_static.norm.weight": [4],
  };
  const { plan, text } = loadReport(ckpt, target, { source: "m.pkl" });
  assert(plan.matchingHeuristics);
  assertEquals(plan.filled, [
    { key: "sem_seg_head.predictor.query_feat.weight", from: "sem_seg_head.predictor.static_query.weight" },
    { key: "sem_seg_head.predictor.query_embed.weight", from: "sem_seg_head.predictor.query_embed.weight" },
  ]);
  assertEquals(plan.skipped.map((s) => [s.key, s.checkpoint, s.model]), [
    ["sem_seg_head.predictor.class_embed.bias", [81], [2]],
    ["sem_seg_head.predictor.class_embed.weight", [81, 4], [2, 4]],
  ]);
  assertEquals(plan.missing, [
    "sem_seg_head.predictor.class_embed.weight",
    "sem_seg_head.predictor.class_embed.bias",
    "sem_seg_head.predictor.cross_static.norm.weight",
  ]);
  assertEquals(plan.unused, ["criterion.empty_weight"]);
  assertEquals(plan.renamed, [[
    "sem_seg_head.predictor.static_query.weight",
    "sem_seg_head.predictor.query_feat.weight",
  ]]);
  assertMatch(text, /2 of 5 model tensors filled, 2 skipped for their shape, 3 left as initialised/);
  assertMatch(text, /sem_seg_head\.predictor\.class_embed\.weight: \(81, 4\) vs \(2, 4\)/);
  // A module missing entirely is one line; the rest grouped as fvcore does.
  assertMatch(
    text,
    /initialised \(3\):\n {2}sem_seg_head\.predictor\.class_embed\.\* \(all 2\)\n {2}sem_seg_head\.predictor\.cross_static\.norm\.weight\n/,
  );
  assertMatch(text, /does not use \(1\):\n {2}criterion\.empty_weight$/);
});

Deno.test("default output path sits beside the input", () => {
  assertEquals(defaultOutPath("w/model_final_86143f.pkl"), "w/model_final_86143f.safetensors");
  assertEquals(defaultOutPath("a.b/model"), "a.b/model.safetensors");
  assertEquals(defaultOutPath("x.safetensors"), "x.converted.safetensors");
});

async function runConvert(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}tasks/convert.ts`, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("deno task convert as a subprocess: fixture pickle with the paper config, model report", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // A plugin registering a tiny model whose state dict looks like DsHmp's frame decoder head.
    const plugin = `${dir}/tiny_plugin.ts`;
    await Deno.writeTextFile(
      plugin,
      `import { definePlugin } from ${JSON.stringify(`${ROOT}core/plugin.ts`)};
const shapes: [string, number[]][] = [
  ["sem_seg_head.predictor.query_feat.weight", [20, 8]],
  ["sem_seg_head.predictor.query_embed.weight", [20, 8]],
  ["sem_seg_head.predictor.class_embed.weight", [2, 8]],
  ["backbone.patch_embed.proj.weight", [8, 3, 4, 4]],
];
export default definePlugin({
  name: "tiny_m2f",
  register(r) {
    r.models.register("TinyM2F", () => ({ stateDict: () => new Map(shapes.map(([k, s]) => [k, { shape: s }])) }));
  },
});
`,
    );
    const out = `${dir}/init.safetensors`;
    const run = await runConvert([
      "--config-file",
      "configs/dshmp_swin_tiny.yaml",
      "--plugin",
      plugin,
      "--from",
      `${FIXTURES}/detectron2_style_p2.pkl`,
      "--out",
      out,
      "MODEL.META_ARCHITECTURE",
      "TinyM2F",
    ]);
    assertEquals(run.code, 0, run.stderr);
    const { tensors, metadata } = await loadSafetensors(out);
    assertEquals(tensors.get("sem_seg_head.predictor.query_feat.weight")?.shape, [20, 8]);
    assertEquals(tensors.get("sem_seg_head.predictor.query_embed.weight")?.shape, [20, 8]);
    assert(!tensors.has("sem_seg_head.predictor.static_query.weight"));
    assertEquals(tensors.get("sem_seg_head.predictor.level_embed.weight")?.dtype, "F64");
    assertEquals(metadata["dshmp.converter"], "Mask2FormerProcessCkpt");
    assertMatch(run.stdout, /first 20 of 100 rows kept/);
    assertMatch(run.stdout, /Loading .*init\.safetensors into TinyM2F/);
    assertMatch(
      run.stdout,
      /3 of 4 model tensors filled, 0 skipped for their shape, 1 left as initialised, 4 of 7/,
    );
    assertMatch(run.stdout, /left as initialised \(1\):\n {2}sem_seg_head\.predictor\.class_embed\.weight/);

    // No model registered under the default META_ARCHITECTURE: the summary says the report needs one.
    const pth = await runConvert(["--from", `${FIXTURES}/torch_zip.pth`, "--out", `${dir}/t.safetensors`]);
    assertEquals(pth.code, 0, pth.stderr);
    assertMatch(pth.stdout, /No model report: MODEL\.META_ARCHITECTURE "GeneralizedRCNN" is not registered/);
    assertEquals((await loadSafetensors(`${dir}/t.safetensors`)).metadata.iteration, "54999");

    const help = await runConvert(["--help"]);
    assertEquals(help.code, 0);
    assertMatch(help.stdout, /model_final_86143f\.pkl/);
    assertMatch(help.stdout, /published DsHmp checkpoint/);
    const missing = await runConvert([]);
    assertEquals(missing.code, 1);
    assertMatch(missing.stderr, /--from FILE is required/);
    const bad = await runConvert(["--from", `${FIXTURES}/README.json`, "--out", `${dir}/x.safetensors`]);
    assertEquals(bad.code, 1);
    assertMatch(bad.stderr, /unrecognised checkpoint format/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertRejects, assertStrictEquals, assertThrows } from "../assert.ts";
import { builtinPlugins } from "../../mod.ts";
import {
  bool,
  type Config,
  ConfigError,
  ConfigSchema,
  coreDefaults,
  dumpConfig,
  float,
  get,
  int,
  ints,
  loadConfig,
  type LoadConfigOptions,
  mergeConfig,
  parsePythonLiteral,
  readConfigChain,
  SchemaError,
  str,
  strs,
  writeConfig,
} from "../../core/config/mod.ts";
import type { DshmpConfig } from "../../plugins/dshmp/config.ts";
import { datasetRoot } from "../../plugins/mevis/config.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CONFIGS = join(ROOT, "tests/fixtures/configs");
const PAPER = join(ROOT, "configs/dshmp_swin_tiny.yaml");

function load(options: LoadConfigOptions = {}) {
  return loadConfig({
    plugins: Object.keys(builtinPlugins),
    builtins: builtinPlugins,
    cwd: ROOT,
    ...options,
  });
}

function fixturesDir(): string {
  const parity = Deno.env.get("DSHMP_PARITY_DIR");
  return parity ? dirname(parity.replace(/\/+$/, "")) : join(ROOT, "../shared/fixtures");
}

Deno.test("python literals: yacs tuples, strings, numbers, keywords", () => {
  assertEquals(parsePythonLiteral("(40000, 50000)"), [40000n, 50000n]);
  assertEquals(parsePythonLiteral('("mevis_test",)'), ["mevis_test"]);
  assertEquals(parsePythonLiteral("()"), []);
  assertEquals(parsePythonLiteral("(4000,)"), [4000n]);
  assertEquals(parsePythonLiteral("(0.5, 1e-4, -3)"), [0.5, 1e-4, -3n]);
  assertEquals(parsePythonLiteral("[[1, 2], (3,)]"), [[1n, 2n], [3n]]);
  assertEquals(parsePythonLiteral("(True, None, 'a b')"), [true, null, "a b"]);
  assertEquals(parsePythonLiteral("(7)"), 7n);
  assertStrictEquals(parsePythonLiteral("mevis_test"), undefined);
  assertStrictEquals(parsePythonLiteral("(1, 2"), undefined);
});

Deno.test("_BASE_ chain: relative to each file, bases first, later files win", async () => {
  const layers = await readConfigChain(join(CONFIGS, "chain_top.yaml"), ROOT);
  assertEquals(layers.map((l) => l.source), [
    "tests/fixtures/configs/chain_base.yaml",
    "tests/fixtures/configs/nested/chain_middle.yaml",
    "tests/fixtures/configs/chain_top.yaml",
  ]);
  const { cfg, files } = await load({ file: "tests/fixtures/configs/chain_top.yaml" });
  assertEquals(files.length, 3);
  assertEquals(get(cfg, "SOLVER.MAX_ITER"), 200);
  assertEquals(get(cfg, "SOLVER.BASE_LR"), 1);
  assertEquals(get(cfg, "SOLVER.STEPS"), [10, 20]);
  assertEquals(get(cfg, "DATASETS.TRAIN"), ["base_train"]);
  assertEquals(get(cfg, "INPUT.MIN_SIZE_TRAIN"), [300, 400]);
  assertEquals(get(cfg, "OUTPUT_DIR"), "out/chain");
  // Untouched keys keep their declared defaults.
  assertEquals(get(cfg, "SOLVER.GAMMA"), 0.1);
});

Deno.test("_BASE_ cycle: reported with the chain", async () => {
  await assertRejects(
    () => readConfigChain(join(CONFIGS, "cycle_a.yaml"), ROOT),
    "tests/fixtures/configs/cycle_b.yaml: _BASE_ cycle: tests/fixtures/configs/cycle_a.yaml -> " +
      "tests/fixtures/configs/cycle_b.yaml -> tests/fixtures/configs/cycle_a.yaml",
  );
  await assertRejects(
    () => readConfigChain("tests/fixtures/configs/missing.yaml", ROOT),
    "missing.yaml: not found",
  );
});

Deno.test("unknown key: names the file, the full key and the closest key", async () => {
  const e = await assertRejects(() => load({ file: "tests/fixtures/configs/unknown_key.yaml" }));
  assert(e instanceof ConfigError);
  assertEquals(
    e.message,
    "tests/fixtures/configs/unknown_key.yaml: unknown config key SOLVER.MAX_ITERS (did you mean SOLVER.MAX_ITER?)",
  );
  await assertRejects(
    () => load({ overrides: ["MODEL.VITA.NUM_QUERIES", "3"] }),
    "command line: unknown config key MODEL.VITA.NUM_QUERIES (did you mean MODEL.VITA.NUM_OBJECT_QUERIES?)",
  );
  await assertRejects(
    () => load({ overrides: ["MODEL.VTA.NHEADS", "3"] }),
    "unknown config key MODEL.VTA.NHEADS (did you mean MODEL.VITA.NHEADS?; keys of a plugin need it in PLUGINS or --plugin)",
  );
});

Deno.test("types: int accepted for float, not float for int; wrong types named", async () => {
  await assertRejects(
    () => load({ file: "tests/fixtures/configs/float_for_int.yaml" }),
    "tests/fixtures/configs/float_for_int.yaml: SOLVER.MAX_ITER expects an int, got 10.0 (float)",
  );
  await assertRejects(
    () => load({ file: "tests/fixtures/configs/wrong_type.yaml" }),
    'tests/fixtures/configs/wrong_type.yaml: DATASETS.TEST expects a list of strings, got "mevis_test" (string)',
  );
  const { cfg } = await load({ overrides: ["SOLVER.BASE_LR", "2", "MODEL.SWIN.MLP_RATIO", "(4)"] });
  assertEquals(get(cfg, "SOLVER.BASE_LR"), 2);
  await assertRejects(
    () => load({ overrides: ["SOLVER.MAX_ITER", "1.5"] }),
    "SOLVER.MAX_ITER expects an int",
  );
  await assertRejects(
    () => load({ overrides: ["SOLVER.MAX_ITER", "1e3"] }),
    "expects an int, got 1000.0 (float)",
  );
  await assertRejects(() => load({ overrides: ["SOLVER.STEPS", "(1, 2.5)"] }), "item 1 is 2.5 (float)");
  await assertRejects(() => load({ overrides: ["MODEL.MASK_ON", "1"] }), "MODEL.MASK_ON expects a bool");
  await assertRejects(() => load({ overrides: ["SOLVER.MAX_ITER", "null"] }), "expects an int, got null");
  await assertRejects(
    () => load({ overrides: ["INPUT.RANDOM_FLIP", "sideways"] }),
    'INPUT.RANDOM_FLIP must be one of "none", "horizontal", "vertical", "flip_by_clip", got "sideways"',
  );
  await assertRejects(() => load({ overrides: ["SOLVER", "1"] }), "SOLVER is a group of keys");
  // Nullable keys take null; others do not.
  const nulls = await load({
    overrides: ["MODEL.SWIN.QK_SCALE", "0.125", "SOLVER.WEIGHT_DECAY_BIAS", "None"],
  });
  assertEquals(get(nulls.cfg, "MODEL.SWIN.QK_SCALE"), 0.125);
  assertEquals(get(nulls.cfg, "SOLVER.WEIGHT_DECAY_BIAS"), null);
});

Deno.test("overrides: YAML values, yacs tuples, empty tuples, strings as written", async () => {
  const { cfg } = await load({
    file: "configs/dshmp_swin_tiny.yaml",
    overrides: [
      "SOLVER.STEPS",
      "(1000, 2000)",
      "DATASETS.TEST",
      '("mevis_valid_u",)',
      "DATASETS.TRAIN",
      "()",
      "INPUT.MIN_SIZE_TRAIN",
      "[256, 320]",
      "MODEL.WEIGHTS",
      "w",
      "OUTPUT_DIR",
      "2024",
      "SEED",
      "-1",
      "MODEL.VITA.FREEZE_TEXT_ENCODER",
      "False",
      "SOLVER.BASE_LR",
      "1e-4",
    ],
  });
  assertEquals(get(cfg, "SOLVER.STEPS"), [1000, 2000]);
  assertEquals(get(cfg, "DATASETS.TEST"), ["mevis_valid_u"]);
  assertEquals(get(cfg, "DATASETS.TRAIN"), []);
  assertEquals(get(cfg, "INPUT.MIN_SIZE_TRAIN"), [256, 320]);
  assertEquals(get(cfg, "MODEL.WEIGHTS"), "w");
  assertEquals(get(cfg, "OUTPUT_DIR"), "2024");
  assertEquals(get(cfg, "SEED"), -1);
  assertEquals(get(cfg, "MODEL.VITA.FREEZE_TEXT_ENCODER"), false);
  assertEquals(get(cfg, "SOLVER.BASE_LR"), 1e-4);
  // The file's other values survive.
  assertEquals(get(cfg, "SOLVER.MAX_ITER"), 55000);
  await assertRejects(() => load({ overrides: ["SEED"] }), "command line: overrides come as KEY VALUE pairs");
});

Deno.test("the paper config: the values the paper trains with", async () => {
  const { cfg, plugins } = await load({ file: PAPER });
  assertEquals(plugins.map((p) => p.name), ["mask2former", "dshmp", "mevis"]);
  const c = cfg as unknown as DshmpConfig;
  assertEquals(c.SOLVER.STEPS, [40000, 50000]);
  assertEquals(c.SOLVER.MAX_ITER, 55000);
  assertEquals(c.SOLVER.BASE_LR, 5e-5);
  assertEquals(c.SOLVER.CLIP_GRADIENTS.CLIP_VALUE, 0.01);
  assertEquals(c.MODEL.MASK_FORMER.NUM_OBJECT_QUERIES, 20);
  assertEquals(c.MODEL.MASK_FORMER.DEC_LAYERS, 10);
  assertEquals(c.MODEL.VITA.NUM_OBJECT_QUERIES, 10);
  assertEquals(c.MODEL.VITA.ENC_WINDOW_SIZE, 8);
  assertEquals(c.MODEL.VITA.FREEZE_TEXT_ENCODER, true);
  assertEquals(c.MODEL.VITA.TEST_OUTPUT_THRESHOLD, 0.5);
  assertEquals(c.INPUT.MIN_SIZE_TRAIN, [288, 320, 352, 384, 416, 448, 480, 512]);
  assertEquals(c.INPUT.SAMPLING_FRAME_NUM, 8);
  assertEquals(c.DATASETS.TEST, ["mevis_test"]);
  assertEquals(c.MODEL.PIXEL_STD, [58.395, 57.12, 57.37]);
  // Typed access: the key is checked at compile time, the result typed.
  const steps: readonly number[] = get(c, "SOLVER.STEPS");
  assertEquals(steps, [40000, 50000]);
  assertThrows(
    () => get(cfg, "SOLVER.MAX_ITR"),
    "config has no key SOLVER.MAX_ITR (did you mean SOLVER.MAX_ITER?)",
  );
});

Deno.test("the paper config equals the original's merged config on every key it has", async () => {
  const reference = JSON.parse(await Deno.readTextFile(join(fixturesDir(), "reference_keys.json")));
  const { cfg } = await load({ file: PAPER });
  let checked = 0;
  const walk = (expected: Record<string, unknown>, prefix: string) => {
    for (const [key, value] of Object.entries(expected)) {
      const full = prefix ? `${prefix}.${key}` : key;
      if (typeof value === "object" && value !== null && !Array.isArray(value)) {
        walk(value as Record<string, unknown>, full);
        continue;
      }
      // The fixture keeps yacs tuples as their YAML text, e.g. "(40000, 50000)".
      const want = typeof value === "string" && value.startsWith("(")
        ? JSON.parse(
          JSON.stringify(parsePythonLiteral(value), (_k, v) => typeof v === "bigint" ? Number(v) : v),
        )
        : value;
      assertEquals(get(cfg, full), want, `${full}`);
      checked++;
    }
  };
  walk(reference.config, "");
  assert(checked >= 140, `only ${checked} keys compared`);
});

Deno.test("the merged config is deeply frozen", async () => {
  const { cfg } = await load({ file: PAPER });
  assert(Object.isFrozen(cfg));
  assert(Object.isFrozen(get(cfg, "SOLVER")));
  assert(Object.isFrozen(get(cfg, "SOLVER.STEPS")));
  assertThrows(() => {
    (cfg.SOLVER as Record<string, unknown>).MAX_ITER = 1;
  });
  assertThrows(() => {
    (get(cfg, "SOLVER.STEPS") as number[]).push(1);
  });
});

Deno.test("writeConfig: atomic write whose text loads back to the same config", async () => {
  const { cfg } = await load({ file: PAPER, overrides: ["SEED", "7"] });
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "out", "config.yaml");
    await writeConfig(cfg, path);
    assertEquals([...Deno.readDirSync(join(dir, "out"))].map((e) => e.name), ["config.yaml"]);
    const text = await Deno.readTextFile(path);
    assertEquals(text, dumpConfig(cfg));
    assert(text.includes("MAX_ITER: 55000"));
    const again = await load({ file: path });
    assertEquals(again.cfg, cfg);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("schema: re-declaring with the same type replaces the default, another type is an error", () => {
  const schema = new ConfigSchema().add({ A: { X: float(1.0), Y: strs([]) } }, "core");
  schema.add({ A: { X: float(2.0), Z: int(3) } }, "p1");
  assertEquals(mergeConfig(schema) as Config, { A: { X: 2, Y: [], Z: 3 } });
  assertEquals(schema.ownerOf("A.X"), "p1");
  assertThrows(
    () => schema.add({ A: { X: int(1) } }, "p2"),
    "p2: declares A.X as int, but p1 declares it as float",
  );
  assertThrows(
    () => schema.add({ A: bool(true) }, "p3"),
    "p3: declares key A, but core declares A as a group of keys",
  );
  assert(new ConfigSchema().add(coreDefaults, "core").leaf("SOLVER.STEPS")?.type === "int[]");
  const bad = assertThrows(
    () => new ConfigSchema().add({ "BAD-KEY": str("") }, "p4"),
    'p4: config key "BAD-KEY"',
  );
  assert(bad instanceof SchemaError);
  const steps = ints([1]);
  assertEquals(mergeConfig(new ConfigSchema().add({ S: steps }, "core"), [], ["S", "(2, 3)"]), { S: [2, 3] });
});

Deno.test("mevis: DATASETS.ROOT, else DSHMP_DATASETS, else ./datasets", async () => {
  const { cfg } = await load({ overrides: ["DATASETS.ROOT", "/data/x"] });
  assertEquals(datasetRoot(cfg as never), "/data/x");
  const before = Deno.env.get("DSHMP_DATASETS");
  try {
    Deno.env.set("DSHMP_DATASETS", "/from/env");
    assertEquals(datasetRoot({ DATASETS: { ROOT: "" } }), "/from/env");
    Deno.env.delete("DSHMP_DATASETS");
    assertEquals(datasetRoot({ DATASETS: { ROOT: "" } }), "datasets");
  } finally {
    if (before === undefined) Deno.env.delete("DSHMP_DATASETS");
    else Deno.env.set("DSHMP_DATASETS", before);
  }
});

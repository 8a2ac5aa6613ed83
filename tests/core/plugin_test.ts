import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { assert, assertEquals, assertRejects, assertThrows } from "../assert.ts";
import {
  builtinPlugins,
  createRegistries,
  definePlugin,
  Generator,
  get,
  int,
  loadConfig,
  loadPlugins,
  PluginError,
  registerPlugins,
} from "../../mod.ts";
import { buildTaskContext } from "../../tasks/cli.ts";
import type { AcmeBackbone } from "../fixtures/third_party_plugin.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const THIRD_PARTY = join(ROOT, "tests/fixtures/third_party_plugin.ts");
const spec = { name: "inspect", summary: "test" };

Deno.test("definePlugin: checks its definition", () => {
  const p = definePlugin({ name: "ok", register() {} });
  assertEquals([p.name, p.requires, p.defaults], ["ok", [], {}]);
  assert(Object.isFrozen(p));
  assertThrows(() => definePlugin({ name: "", register() {} }), "name must be a non-empty word");
  assertThrows(() => definePlugin({ name: "x" } as never), 'definePlugin("x"): register must be a function');
});

Deno.test("loadPlugins: requirements first, each plugin once, built-ins by name", async () => {
  const plugins = await loadPlugins(["dshmp", "mevis", "mask2former", "dshmp"], { builtins: builtinPlugins });
  assertEquals(plugins.map((p) => p.name), ["mask2former", "dshmp", "mevis"]);
  // The same module by path and by file URL is the same plugin.
  const twice = await loadPlugins(
    [THIRD_PARTY, pathToFileURL(THIRD_PARTY).href, "./tests/fixtures/third_party_plugin.ts"],
    { builtins: builtinPlugins, base: ROOT },
  );
  assertEquals(twice.map((p) => p.name), ["mask2former", "acme"]);
  await assertRejects(
    () => loadConfig({ overrides: ["PLUGINS", "[nope]"], builtins: builtinPlugins, cwd: ROOT }),
    'unknown plugin "nope"; built-in plugins: mask2former, dshmp, mevis; a third-party plugin is a path, a file URL, or an npm:/jsr: ' +
      "specifier (PLUGINS on the command line)",
  );
  await assertRejects(
    () => loadPlugins(["dshmpp"], { builtins: builtinPlugins }),
    'unknown plugin "dshmpp" (did you mean "dshmp"?); built-in plugins: mask2former, dshmp, mevis',
  );
});

Deno.test("loadPlugins: a requires cycle is an error showing the cycle", async () => {
  const a = definePlugin({ name: "a", requires: ["b"], register() {} });
  const b = definePlugin({ name: "b", requires: ["a"], register() {} });
  await assertRejects(
    () => loadPlugins(["a"], { builtins: { a, b } }),
    "plugin requires form a cycle: a -> b -> a",
  );
});

Deno.test("loadPlugins: a plugin that throws on load names its specifier and the cause", async () => {
  const e = await assertRejects(
    () => loadPlugins(["./tests/fixtures/broken_plugin.ts"], { base: ROOT }),
    'plugin "./tests/fixtures/broken_plugin.ts" failed to load: acme license server unreachable',
  );
  assert(e instanceof PluginError);
  assert(e.cause instanceof Error);
  await assertRejects(
    () => loadPlugins(["./tests/fixtures/no_such_plugin.ts"], { base: ROOT }),
    'plugin "./tests/fixtures/no_such_plugin.ts" failed to load: Module not found',
  );
  // A module whose default export is not a plugin.
  await assertRejects(
    () => loadPlugins(["./tests/assert.ts"], { base: ROOT }),
    'plugin "./tests/assert.ts": the module\'s default export must be made by definePlugin(), got nothing',
  );
});

Deno.test("registerPlugins: registering twice into one registries object is harmless", async () => {
  let calls = 0;
  const p = definePlugin({
    name: "counted",
    defaults: { MODEL: { COUNTED: { N: int(1) } } },
    register(r) {
      calls++;
      r.models.register("Counted", () => calls);
    },
  });
  const registries = createRegistries();
  await registerPlugins([p], registries);
  await registerPlugins([p, p], registries);
  assertEquals(calls, 1);
  await registerPlugins([p], createRegistries());
  assertEquals(calls, 2);
  const failing = definePlugin({ name: "failing", register: () => Promise.reject(new Error("disk full")) });
  await assertRejects(
    () => registerPlugins([failing], registries),
    'plugin "failing": register failed: disk full',
  );
});

Deno.test("third-party plugin via PLUGINS in YAML: its keys validate and its backbone is selected", async () => {
  const ctx = await buildTaskContext(["--config-file", "tests/fixtures/configs/with_plugin.yaml"], spec, {
    cwd: ROOT,
  });
  assertEquals(ctx.plugins.map((p) => p.name), ["mask2former", "dshmp", "mevis", "acme"]);
  assertEquals(get(ctx.cfg, "PLUGINS"), [pathToFileURL(THIRD_PARTY).href]);
  const name = get(ctx.cfg, "MODEL.BACKBONE.NAME") as string;
  assertEquals(ctx.registries.backbones.ownerOf(name), "acme");
  const backbone = ctx.registries.backbones.get(name)(ctx.cfg, ctx) as AcmeBackbone;
  assertEquals([backbone.kind, backbone.width, backbone.activation], ["acme", 16, "relu"]);
  // The plugin's keys are typed like core's.
  await assertRejects(
    () =>
      buildTaskContext(
        ["--config-file", "tests/fixtures/configs/with_plugin.yaml", "MODEL.ACME.WIDTH", "1.5"],
        spec,
        {
          cwd: ROOT,
        },
      ),
    "command line: MODEL.ACME.WIDTH expects an int, got 1.5 (float)",
  );
});

Deno.test("third-party plugin via --plugin: same backbone, seeded by the config", async () => {
  const argv = [
    "--plugin",
    "tests/fixtures/third_party_plugin.ts",
    "--config-file",
    "tests/fixtures/configs/selects_acme.yaml",
  ];
  const ctx = await buildTaskContext([...argv, "--seed", "5"], spec, { cwd: ROOT });
  const backbone = ctx.registries.backbones.get("AcmeBackbone")(ctx.cfg, ctx) as AcmeBackbone;
  assertEquals(backbone.width, 24);
  assertEquals(ctx.seed, 5);
  assertEquals(backbone.firstDraw, new Generator(5).uniform());
  // Without the plugin the config's keys are unknown, and the message says what may be missing.
  await assertRejects(
    () =>
      buildTaskContext(["--config-file", "tests/fixtures/configs/selects_acme.yaml"], spec, { cwd: ROOT }),
    "tests/fixtures/configs/selects_acme.yaml: unknown config key MODEL.ACME (did you mean MODEL.FPN?; " +
      "keys of a plugin need it in PLUGINS or --plugin)",
  );
  // A PLUGINS override on the command line works too.
  const viaOverride = await loadConfig({
    overrides: ["PLUGINS", '["./tests/fixtures/third_party_plugin.ts"]', "MODEL.ACME.ACTIVATION", "gelu"],
    builtins: builtinPlugins,
    cwd: ROOT,
  });
  assertEquals(get(viaOverride.cfg, "MODEL.ACME.ACTIVATION"), "gelu");
});

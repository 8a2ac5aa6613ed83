/**
 * The whole config pipeline of a task: read the YAML file and its `_BASE_` chain, collect the plugins
 * it names (`PLUGINS`, plus `--plugin` flags and a `PLUGINS` override), load them so their keys join
 * the schema, then check and merge the files and the `KEY VALUE` overrides over the defaults.
 *
 * `PLUGINS` accumulates: the entries of every file in the chain, the command line's `--plugin` flags and
 * a `PLUGINS` override are all loaded. Paths in a YAML file are relative to that file; paths on the
 * command line are relative to the cwd. The merged `PLUGINS` holds them resolved (file URLs), so a
 * written `config.yaml` loads from anywhere.
 *
 * @example
 * ```ts ignore
 * import { loadConfig } from "./load.ts";
 * import { builtinPlugins } from "../../mod.ts";
 * const { cfg } = await loadConfig({
 *   file: "configs/dshmp_swin_tiny.yaml",
 *   plugins: Object.keys(builtinPlugins),
 *   builtins: builtinPlugins,
 *   overrides: ["SOLVER.MAX_ITER", "10"],
 * });
 * ```
 * @module
 */
import { dirname, resolve } from "node:path";
import {
  type BuiltinPlugins,
  loadPlugins,
  type Plugin,
  type PluginRequest,
  resolvePluginSpecifier,
} from "../plugin.ts";
import { coreDefaults } from "./defaults.ts";
import { ConfigError } from "./error.ts";
import { readConfigChain } from "./file.ts";
import { type Config, type ConfigLayer, mergeConfig, overridePairs } from "./merge.ts";
import { ConfigSchema, type SchemaNode } from "./schema.ts";
import { coerceValue, parseOverrideValue } from "./values.ts";

/** The key listing third-party plugins. */
export const PLUGINS_KEY = "PLUGINS";

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** The YAML config file (relative to `cwd`); without it, the defaults. */
  file?: string;
  /** `KEY VALUE` overrides, flat, applied last. */
  overrides?: readonly string[];
  /** Plugins to load besides the config's `PLUGINS`: built-in names or specifiers (relative to `cwd`). */
  plugins?: readonly string[];
  /** The built-in plugins by name. */
  builtins?: BuiltinPlugins;
  /** The folder relative paths start from; defaults to the cwd. */
  cwd?: string;
  /** The core declarations; defaults to detectron2's defaults plus the port's keys. */
  core?: SchemaNode;
}

/** What {@link loadConfig} returns. */
export interface LoadedConfig {
  /** The merged, frozen config. */
  cfg: Config;
  /** The declarations of core and the loaded plugins. */
  schema: ConfigSchema;
  /** The loaded plugins, in load order (requirements first). */
  plugins: Plugin[];
  /** The config files read, bases first. */
  files: string[];
}

/**
 * Reads, checks and merges a config with its plugins. Errors are {@link ConfigError}s naming the file
 * (or "command line"), the key and the closest known key, or `PluginError`s naming the plugin.
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const cwd = resolve(options.cwd ?? Deno.cwd());
  const builtins = options.builtins ?? {};
  const layers: ConfigLayer[] = options.file ? await readConfigChain(options.file, cwd) : [];
  const overrides = options.overrides ?? [];

  // PLUGINS must be known before the rest can be checked: gather it from every source first.
  const coreSchema = new ConfigSchema().add(options.core ?? coreDefaults, "core");
  const pluginsLeaf = coreSchema.leaf(PLUGINS_KEY);
  if (!pluginsLeaf) throw new ConfigError(`core config declares no ${PLUGINS_KEY} key`);
  const requests: PluginRequest[] = [];
  for (const layer of layers) {
    if (!Object.hasOwn(layer.tree, PLUGINS_KEY)) continue;
    const list = coerceValue(layer.tree[PLUGINS_KEY], pluginsLeaf, PLUGINS_KEY, layer.source) as string[];
    const base = dirname(resolve(cwd, layer.source));
    requests.push(...list.map((specifier) => ({ specifier, base, origin: `PLUGINS of ${layer.source}` })));
  }
  const pairs = overridePairs(overrides);
  for (const [key, text] of pairs) {
    if (key !== PLUGINS_KEY) continue;
    const list = coerceValue(
      parseOverrideValue(text, pluginsLeaf),
      pluginsLeaf,
      key,
      "command line",
    ) as string[];
    requests.push(
      ...list.map((specifier) => ({ specifier, base: cwd, origin: "PLUGINS on the command line" })),
    );
  }
  const extra = (options.plugins ?? []).map((specifier) => ({ specifier, base: cwd }));
  const plugins = await loadPlugins([...extra, ...requests], { builtins, base: cwd });

  // The merged PLUGINS lists the third-party plugins resolved, so a written config loads from anywhere.
  const thirdParty = new Set<string>();
  for (const { specifier, base } of [...requests, ...extra]) {
    const r = resolvePluginSpecifier(specifier, base, builtins);
    if ("url" in r) thirdParty.add(r.url);
    else if (!extra.some((e) => e.specifier === specifier)) thirdParty.add(r.builtin);
  }
  const schema = new ConfigSchema().add(options.core ?? coreDefaults, "core");
  for (const plugin of plugins) schema.add(plugin.defaults, plugin.name);

  const rest = pairs.filter(([key]) => key !== PLUGINS_KEY).flat();
  const resolvedPlugins: ConfigLayer = { source: "plugins", tree: { [PLUGINS_KEY]: [...thirdParty] } };
  const cfg = mergeConfig(schema, [...layers.map(stripPlugins), resolvedPlugins], rest);
  return { cfg, schema, plugins, files: layers.map((l) => l.source) };
}

function stripPlugins(layer: ConfigLayer): ConfigLayer {
  if (!Object.hasOwn(layer.tree, PLUGINS_KEY)) return layer;
  const { [PLUGINS_KEY]: _plugins, ...tree } = layer.tree;
  return { source: layer.source, tree };
}

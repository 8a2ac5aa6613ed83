/**
 * Plugins: how built-in and third-party code adds config keys and registry entries. A plugin is a module
 * whose default export is {@link definePlugin}`({ name, requires?, defaults?, register })`. It does nothing
 * when imported; its keys join the config schema when it is loaded, and its entries join a registries
 * object when {@link registerPlugins} runs.
 *
 * Specifiers: a built-in's name (`mask2former`, `dshmp`, `mevis`), a path (relative to the cwd, or to the
 * config file for `PLUGINS` in YAML), a `file:` / `https:` URL, or an `npm:` / `jsr:` specifier.
 *
 * @example
 * ```ts
 * import { definePlugin, loadPlugins, registerPlugins } from "./plugin.ts";
 * import { createRegistries } from "./registries.ts";
 * import { int } from "./config/schema.ts";
 * const tiny = definePlugin({
 *   name: "tiny",
 *   defaults: { MODEL: { TINY: { WIDTH: int(8) } } },
 *   register(r) {
 *     r.backbones.register("TinyBackbone", () => ({}), { owner: "tiny" });
 *   },
 * });
 * const plugins = await loadPlugins(["tiny"], { builtins: { tiny } });
 * const registries = createRegistries();
 * await registerPlugins(plugins, registries);
 * registries.backbones.list(); // ["TinyBackbone"]
 * ```
 * @module
 */
import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { SchemaNode } from "./config/schema.ts";
import type { Registries } from "./registries.ts";
import { didYouMean } from "./suggest.ts";

/** What a plugin module declares. */
export interface PluginDefinition {
  /** A unique name, e.g. "dshmp" or "acme-backbones". */
  name: string;
  /** Plugins loaded first: built-in names or specifiers relative to this plugin's module. */
  requires?: readonly string[];
  /** Config keys this plugin declares, with types and defaults (see `core/config/schema.ts`). */
  defaults?: SchemaNode;
  /** Adds this plugin's entries to the registries. Called once per registries object. */
  register(registries: Registries): void | Promise<void>;
}

/** A plugin made by {@link definePlugin}. */
export interface Plugin {
  readonly name: string;
  readonly requires: readonly string[];
  readonly defaults: SchemaNode;
  register(registries: Registries): void | Promise<void>;
}

/** A built-in plugin: the plugin itself, or a function importing the module that default-exports it. */
export type PluginSource = Plugin | (() => Promise<unknown>);

/** Built-in plugins by name (see `builtinPlugins` in `mod.ts`). */
export type BuiltinPlugins = Readonly<Record<string, PluginSource>>;

/** Raised when a plugin cannot be defined, found, loaded or registered. */
export class PluginError extends Error {
  override name = "PluginError";
}

const PLUGIN_BRAND = Symbol.for("dshmp.plugin");

/**
 * Declares a plugin. Use it as the default export of the plugin's module.
 *
 * @example
 * ```ts
 * import { definePlugin } from "./plugin.ts";
 * export default definePlugin({ name: "acme", requires: ["dshmp"], register() {} });
 * ```
 */
export function definePlugin(definition: PluginDefinition): Plugin {
  const { name, requires = [], defaults = {}, register } = definition ?? {};
  if (typeof name !== "string" || !/^[A-Za-z0-9@][\w.@/-]*$/.test(name)) {
    throw new PluginError(
      `definePlugin: name must be a non-empty word (letters, digits, - _ . @ /), got ${JSON.stringify(name)}`,
    );
  }
  if (typeof register !== "function") {
    throw new PluginError(`definePlugin("${name}"): register must be a function`);
  }
  if (!Array.isArray(requires) || requires.some((r) => typeof r !== "string")) {
    throw new PluginError(`definePlugin("${name}"): requires must be a list of plugin names or specifiers`);
  }
  if (typeof defaults !== "object" || defaults === null || Array.isArray(defaults)) {
    throw new PluginError(`definePlugin("${name}"): defaults must be an object of config keys`);
  }
  return Object.freeze({
    name,
    requires: Object.freeze([...requires]),
    defaults,
    register,
    [PLUGIN_BRAND]: true,
  });
}

/** Whether `x` was made by {@link definePlugin} (in any copy of this module). */
export function isPlugin(x: unknown): x is Plugin {
  return typeof x === "object" && x !== null && (x as Record<symbol, unknown>)[PLUGIN_BRAND] === true;
}

/** A plugin to load, with where its relative path starts and where it was named (for messages). */
export interface PluginRequest {
  specifier: string;
  /** The folder (path or URL) a relative path starts from; defaults to {@link LoadPluginsOptions.base}. */
  base?: string | URL;
  /** Where the specifier was named, e.g. "PLUGINS in configs/x.yaml". */
  origin?: string;
}

/** Options of {@link loadPlugins}. */
export interface LoadPluginsOptions {
  /** Built-in plugins by name. */
  builtins?: BuiltinPlugins;
  /** Where relative paths start (a folder path or a file/folder URL); defaults to the cwd. */
  base?: string | URL;
}

const URL_SCHEME = /^(npm|jsr|file|https?|data|node):/;

/**
 * Resolves a plugin specifier to a built-in name or an importable URL string. Paths are relative to
 * `base` (a folder path, or a URL whose folder is used).
 *
 * @example
 * ```ts
 * import { resolvePluginSpecifier } from "./plugin.ts";
 * resolvePluginSpecifier("./plugins/acme.ts", "/work/repo"); // { url: "file:///work/repo/plugins/acme.ts" }
 * resolvePluginSpecifier("npm:@acme/dshmp-plugin"); // { url: "npm:@acme/dshmp-plugin" }
 * ```
 */
export function resolvePluginSpecifier(
  specifier: string,
  base: string | URL = Deno.cwd(),
  builtins: BuiltinPlugins = {},
): { builtin: string } | { url: string } {
  if (typeof specifier !== "string" || specifier.trim() === "") {
    throw new PluginError(`plugin specifier must be a non-empty string, got ${JSON.stringify(specifier)}`);
  }
  if (Object.hasOwn(builtins, specifier)) return { builtin: specifier };
  if (URL_SCHEME.test(specifier)) return { url: specifier };
  const looksLikePath = specifier.startsWith(".") || specifier.startsWith("/") || isAbsolute(specifier) ||
    /\.[cm]?[jt]sx?$/.test(specifier) || specifier.includes("/");
  if (!looksLikePath) {
    const names = Object.keys(builtins);
    throw new PluginError(
      `unknown plugin "${specifier}"${didYouMean(specifier, names)}; built-in plugins: ${
        names.join(", ") || "(none)"
      }; a third-party plugin is a path, a file URL, or an npm:/jsr: specifier`,
    );
  }
  if (typeof base === "string" && !URL_SCHEME.test(base)) {
    return { url: pathToFileURL(resolve(base, specifier)).href };
  }
  // A URL base: resolve against its folder (a module URL names a file).
  return { url: new URL(specifier, base).href };
}

function describeValue(x: unknown): string {
  if (x === undefined) return "nothing (no default export)";
  if (x === null) return "null";
  if (typeof x === "object") return `an object with keys ${Object.keys(x).join(", ") || "(none)"}`;
  return typeof x;
}

async function materialize(source: PluginSource, who: string): Promise<Plugin> {
  const value = isPlugin(source) ? source : await source();
  const candidate = isPlugin(value) ? value : (value as { default?: unknown } | undefined)?.default;
  if (!isPlugin(candidate)) {
    throw new PluginError(
      `${who}: the module's default export must be made by definePlugin(), got ${describeValue(candidate)}`,
    );
  }
  return candidate;
}

/**
 * Loads plugins (with what they require, first) and returns them in load order, each once.
 * Loading the same plugin twice is harmless; a `requires` cycle, an unknown name, a module that fails
 * to import, or two different plugins with one name are errors naming the specifier and the cause.
 */
export async function loadPlugins(
  specifiers: readonly (string | PluginRequest)[],
  options: LoadPluginsOptions = {},
): Promise<Plugin[]> {
  const builtins = options.builtins ?? {};
  const base = options.base ?? Deno.cwd();
  const ordered: Plugin[] = [];
  const done = new Map<string, Plugin>(); // resolved key -> plugin
  const byName = new Map<string, { plugin: Plugin; key: string }>();
  const loading: string[] = []; // names / keys being loaded, for cycle reports

  const load = async (specifier: string, from: string | URL, origin?: string): Promise<void> => {
    const where = origin ? ` (${origin})` : "";
    let resolved: { builtin: string } | { url: string };
    try {
      resolved = resolvePluginSpecifier(specifier, from, builtins);
    } catch (e) {
      throw new PluginError(`${(e as Error).message}${where}`, { cause: e });
    }
    const key = "builtin" in resolved ? `builtin:${resolved.builtin}` : resolved.url;
    if (done.has(key)) return;
    if (loading.includes(key)) {
      throw new PluginError(`plugin requires form a cycle: ${[...loading, key].map(shortKey).join(" -> ")}`);
    }
    loading.push(key);
    let plugin: Plugin;
    try {
      plugin = "builtin" in resolved
        ? await materialize(builtins[resolved.builtin], `plugin "${specifier}"${where}`)
        : await materialize(() => import(resolved.url), `plugin "${specifier}"${where}`);
    } catch (e) {
      if (e instanceof PluginError) throw e;
      throw new PluginError(`plugin "${specifier}"${where} failed to load: ${(e as Error)?.message ?? e}`, {
        cause: e,
      });
    }
    const seen = byName.get(plugin.name);
    if (seen && seen.plugin !== plugin) {
      throw new PluginError(
        `two different plugins are named "${plugin.name}": ${shortKey(seen.key)} and ${shortKey(key)}`,
      );
    }
    if (!seen) {
      const next = "builtin" in resolved ? base : resolved.url;
      for (const req of plugin.requires) await load(req, next, `required by plugin "${plugin.name}"`);
      byName.set(plugin.name, { plugin, key });
      ordered.push(plugin);
    }
    loading.pop();
    done.set(key, plugin);
  };

  for (const request of specifiers) {
    if (typeof request === "string") await load(request, base);
    else await load(request.specifier, request.base ?? base, request.origin);
  }
  return ordered;
}

function shortKey(key: string): string {
  return key.startsWith("builtin:") ? key.slice("builtin:".length) : key;
}

const registered = new WeakMap<Registries, Set<Plugin>>();

/**
 * Calls each plugin's `register` on `registries`, in order; a plugin already registered into this
 * registries object is skipped, so registering twice is harmless.
 */
export async function registerPlugins(plugins: readonly Plugin[], registries: Registries): Promise<void> {
  let set = registered.get(registries);
  if (!set) registered.set(registries, set = new Set());
  for (const plugin of plugins) {
    if (set.has(plugin)) continue;
    try {
      await plugin.register(registries);
    } catch (e) {
      throw new PluginError(`plugin "${plugin.name}": register failed: ${(e as Error)?.message ?? e}`, {
        cause: e,
      });
    }
    set.add(plugin);
  }
}

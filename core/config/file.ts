/**
 * Reading a YAML config file and the chain of `_BASE_` files it inherits from. Each `_BASE_` path is
 * relative to the file that names it; bases come first in the result, so merging the layers in order
 * gives the derived file the last word. A cycle is reported with the whole chain.
 *
 * @example
 * ```ts ignore
 * import { readConfigChain } from "./file.ts";
 * const layers = await readConfigChain("configs/dshmp_swin_tiny.yaml");
 * layers.map((l) => l.source); // ["configs/Base-YouTubeVIS-VideoInstanceSegmentation.yaml", "configs/dshmp_swin_tiny.yaml"]
 * ```
 * @module
 */
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { ConfigError } from "./error.ts";
import type { ConfigLayer } from "./merge.ts";
import { parseYaml } from "./yaml.ts";

/** The key naming the file a config inherits from. */
export const BASE_KEY = "_BASE_";

/** A path as messages show it: relative to the cwd when inside it. */
export function displayPath(path: string, cwd = Deno.cwd()): string {
  const rel = relative(cwd, path);
  return rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : path;
}

async function readOne(path: string, shown: string, from?: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "not found" : (e as Error).message;
    const via = from ? ` (the ${BASE_KEY} of ${from})` : "";
    throw new ConfigError(`config file ${shown}${via}: ${why}`);
  }
  let tree: unknown;
  try {
    tree = parseYaml(text);
  } catch (e) {
    throw new ConfigError(`${shown}: not valid YAML: ${(e as Error).message}`);
  }
  if (tree === null || tree === undefined) return {};
  if (typeof tree !== "object" || Array.isArray(tree)) {
    throw new ConfigError(
      `${shown}: a config file must be a mapping of keys, got ${
        Array.isArray(tree) ? "a list" : typeof tree
      }`,
    );
  }
  return tree as Record<string, unknown>;
}

/**
 * The layers of `file` and its `_BASE_` chain, bases first, each without its `_BASE_` key and with
 * `source` set to the file's path (relative to `cwd` when inside it).
 */
export async function readConfigChain(file: string, cwd = Deno.cwd()): Promise<ConfigLayer[]> {
  const layers: ConfigLayer[] = [];
  const visit = async (path: string, chain: string[], from?: string): Promise<void> => {
    const shown = displayPath(path, cwd);
    if (chain.includes(path)) {
      const names = [...chain, path].map((p) => displayPath(p, cwd)).join(" -> ");
      throw new ConfigError(`${from}: ${BASE_KEY} cycle: ${names}`);
    }
    const tree = await readOne(path, shown, from);
    const { [BASE_KEY]: base, ...rest } = tree;
    if (base !== undefined) {
      if (typeof base !== "string" || base.length === 0) {
        throw new ConfigError(
          `${shown}: ${BASE_KEY} must be a file path (a string), got ${JSON.stringify(String(base))}`,
        );
      }
      await visit(resolve(dirname(path), base), [...chain, path], shown);
    }
    layers.push({ source: shown, tree: rest });
  };
  await visit(resolve(cwd, file), []);
  return layers;
}

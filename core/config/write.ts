/**
 * Writing a merged config: {@link dumpConfig} gives its YAML text (the format `loadConfig` reads back),
 * {@link writeConfig} writes it atomically (a temp file beside the target, then a rename), as tasks do
 * with `OUTPUT_DIR/config.yaml`.
 *
 * @example
 * ```ts ignore
 * import { writeConfig } from "./write.ts";
 * await writeConfig(cfg, `${cfg.OUTPUT_DIR}/config.yaml`);
 * ```
 * @module
 */
import { dirname, join } from "node:path";
import type { Config } from "./merge.ts";
import { stringifyYaml } from "./yaml.ts";

/**
 * The config as YAML text, keys in declaration order.
 *
 * @example
 * ```ts
 * import { dumpConfig } from "./write.ts";
 * dumpConfig({ SOLVER: { STEPS: [40000, 50000] } }); // "SOLVER:\n  STEPS:\n    - 40000\n    - 50000\n"
 * ```
 */
export function dumpConfig(cfg: Config): string {
  return stringifyYaml(cfg);
}

/** Writes {@link dumpConfig}'s text to `path` atomically, creating its folder. */
export async function writeConfig(cfg: Config, path: string): Promise<void> {
  const dir = dirname(path);
  await Deno.mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${crypto.randomUUID()}.tmp`);
  try {
    await Deno.writeTextFile(tmp, dumpConfig(cfg));
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

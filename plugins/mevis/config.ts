/**
 * The config keys of the MeViS plugin, and where the data sets are found: `DATASETS.ROOT` when set,
 * else the environment variable `DSHMP_DATASETS`, else `./datasets` (detectron2 uses
 * `DETECTRON2_DATASETS` the same way).
 *
 * @example
 * ```ts
 * import { datasetRoot } from "./config.ts";
 * datasetRoot({ DATASETS: { ROOT: "/data" } }); // "/data"
 * ```
 * @module
 */
import { type ConfigOf, str } from "../../core/config/schema.ts";

/** The environment variable naming the data set root when `DATASETS.ROOT` is empty. */
export const DATASETS_ENV = "DSHMP_DATASETS";

/** Keys declared by the mevis plugin. */
export const mevisDefaults = {
  DATASETS: {
    ROOT: str("", `folder holding mevis/ (and other data sets); empty: $${DATASETS_ENV} or ./datasets`),
  },
};

/** The static type of the mevis plugin's keys. */
export type MevisConfig = ConfigOf<typeof mevisDefaults>;

/**
 * The data set root: `DATASETS.ROOT`, else `$DSHMP_DATASETS`, else "datasets" (relative to the cwd).
 * Reading the environment needs `--allow-env`; without it the variable counts as unset.
 */
export function datasetRoot(cfg: MevisConfig): string {
  if (cfg.DATASETS.ROOT) return cfg.DATASETS.ROOT;
  let fromEnv: string | undefined;
  try {
    fromEnv = Deno.env.get(DATASETS_ENV);
  } catch {
    fromEnv = undefined;
  }
  return fromEnv || "datasets";
}

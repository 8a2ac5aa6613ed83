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
import { bool, type ConfigOf, int, ints, str } from "../../core/config/schema.ts";

/** The environment variable naming the data set root when `DATASETS.ROOT` is empty. */
export const DATASETS_ENV = "DSHMP_DATASETS";

/** Keys declared by the mevis plugin. */
export const mevisDefaults = {
  DATASETS: {
    ROOT: str("", `folder holding mevis/ (and other data sets); empty: $${DATASETS_ENV} or ./datasets`),
    SYNTH: {
      ENABLED: bool(
        false,
        "deno task train: generate the synthetic MeViS-format data set (cached) and train on it " +
          "(DATASETS.ROOT is set to the cache); on by default only for `deno task train` without arguments",
      ),
      CACHE_DIR: str(
        ".cache/synth-mevis",
        "where the synthetic data sets are cached, one folder per options",
      ),
      SEED: int(0, "seed of the synthetic data set"),
      VIDEOS: ints([300, 40, 40], "synthetic videos per split: train, valid_u, valid"),
      SIZE: ints([64, 96], "synthetic frame size: height, width"),
      FRAMES: ints([8, 24], "synthetic frames per video: min, max"),
    },
  },
  DATALOADER: {
    STRICT_DATA: bool(false, "stop on the first bad sample instead of skipping and counting it"),
    CHECK_FRAMES: bool(true, "list each video folder and read its first frame's header when loading"),
    PREFETCH: int(0, "samples loaded ahead; 0: 2 x NUM_WORKERS"),
  },
  INPUT: {
    FLIP_SWAPS_LEFT_RIGHT: bool(
      false,
      "a horizontally flipped training clip gets left/right swapped in its sentence (the original keeps the words)",
    ),
    SAMPLING_MAX_ATTEMPTS: int(
      1000,
      "redraws of a training clip before giving up when no frame shows the target",
    ),
  },
};

/** The static type of the mevis plugin's keys. */
export type MevisConfig = ConfigOf<typeof mevisDefaults>;

/**
 * The data set root: `DATASETS.ROOT`, else `$DSHMP_DATASETS`, else "datasets" (relative to the cwd).
 * Reading the environment needs `--allow-env`; without it the variable counts as unset.
 */
export function datasetRoot(cfg: { DATASETS: { ROOT: string } }): string {
  if (cfg.DATASETS.ROOT) return cfg.DATASETS.ROOT;
  let fromEnv: string | undefined;
  try {
    fromEnv = Deno.env.get(DATASETS_ENV);
  } catch {
    fromEnv = undefined;
  }
  return fromEnv || "datasets";
}

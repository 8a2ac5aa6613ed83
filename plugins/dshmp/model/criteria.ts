/**
 * The `losses` registry entry `VitaSetCriterion` (DsHmp's clip-level criterion, as the original's
 * `DsHmp.from_config` builds it with `vitaSetCriterionFromConfig`) and its contrastive memory bank. (The
 * frame-level `SetCriterion` entry is the mask2former plugin's.)
 *
 * The memory bank's tables (`idx2positive.json`, `idx2negative.json`, written by `deno task prepare`)
 * come from `MODEL.DSHMP.CONTRASTIVE_TABLES_DIR`, or when that is empty from the first training split's
 * folder (`<DATASETS.ROOT>/mevis/train` for `mevis_train`). Its size is `MODEL.DSHMP.MEMORY_BANK_SIZE`;
 * -1 (the default) sizes it from the tables (largest idx + 1: 23051 for MeViS train, the original's
 * hard-coded value; at least 100, the positives and negatives drawn per anchor, so that a small data set
 * still finds its random negatives) and falls back to 23051 without tables, so that the published checkpoint loads. A
 * bank built without tables can be loaded and used for inference; a training step then stops with a
 * message naming the folder (see {@link contrastiveTablesProblem}). Its width is `MODEL.VITA.HIDDEN_DIM`
 * (the contrastive embeddings' width; the original hard-codes 256, its hidden size).
 *
 * @example
 * ```ts ignore
 * registries.losses.register("VitaSetCriterion", vitaSetCriterionFactory);
 * ```
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { BuildContext, Factory } from "../../../core/registries.ts";
import {
  type ContrastiveTables,
  loadContrastiveTables,
  type VitaSetCriterion,
  vitaSetCriterionFromConfig,
} from "../losses/mod.ts";
import type { VitaSetCriterionConfig } from "../losses/from_config.ts";
import { DATASETS_ENV } from "../../mevis/config.ts";

/** The memory bank size of the original (MeViS train's expression count). */
export const PAPER_MEMORY_BANK_SIZE = 23051;

/**
 * Positives plus negatives drawn per anchor (the memory bank's default): a bank sized from the tables
 * has at least this many rows, so a small data set still finds its random negatives.
 */
export const CONTRASTIVE_BATCH = 100;

/** The folders of the training splits whose tables the memory bank can read, relative to the root. */
const TRAIN_SPLIT_FOLDERS: Readonly<Record<string, string>> = { mevis_train: "mevis/train" };

/** The config keys the criteria factories read besides the losses' own. */
export interface DshmpCriteriaConfig {
  MODEL: {
    DSHMP: { CONTRASTIVE_TABLES_DIR: string; MEMORY_BANK_SIZE: number };
    VITA: { HIDDEN_DIM: number };
  };
  DATASETS: { TRAIN: readonly string[]; ROOT?: string };
}

/**
 * The folder the memory bank's tables are read from: `MODEL.DSHMP.CONTRASTIVE_TABLES_DIR`, else the
 * first training split's folder under the data set root (`DATASETS.ROOT`, `$DSHMP_DATASETS`,
 * `datasets`); null when neither names one.
 *
 * @example
 * ```ts
 * import { contrastiveTablesDir } from "./criteria.ts";
 * contrastiveTablesDir({
 *   MODEL: { DSHMP: { CONTRASTIVE_TABLES_DIR: "", MEMORY_BANK_SIZE: -1 }, VITA: { HIDDEN_DIM: 256 } },
 *   DATASETS: { TRAIN: ["mevis_train"], ROOT: "/data" },
 * }); // "/data/mevis/train"
 * ```
 */
export function contrastiveTablesDir(cfg: DshmpCriteriaConfig): string | null {
  const dir = cfg.MODEL.DSHMP.CONTRASTIVE_TABLES_DIR;
  if (dir) return dir;
  const first = cfg.DATASETS.TRAIN[0];
  const folder = first === undefined ? undefined : TRAIN_SPLIT_FOLDERS[first];
  if (folder === undefined) return null;
  let root = cfg.DATASETS.ROOT ?? "";
  if (!root) {
    try {
      root = Deno.env.get(DATASETS_ENV) ?? "";
    } catch {
      root = "";
    }
  }
  return join(root || "datasets", folder);
}

/** Whether `dir` holds both tables. */
function hasTables(dir: string | null): dir is string {
  return dir !== null && existsSync(join(dir, "idx2positive.json")) &&
    existsSync(join(dir, "idx2negative.json"));
}

/** The largest expression idx named in the tables, + 1. */
export function tablesSize(tables: ContrastiveTables): number {
  let max = -1;
  for (const table of [tables.idx2positive, tables.idx2negative]) {
    for (const [k, v] of Object.entries(table)) {
      max = Math.max(max, Number(k));
      for (const i of v) max = Math.max(max, i);
    }
  }
  return max + 1;
}

/**
 * Why a training step cannot compute the contrastive loss with `criterion`, or null when it can.
 *
 * @example
 * ```ts ignore
 * const problem = contrastiveTablesProblem(model.vitaCriterion, cfg);
 * if (problem) throw new Error(problem);
 * ```
 */
export function contrastiveTablesProblem(
  criterion: VitaSetCriterion,
  cfg: DshmpCriteriaConfig,
): string | null {
  if (!criterion.losses.includes("contrastive_sim") || criterion.trainMemoryBank.tables) return null;
  const dir = contrastiveTablesDir(cfg);
  return `the contrastive loss needs idx2positive.json and idx2negative.json ` +
    (dir ? `(looked in ${dir}); ` : "(no training split names their folder); ") +
    "run `deno task prepare` on the training split, or set MODEL.DSHMP.CONTRASTIVE_TABLES_DIR";
}

/**
 * The `losses` entry `VitaSetCriterion`: the clip-level criterion with its memory bank (tables and
 * size as in the module doc; initial features and random negatives from `ctx.generator`).
 */
export const vitaSetCriterionFactory: Factory<VitaSetCriterion> = (cfg, ctx: BuildContext) => {
  const c = cfg as unknown as DshmpCriteriaConfig & VitaSetCriterionConfig;
  const dir = contrastiveTablesDir(c);
  const tables = hasTables(dir) ? loadContrastiveTables(dir) : undefined;
  if (!tables && c.MODEL.DSHMP.CONTRASTIVE_TABLES_DIR) {
    throw new Error(
      `MODEL.DSHMP.CONTRASTIVE_TABLES_DIR ${dir}: no idx2positive.json / idx2negative.json there ` +
        "(run `deno task prepare` to write them)",
    );
  }
  const configured = c.MODEL.DSHMP.MEMORY_BANK_SIZE;
  const needed = tables ? tablesSize(tables) : 0;
  const numSamples = configured > 0
    ? configured
    : tables
    ? Math.max(needed, CONTRASTIVE_BATCH)
    : PAPER_MEMORY_BANK_SIZE;
  if (!(Number.isInteger(numSamples) && numSamples > 0) || (configured === 0 || configured < -1)) {
    throw new Error(`MODEL.DSHMP.MEMORY_BANK_SIZE must be -1 or a positive integer, got ${configured}`);
  }
  if (numSamples < needed) {
    throw new Error(
      `MODEL.DSHMP.MEMORY_BANK_SIZE ${numSamples} is too small for the tables in ${dir} (expression idx up to ${
        needed - 1
      })`,
    );
  }
  return vitaSetCriterionFromConfig(c, {
    // The original's bank is 256 wide, its hidden size: the contrastive embeddings are that wide.
    memoryBank: { numSamples, numFeatures: c.MODEL.VITA.HIDDEN_DIM, tables, generator: ctx.generator },
  });
};

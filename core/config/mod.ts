/**
 * The config system: typed declarations (`schema.ts`), detectron2's defaults (`defaults.ts`), YAML files
 * with `_BASE_` (`file.ts`), merging with `KEY VALUE` overrides (`merge.ts`), the full pipeline with
 * plugins (`load.ts`), reading (`get.ts`) and writing (`write.ts`).
 *
 * @example
 * ```ts ignore
 * import { get, loadConfig, writeConfig } from "./mod.ts";
 * const { cfg } = await loadConfig({ file: "configs/dshmp_swin_tiny.yaml", overrides: ["SEED", "0"] });
 * get(cfg, "SOLVER.MAX_ITER"); // 55000
 * await writeConfig(cfg, "output/config.yaml");
 * ```
 * @module
 */
export * from "./defaults.ts";
export * from "./error.ts";
export * from "./file.ts";
export * from "./get.ts";
export * from "./load.ts";
export * from "./merge.ts";
export * from "./schema.ts";
export * from "./values.ts";
export * from "./write.ts";
export * from "./yaml.ts";

/**
 * dshmp: DsHmp referring video segmentation (CVPR 2024) in TypeScript on Deno.
 *
 * The public API: registries and plugins (how third parties add backbones, decoders, losses, data sets,
 * models, evaluators and converters), the typed config system, the seeded generator, the tensor ops
 * facade and safetensors I/O, plus the built-in plugins.
 *
 * @example
 * ```ts ignore
 * import { builtinPlugins, createRegistries, loadConfig, registerPlugins } from "./mod.ts";
 * const { cfg, plugins } = await loadConfig({
 *   file: "configs/dshmp_swin_tiny.yaml",
 *   plugins: Object.keys(builtinPlugins),
 *   builtins: builtinPlugins,
 * });
 * const registries = createRegistries();
 * await registerPlugins(plugins, registries);
 * ```
 * @module
 */
import dshmp from "./plugins/dshmp/mod.ts";
import mask2former from "./plugins/mask2former/mod.ts";
import mevis from "./plugins/mevis/mod.ts";

export * from "./core/registry.ts";
export * from "./core/registries.ts";
export * from "./core/plugin.ts";
export * from "./core/config/mod.ts";
export * from "./core/random.ts";
export * from "./core/io/safetensors.ts";
/** The tensor ops facade (`ops.add`, `ops.matmul`, ...). */
export * as ops from "./core/tensor/ops.ts";

/** The built-in plugins by name; tasks load all of them. */
export const builtinPlugins = Object.freeze({ mask2former, dshmp, mevis });

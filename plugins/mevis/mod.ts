/**
 * The MeViS plugin: the MeViS splits, refer-id preparation, J&F scoring, the submission writer and the
 * synthetic MeViS-format generator. Its config keys and the data set root rule are in `config.ts`; its
 * registry entries are added as the parts are ported.
 *
 * @example
 * ```ts
 * import mevis from "./mod.ts";
 * mevis.name; // "mevis"
 * ```
 * @module
 */
import { definePlugin } from "../../core/plugin.ts";
import { mevisDefaults } from "./config.ts";
import { mevisDatasetFactory } from "./data/mevis_dataset.ts";

export { datasetRoot, DATASETS_ENV, type MevisConfig, mevisDefaults } from "./config.ts";

/** The mevis plugin. */
export default definePlugin({
  name: "mevis",
  defaults: mevisDefaults,
  register(registries) {
    for (const name of ["mevis_train", "mevis_val", "mevis_test"] as const) {
      registries.datasets.register(name, mevisDatasetFactory(name), { owner: "mevis" });
    }
  },
});

/**
 * The DsHmp plugin: the text pathway (RoBERTa, static/motion decoupling), the frame decoder with static
 * perception, the clip decoder with hierarchical motion perception, and the VITA and contrastive losses.
 * It builds on the mask2former plugin. Its config keys are in `config.ts`. Registry entries: decoders
 * `DshmpMultiScaleMaskedTransformerDecoder` and `DsHmpHierarchical`, loss `VitaSetCriterion`, model
 * `DsHmp`.
 *
 * @example
 * ```ts
 * import dshmp from "./mod.ts";
 * dshmp.requires; // ["mask2former"]
 * ```
 * @module
 */
import { definePlugin } from "../../core/plugin.ts";
import { dshmpDefaults } from "./config.ts";
import { vitaSetCriterionFactory } from "./model/criteria.ts";
import { dshmpFrameDecoderFactory, dsHmpHierarchicalFactory, dshmpModelFactory } from "./model/build.ts";

export { type DshmpConfig, dshmpDefaults, type DshmpKeys } from "./config.ts";

/** The dshmp plugin. */
export default definePlugin({
  name: "dshmp",
  requires: ["mask2former"],
  defaults: dshmpDefaults,
  register(registries) {
    const owner = { owner: "dshmp" };
    registries.decoders.register("DshmpMultiScaleMaskedTransformerDecoder", dshmpFrameDecoderFactory, owner);
    registries.decoders.register("DsHmpHierarchical", dsHmpHierarchicalFactory, owner);
    registries.losses.register("VitaSetCriterion", vitaSetCriterionFactory, owner);
    registries.models.register("DsHmp", dshmpModelFactory, owner);
  },
});

/**
 * DsHmp's text encoder side: Hugging Face's RoBERTa ({@link RobertaModel}, loadable from an HF folder
 * or a DsHmp checkpoint), the {@link FeatureResizer}, and the assembly of the motion and static
 * language features that the decoders consume.
 *
 * @example
 * ```ts
 * import { assembleTextFeatures, FeatureResizer, loadRobertaFromHfFolder } from "./mod.ts";
 * import * as ops from "../../../core/tensor/ops.ts";
 * const { model } = await loadRobertaFromHfFolder("tests/fixtures/roberta_tiny", { frozen: true });
 * model.eval();
 * const resizer = new FeatureResizer({ inputFeatSize: model.config.hiddenSize, outputFeatSize: 8 }).eval();
 * const ids = ops.tensor([[0, 300, 2, ...new Array(37).fill(0)]], [1, 40], "int32");
 * const mask = ops.tensor([[1, 1, 1, ...new Array(37).fill(0)]], [1, 40], "int32");
 * const motion = new Float32Array(40);
 * const stat = new Float32Array(40);
 * stat[1] = 1;
 * const f = assembleTextFeatures(model.forward(ids, mask), resizer, { motion, static: stat });
 * f.staticFeat.shape; // [2, 8]: the selected token, then the pooled sentence
 * ```
 * @module
 */
export * from "./roberta.ts";
export * from "./feature_resizer.ts";
export * from "./text_features.ts";
export * from "./hf_folder.ts";

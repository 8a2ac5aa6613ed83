/**
 * DsHmp's frame decoder with static perception: {@link DshmpMultiScaleMaskedTransformerDecoder}, its
 * config factory, the `static_query` -> `query_feat` checkpoint conversion, the masked-attention rule,
 * and the decoder layers it is built from.
 *
 * @example
 * ```ts
 * import { dshmpFrameDecoderFromConfig, renameStaticQuery } from "./mod.ts";
 * typeof dshmpFrameDecoderFromConfig; // "function"
 * renameStaticQuery(new Map([["static_query.weight", 1]])).stateDict.has("query_feat.weight"); // true
 * ```
 * @module
 */
export {
  dshmpFrameDecoderFromConfig,
  type DshmpFrameDecoderOptions,
  DshmpMultiScaleMaskedTransformerDecoder,
  type FrameDecoderConfig,
  type FrameDecoderOutput,
  type FrameDecoderPredictions,
  type FramePrediction,
  renameStaticQuery,
  type StaticQueryRename,
} from "./dshmp_transformer_decoder.ts";
export { attentionMaskFromPrediction, blockedPixels } from "./attention_mask.ts";
export * from "../transformer_layers.ts";

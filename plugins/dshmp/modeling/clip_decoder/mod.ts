/**
 * DsHmp's clip decoder with hierarchical motion perception: {@link DsHmpHierarchical} (the original's
 * `vita_module`) and its factory {@link dsHmpHierarchicalFromConfig}, the
 * {@link HierarchicalCrossAttentionLayer} with its query re-ordering and {@link pairwiseAverage}, the
 * window masks, and the transformer layers they are built from.
 *
 * @example
 * ```ts
 * import { dsHmpHierarchicalFromConfig } from "./mod.ts";
 * const cfg = {
 *   MODEL: {
 *     VITA: {
 *       HIDDEN_DIM: 32, NUM_OBJECT_QUERIES: 3, NHEADS: 4, DIM_FEEDFORWARD: 64, ENC_LAYERS: 2, DEC_LAYERS: 1,
 *       ENC_WINDOW_SIZE: 4, PRE_NORM: false, ENFORCE_INPUT_PROJ: true, SIM_USE_CLIP: true, SIM_WEIGHT: 1.0,
 *       DEEP_SUPERVISION: true,
 *     },
 *     MASK_FORMER: { NUM_OBJECT_QUERIES: 4 },
 *     SEM_SEG_HEAD: { NUM_CLASSES: 1, CONVS_DIM: 32, MASK_DIM: 32 },
 *   },
 *   INPUT: { SAMPLING_FRAME_NUM: 2 },
 * };
 * const decoder = dsHmpHierarchicalFromConfig(cfg, 32);
 * [...decoder.stateDict().keys()].some((k) => k.startsWith("hierarchical_cross.")); // true
 * ```
 * @module
 */
export {
  type ClipDecoderConfig,
  type ClipDecoderHeads,
  type ClipDecoderOutput,
  type ClipDecoderTrace,
  DsHmpHierarchical,
  dsHmpHierarchicalFromConfig,
  type DsHmpHierarchicalOptions,
  SHIFT_MASK_VALUE,
  shiftWindowMask,
  type WindowGeometry,
  windowKeyPaddingMask,
} from "./clip_decoder.ts";
export {
  HierarchicalCrossAttentionLayer,
  type HierarchicalCrossAttentionOptions,
  type HierarchicalTrace,
  matchEmbeds,
  pairwiseAverage,
  type QueryOrder,
  sortEmbedding,
  unsortEmbedding,
} from "./hierarchical_cross_attention.ts";

/**
 * The config keys of the Mask2Former plugin: Mask2Former's `add_maskformer2_config` and the DeepLab
 * keys (`add_deeplab_config`) the original's trainer also adds, with their defaults and types.
 *
 * @example
 * ```ts
 * import { mask2formerDefaults } from "./config.ts";
 * mask2formerDefaults.MODEL.MASK_FORMER.NUM_OBJECT_QUERIES.value; // 100
 * ```
 * @module
 */
import { bool, type ConfigOf, float, int, ints, str, strs } from "../../core/config/schema.ts";

/** Keys declared by the mask2former plugin. */
export const mask2formerDefaults = {
  INPUT: {
    DATASET_MAPPER_NAME: str("mask_former_semantic", "which data set mapper an image task uses"),
    COLOR_AUG_SSD: bool(false),
    CROP: { SINGLE_CATEGORY_MAX_AREA: float(1.0) },
    SIZE_DIVISIBILITY: int(-1, "pad images to a multiple of this in the mapper; -1: no padding"),
    // Large-scale jitter.
    IMAGE_SIZE: int(1024),
    MIN_SCALE: float(0.1),
    MAX_SCALE: float(2.0),
  },
  SOLVER: {
    WEIGHT_DECAY_EMBED: float(0.0, "weight decay of embeddings (query features and positions)"),
    OPTIMIZER: str("ADAMW", { choices: ["SGD", "ADAMW"] }),
    BACKBONE_MULTIPLIER: float(0.1, "learning-rate factor of the backbone"),
    // DeepLab's keys.
    POLY_LR_POWER: float(0.9),
    POLY_LR_CONSTANT_ENDING: float(0.0),
  },
  MODEL: {
    MASK_FORMER: {
      DEEP_SUPERVISION: bool(true, "a loss on every decoder layer"),
      NO_OBJECT_WEIGHT: float(0.1),
      CLASS_WEIGHT: float(1.0),
      DICE_WEIGHT: float(1.0),
      MASK_WEIGHT: float(20.0),
      NHEADS: int(8),
      DROPOUT: float(0.1),
      DIM_FEEDFORWARD: int(2048),
      ENC_LAYERS: int(0),
      DEC_LAYERS: int(6, "decoder layers plus one (the loss on the learnable queries)"),
      PRE_NORM: bool(false),
      HIDDEN_DIM: int(256),
      NUM_OBJECT_QUERIES: int(100, "frame-level queries"),
      TRANSFORMER_IN_FEATURE: str("res5"),
      ENFORCE_INPUT_PROJ: bool(false),
      TEST: {
        SEMANTIC_ON: bool(true),
        INSTANCE_ON: bool(false),
        PANOPTIC_ON: bool(false),
        OBJECT_MASK_THRESHOLD: float(0.0),
        OVERLAP_THRESHOLD: float(0.0),
        SEM_SEG_POSTPROCESSING_BEFORE_INFERENCE: bool(false),
      },
      SIZE_DIVISIBILITY: int(32, "pad the batch to a multiple of this"),
      TRANSFORMER_DECODER_NAME: str(
        "MultiScaleMaskedTransformerDecoder",
        "the frame decoder (decoders registry)",
      ),
      TRAIN_NUM_POINTS: int(112 * 112, "points sampled per mask for the mask losses"),
      OVERSAMPLE_RATIO: float(3.0),
      IMPORTANCE_SAMPLE_RATIO: float(0.75),
    },
    SEM_SEG_HEAD: {
      MASK_DIM: int(256),
      TRANSFORMER_ENC_LAYERS: int(0, "deformable encoder layers of the pixel decoder"),
      PIXEL_DECODER_NAME: str("BasePixelDecoder", "the pixel decoder (decoders registry)"),
      DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES: strs(["res3", "res4", "res5"]),
      DEFORMABLE_TRANSFORMER_ENCODER_N_POINTS: int(4),
      DEFORMABLE_TRANSFORMER_ENCODER_N_HEADS: int(8),
      // DeepLab's keys.
      LOSS_TYPE: str("hard_pixel_mining"),
      PROJECT_FEATURES: strs(["res2"]),
      PROJECT_CHANNELS: ints([48]),
      ASPP_CHANNELS: int(256),
      ASPP_DILATIONS: ints([6, 12, 18]),
      ASPP_DROPOUT: float(0.1),
      USE_DEPTHWISE_SEPARABLE_CONV: bool(false),
    },
    SWIN: {
      PRETRAIN_IMG_SIZE: int(224),
      PATCH_SIZE: int(4),
      EMBED_DIM: int(96),
      DEPTHS: ints([2, 2, 6, 2]),
      NUM_HEADS: ints([3, 6, 12, 24]),
      WINDOW_SIZE: int(7),
      MLP_RATIO: float(4.0),
      QKV_BIAS: bool(true),
      QK_SCALE: float(null, "null: head_dim ** -0.5"),
      DROP_RATE: float(0.0),
      ATTN_DROP_RATE: float(0.0),
      DROP_PATH_RATE: float(0.3),
      APE: bool(
        false,
        "absolute position embedding: a learnt PRETRAIN_IMG_SIZE/PATCH_SIZE grid, resized bicubically to the patches",
      ),
      PATCH_NORM: bool(true),
      OUT_FEATURES: strs(["res2", "res3", "res4", "res5"]),
      USE_CHECKPOINT: bool(false),
      FUSION_GATE_INIT: str(
        "zeros",
        'residual gates of the language fusion: "zeros" (original: never open from scratch) or "trainable"',
      ),
    },
    // DeepLab's keys.
    RESNETS: {
      RES4_DILATION: int(1),
      RES5_MULTI_GRID: ints([1, 2, 4]),
      STEM_TYPE: str("deeplab"),
    },
  },
};

/** The static type of the mask2former plugin's keys. */
export type Mask2FormerConfig = ConfigOf<typeof mask2formerDefaults>;

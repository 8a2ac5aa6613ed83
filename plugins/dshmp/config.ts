/**
 * The config keys of the DsHmp plugin: the original's `add_vita_config` (clip-level VITA decoder, clip
 * sampling, pseudo-video and large-scale-jitter augmentation), with their defaults and types. Fixes of
 * the original's flaws go here as extra keys whose defaults keep the paper's behaviour.
 *
 * @example
 * ```ts
 * import { dshmpDefaults } from "./config.ts";
 * dshmpDefaults.MODEL.VITA.NUM_OBJECT_QUERIES.value; // 100
 * ```
 * @module
 */
import type { CoreConfig } from "../../core/config/defaults.ts";
import { bool, type ConfigOf, float, floats, int, ints, str, strs } from "../../core/config/schema.ts";
import type { Mask2FormerConfig } from "../mask2former/config.ts";

/** Keys declared by the dshmp plugin. */
export const dshmpDefaults = {
  DATASETS: {
    DATASET_RATIO: floats([], "sampling ratio of each training data set"),
  },
  INPUT: {
    SAMPLING_FRAME_NUM: int(2, "frames per training clip"),
    SAMPLING_FRAME_RANGE: int(20, "frames are drawn within this distance of the reference frame"),
    SAMPLING_FRAME_SHUFFLE: bool(false),
    AUGMENTATIONS: strs([], "extra clip augmentations: brightness, contrast, saturation, rotation"),
    PSEUDO: {
      AUGMENTATIONS: strs(["rotation"]),
      MIN_SIZE_TRAIN: ints([480, 512, 544, 576, 608, 640, 672, 704, 736, 768]),
      MAX_SIZE_TRAIN: int(768),
      MIN_SIZE_TRAIN_SAMPLING: str("choice_by_clip"),
      CROP: {
        ENABLED: bool(false),
        TYPE: str("absolute_range"),
        SIZE: ints([384, 600]),
      },
    },
    LSJ_AUG: {
      ENABLED: bool(false),
      IMAGE_SIZE: int(1024),
      MIN_SCALE: float(0.1),
      MAX_SCALE: float(2.0),
    },
  },
  MODEL: {
    // Port-specific keys. Defaults keep the original's behaviour; the fixes are opt-in.
    DSHMP: {
      TEXT_ENCODER_PATH: str(
        "",
        "local Hugging Face roberta-base folder (config.json, tokenizer.json, weights)",
      ),
      RESIZER_DROPOUT: float(0.1, "dropout of the FeatureResizer after the text encoder"),
      TEXT_ENCODER_EVAL_IN_TRAINING: bool(
        false,
        "fix: keep the frozen text encoder's dropout off in training",
      ),
      MAX_TEXT_TOKENS: int(40, "sentences are cut and padded to this many token ids"),
      TEXT_PAD_ID: int(0, "id used for padding (the original pads with 0 = <s>)"),
      TEXT_TRUNCATION: str("slice", { choices: ["slice", "keep_special"], doc: "keep_special keeps </s>" }),
      DECOUPLE_MAX_TOKENS: int(40, "length of the motion/static token maps"),
      DECOUPLE_OVERFLOW: str("drop", {
        choices: ["drop", "error", "extend"],
        doc: "tokens past DECOUPLE_MAX_TOKENS: drop silently (paper), fail, or extend the maps",
      }),
      PER_SAMPLE_DECOUPLING: bool(false, "fix: each sample's own sentence drives its maps in training"),
      POS_TAGGER: str("wink", { choices: ["wink"], doc: "part-of-speech tagger standing in for spaCy" }),
      TAGGER_MOTION_FIXES: bool(false, "correct wink-nlp tags that disagree with spaCy on motion words"),
      HIERARCHICAL_MOTION: bool(true, "hierarchical cross-attention in the clip decoder; false = ablation"),
      CONTRASTIVE_TABLES_DIR: str(
        "",
        "folder with idx2positive.json / idx2negative.json; empty: the training split's folder",
      ),
      MEMORY_BANK_SIZE: int(
        -1,
        "rows of the contrastive memory bank; -1: the tables' largest idx + 1, or 23051 (the paper's) without tables",
      ),
      HCA_ALIGN_QUERY_ORDER: bool(
        false,
        "fix: apply the HCA re-ordering as matched (the original inverts it)",
      ),
    },
    VITA: {
      NHEADS: int(8),
      DROPOUT: float(0.0),
      DIM_FEEDFORWARD: int(2048),
      ENC_LAYERS: int(6, "clip-decoder encoder layers"),
      DEC_LAYERS: int(3, "clip-decoder decoder layers"),
      ENC_WINDOW_SIZE: int(0, "temporal window of the encoder; 0: all frames"),
      PRE_NORM: bool(false),
      HIDDEN_DIM: int(256),
      NUM_OBJECT_QUERIES: int(100, "clip-level queries"),
      ENFORCE_INPUT_PROJ: bool(true),
      NO_OBJECT_WEIGHT: float(0.1),
      DEEP_SUPERVISION: bool(true),
      LAST_LAYER_NUM: int(3, "frame-decoder layers whose queries feed the clip decoder in training"),
      MULTI_CLS_ON: bool(true),
      APPLY_CLS_THRES: float(0.01),
      SIM_USE_CLIP: bool(true),
      SIM_WEIGHT: float(0.5, "weight of the foreground-similarity loss"),
      FREEZE_DETECTOR: bool(false),
      FREEZE_TEXT_ENCODER: bool(true),
      TEST_RUN_CHUNK_SIZE: int(18, "frames per chunk through the frame-level model at inference"),
      TEST_INTERPOLATE_CHUNK_SIZE: int(5),
      TEST_OUTPUT_THRESHOLD: float(0.8, "queries scoring above it are merged into the output mask"),
    },
  },
};

/** The static type of the dshmp plugin's keys. */
export type DshmpKeys = ConfigOf<typeof dshmpDefaults>;

/** The static type of a config with core, mask2former and dshmp keys (what DsHmp factories read). */
export type DshmpConfig = CoreConfig & Mask2FormerConfig & DshmpKeys;

/**
 * DsHmp's text side before the encoder: the fixed-length token ids and attention mask of the dataset
 * mapper, and the static/motion decoupling maps (`proceesing_text_decoupling` in the original).
 *
 * Decoupling, as the original builds it: the sentence is tokenized again with `<s>`/`</s>` and
 * without truncation or padding, so map index `i` is token `i` of the padded ids (index 0 is `<s>`).
 * For each token other than `<s>`/`</s>`, the first tagged word whose span contains the token's span
 * decides: VERB or ADV -> motion, any other tag -> static. A token no word contains (RoBERTa's "Ġcan"
 * against spaCy's "ca" + "n't") is in neither map. Maps are float32 0/1 of length 40; a token at
 * index >= 40 is silently dropped. In training the first sample's sentence gives the maps for the whole
 * batch. Both flaws are the defaults; the options below fix them.
 *
 * Proposed config keys (defaults = the original): `MODEL.DSHMP.MAX_TEXT_TOKENS: 40`,
 * `MODEL.DSHMP.TEXT_PAD_ID: 0`, `MODEL.DSHMP.TEXT_TRUNCATION: "slice"`,
 * `MODEL.DSHMP.DECOUPLE_MAX_TOKENS: 40`, `MODEL.DSHMP.DECOUPLE_OVERFLOW: "drop"`,
 * `MODEL.DSHMP.PER_SAMPLE_DECOUPLING: False`.
 *
 * @example
 * ```ts
 * import { ByteLevelBpeTokenizer, buildSmallBpeTokenizer } from "../../../core/text/mod.ts";
 * import { decouplingMaps } from "./decoupling.ts";
 * const tok = ByteLevelBpeTokenizer.fromJson(buildSmallBpeTokenizer(["dog", "runs"]), "small");
 * const tagger = { tag: () => [{ text: "dog", start: 0, end: 3, pos: "NOUN" as const },
 *   { text: "runs", start: 4, end: 8, pos: "VERB" as const }] };
 * const maps = decouplingMaps("dog runs", tok, tagger);
 * [maps.static[1], maps.motion[2]]; // [1, 1]
 * ```
 * @module
 */
import type { PosTagger, TaggedWord } from "../../../core/text/pos_tagger.ts";
import type { Tokenizer, TruncationMode } from "../../../core/text/tokenizer.ts";

/** Options of {@link encodeSentence}. */
export interface SentenceEncodingOptions {
  /** Length of `lang_tokens` / `lang_mask` (`MODEL.DSHMP.MAX_TEXT_TOKENS`); the original: 40. */
  maxTokens?: number;
  /** Id written in padded positions (`MODEL.DSHMP.TEXT_PAD_ID`); the original: 0 (`<s>`, not `<pad>`). */
  padId?: number;
  /**
   * `"slice"` (the original: first `maxTokens` ids, so a long sentence loses its `</s>`) or
   * `"keep_special"` (keeps `</s>` last). Config key `MODEL.DSHMP.TEXT_TRUNCATION`.
   */
  truncation?: TruncationMode;
}

/** Options of {@link decouplingMaps}. */
export interface DecouplingOptions {
  /** Map length (`MODEL.DSHMP.DECOUPLE_MAX_TOKENS`); the original: 40, equal to `maxTokens`. */
  mapLength?: number;
  /**
   * What to do with a word token at an index >= `mapLength`: `"drop"` it silently (the original),
   * throw (`"error"`), or `"extend"` the maps to the token count (the text features must then be as
   * long). Config key `MODEL.DSHMP.DECOUPLE_OVERFLOW`.
   */
  overflow?: "drop" | "error" | "extend";
  /** Tags that make a token motion; the original: VERB and ADV. */
  motionTags?: readonly string[];
  /** Token strings left out of both maps; the original: `<s>` and `</s>`. */
  skipTokens?: readonly string[];
}

/** The defaults of the original DsHmp, under their proposed config names. */
export const DSHMP_TEXT_DEFAULTS = {
  MAX_TEXT_TOKENS: 40,
  TEXT_PAD_ID: 0,
  TEXT_TRUNCATION: "slice" as TruncationMode,
  DECOUPLE_MAX_TOKENS: 40,
  DECOUPLE_OVERFLOW: "drop" as const,
  PER_SAMPLE_DECOUPLING: false,
} as const;

/** `lang_tokens` and `lang_mask` of one sentence, as the dataset mapper builds them. */
export interface SentenceEncoding {
  ids: Int32Array;
  attentionMask: Int32Array;
}

/**
 * Encodes a sentence as the DsHmp dataset mapper does: `<s> ... </s>`, cut to `maxTokens`, padded
 * with `padId`; the mask is 1 on kept tokens.
 *
 * @example
 * ```ts
 * import { ByteLevelBpeTokenizer, buildSmallBpeTokenizer } from "../../../core/text/mod.ts";
 * import { encodeSentence } from "./decoupling.ts";
 * const tok = ByteLevelBpeTokenizer.fromJson(buildSmallBpeTokenizer(["dog"]), "small");
 * Array.from(encodeSentence(tok, "dog").ids.slice(0, 4)); // [0, <id of "dog">, 2, 0]
 * ```
 */
export function encodeSentence(
  tokenizer: Tokenizer,
  sentence: string,
  options: SentenceEncodingOptions = {},
): SentenceEncoding {
  const {
    maxTokens = DSHMP_TEXT_DEFAULTS.MAX_TEXT_TOKENS,
    padId = DSHMP_TEXT_DEFAULTS.TEXT_PAD_ID,
    truncation = DSHMP_TEXT_DEFAULTS.TEXT_TRUNCATION,
  } = options;
  const enc = tokenizer.encode(sentence, { maxLength: maxTokens, padTo: maxTokens, padId, truncation });
  return { ids: Int32Array.from(enc.ids), attentionMask: Int32Array.from(enc.attentionMask) };
}

/** Motion and static maps of one sentence (float32 0/1, as `torch.zeros(40)` then `= 1`). */
export interface DecouplingMaps {
  motion: Float32Array;
  static: Float32Array;
  /** Word tokens that fell past the map length and were dropped (`overflow: "drop"`). */
  dropped: number;
}

/** Builds the motion and static maps of `sentence` (see the module doc for the rules). */
export function decouplingMaps(
  sentence: string,
  tokenizer: Tokenizer,
  tagger: PosTagger,
  options: DecouplingOptions = {},
): DecouplingMaps {
  const {
    mapLength = DSHMP_TEXT_DEFAULTS.DECOUPLE_MAX_TOKENS,
    overflow = DSHMP_TEXT_DEFAULTS.DECOUPLE_OVERFLOW,
    motionTags = ["VERB", "ADV"],
    skipTokens = ["<s>", "</s>"],
  } = options;
  if (!["drop", "error", "extend"].includes(overflow)) {
    throw new RangeError(
      `DECOUPLE_OVERFLOW must be "drop", "error" or "extend", got ${JSON.stringify(overflow)}`,
    );
  }
  const words = tagger.tag(sentence);
  const enc = tokenizer.encode(sentence);
  const decided: (TaggedWord | undefined)[] = enc.tokens.map((token, i) => {
    if (skipTokens.includes(token)) return undefined;
    const [start, end] = enc.offsets[i];
    return words.find((w) => w.start <= start && w.end >= end);
  });
  const length = overflow === "extend" ? Math.max(mapLength, enc.ids.length) : mapLength;
  const motion = new Float32Array(length);
  const stat = new Float32Array(length);
  let dropped = 0;
  decided.forEach((word, i) => {
    if (!word) return;
    if (i >= length) {
      if (overflow === "error") {
        throw new RangeError(
          `decoupling: ${
            JSON.stringify(sentence)
          } has a word token at index ${i}, past DECOUPLE_MAX_TOKENS ` +
            `${length} (raise it, or set DECOUPLE_OVERFLOW to "drop" or "extend")`,
        );
      }
      dropped++;
      return;
    }
    (motionTags.includes(word.pos) ? motion : stat)[i] = 1;
  });
  return { motion, static: stat, dropped };
}

/** Options of {@link batchDecouplingMaps}. */
export interface BatchDecouplingOptions extends DecouplingOptions {
  /**
   * One pair of maps per sentence (`MODEL.DSHMP.PER_SAMPLE_DECOUPLING: True`). Default false: the
   * original's training step builds the maps from the first sentence only and uses them for the batch.
   */
  perSample?: boolean;
}

/**
 * Maps for a batch: one entry (from `sentences[0]`) by default, one per sentence with `perSample`.
 * (The original indexes `[B, 40, C]` features with a `[1, 40]` map, which only works for B = 1.)
 */
export function batchDecouplingMaps(
  sentences: readonly string[],
  tokenizer: Tokenizer,
  tagger: PosTagger,
  options: BatchDecouplingOptions = {},
): DecouplingMaps[] {
  if (sentences.length === 0) throw new RangeError("batchDecouplingMaps: empty batch");
  const { perSample = DSHMP_TEXT_DEFAULTS.PER_SAMPLE_DECOUPLING, ...rest } = options;
  const used = perSample ? sentences : sentences.slice(0, 1);
  return used.map((s) => decouplingMaps(s, tokenizer, tagger, rest));
}

/**
 * The text side of a DsHmp run from the config: the tokenizer of `MODEL.DSHMP.TEXT_ENCODER_PATH`
 * (`tokenizer.json`), the part-of-speech tagger (`POS_TAGGER`, `TAGGER_MOTION_FIXES`), the sentence
 * encoding options the data mappers use (`MAX_TEXT_TOKENS`, `TEXT_PAD_ID`, `TEXT_TRUNCATION`) and the
 * static/motion decoupling the model uses (`DECOUPLE_MAX_TOKENS`, `DECOUPLE_OVERFLOW`).
 *
 * @example
 * ```ts ignore
 * const text = await loadDshmpText(cfg);
 * text.decouple("a dog running left").motion; // Float32Array(40)
 * ```
 * @module
 */
import { loadHfTokenizer } from "../../../core/text/hf_tokenizer.ts";
import type { Tokenizer } from "../../../core/text/tokenizer.ts";
import type { PosTagger } from "../../../core/text/pos_tagger.ts";
import type { DshmpConfig } from "../config.ts";
import { decouplingMaps, type DecouplingOptions, type SentenceEncodingOptions } from "../text/decoupling.ts";
import { loadWinkTagger } from "../text/wink_tagger.ts";
import type { TokenMaps } from "../text_encoder/text_features.ts";

/** What {@link loadDshmpText} returns. */
export interface DshmpText {
  tokenizer: Tokenizer;
  tagger: PosTagger;
  /** The mappers' `text` option. */
  encoding: SentenceEncodingOptions;
  decoupling: DecouplingOptions;
  /** The original's `proceesing_text_decoupling`: a sentence's motion and static maps. */
  decouple(sentence: string): TokenMaps;
}

/** The sentence encoding options of the config. */
export function sentenceEncodingFromConfig(cfg: DshmpConfig): SentenceEncodingOptions {
  const d = cfg.MODEL.DSHMP;
  return {
    maxTokens: d.MAX_TEXT_TOKENS,
    padId: d.TEXT_PAD_ID,
    truncation: d.TEXT_TRUNCATION as SentenceEncodingOptions["truncation"],
  };
}

/** Loads the tokenizer and tagger named by the config (see the module doc). */
export async function loadDshmpText(cfg: DshmpConfig): Promise<DshmpText> {
  const d = cfg.MODEL.DSHMP;
  if (!d.TEXT_ENCODER_PATH) {
    throw new Error(
      "MODEL.DSHMP.TEXT_ENCODER_PATH is empty: DsHmp needs the RoBERTa tokenizer (tokenizer.json) of a " +
        "local Hugging Face roberta-base folder; set it to that folder",
    );
  }
  const tokenizer = await loadHfTokenizer(d.TEXT_ENCODER_PATH);
  const tagger = await loadWinkTagger({ motionFixes: d.TAGGER_MOTION_FIXES });
  const decoupling: DecouplingOptions = {
    mapLength: d.DECOUPLE_MAX_TOKENS,
    overflow: d.DECOUPLE_OVERFLOW as DecouplingOptions["overflow"],
  };
  return {
    tokenizer,
    tagger,
    encoding: sentenceEncodingFromConfig(cfg),
    decoupling,
    decouple(sentence) {
      const m = decouplingMaps(sentence, tokenizer, tagger, decoupling);
      return { motion: m.motion, static: m.static };
    },
  };
}

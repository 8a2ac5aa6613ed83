/**
 * DsHmp's text pathway without the encoder: the wink-nlp part-of-speech tagger (spaCy stand-in), the
 * dataset mapper's fixed-length token ids, the static/motion decoupling maps, and tagger agreement.
 *
 * @example
 * ```ts
 * import { loadHfTokenizer } from "../../../core/text/mod.ts";
 * import { decouplingMaps, encodeSentence, loadWinkTagger } from "./mod.ts";
 * const tokenizer = await loadHfTokenizer("/models/roberta-base");
 * const tagger = await loadWinkTagger();
 * const { ids, attentionMask } = encodeSentence(tokenizer, "bird flying away"); // 40 ids, padded with 0
 * const { motion, static: stat } = decouplingMaps("bird flying away", tokenizer, tagger);
 * ```
 * @module
 */
export { applyMotionFixes, loadWinkTagger, WinkPosTagger } from "./wink_tagger.ts";
export type { WinkTaggerOptions } from "./wink_tagger.ts";
export { batchDecouplingMaps, decouplingMaps, DSHMP_TEXT_DEFAULTS, encodeSentence } from "./decoupling.ts";
export type {
  BatchDecouplingOptions,
  DecouplingMaps,
  DecouplingOptions,
  SentenceEncoding,
  SentenceEncodingOptions,
} from "./decoupling.ts";
export { tagAgreement } from "./agreement.ts";
export type { TagAgreement } from "./agreement.ts";

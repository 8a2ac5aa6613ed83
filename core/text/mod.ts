/**
 * Text contracts and the Hugging Face byte-level BPE tokenizer: {@link Tokenizer} (ids, UTF-16
 * character offsets, attention mask), {@link PosTagger} (words with spans and Universal POS tags),
 * {@link loadHfTokenizer} for a `tokenizer.json` such as RoBERTa's, and
 * {@link buildSmallBpeTokenizer} for a small tokenizer made from a word list.
 *
 * @example
 * ```ts
 * import { buildSmallBpeTokenizer, ByteLevelBpeTokenizer } from "./mod.ts";
 * const tok = ByteLevelBpeTokenizer.fromJson(buildSmallBpeTokenizer(["a", "dog"]), "small");
 * tok.encode("a dog", { maxLength: 40, padTo: 40, padId: 0 }).attentionMask.slice(0, 5); // [1, 1, 1, 1, 0]
 * ```
 * @module
 */
export * from "./tokenizer.ts";
export * from "./pos_tagger.ts";
export {
  byteLevelPieces,
  bytesToUnicode,
  GPT2_SPLIT,
  trimByteLevelOffsets,
  unicodeToBytes,
} from "./byte_level.ts";
export type { ByteLevelOptions, BytePiece } from "./byte_level.ts";
export { ByteLevelBpeTokenizer, loadHfTokenizer, TokenizerFileError } from "./hf_tokenizer.ts";
export { buildSmallBpeTokenizer, SMALL_BPE_SPECIALS } from "./small_bpe.ts";

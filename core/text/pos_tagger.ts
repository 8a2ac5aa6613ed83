/**
 * The part-of-speech contract: a sentence in, its words with character spans and Universal
 * Dependencies POS tags out (the tag set spaCy's `token.pos_` uses).
 *
 * @example
 * ```ts
 * import { isUniversalPosTag, type PosTagger } from "./pos_tagger.ts";
 * const fixed: PosTagger = { tag: (t) => [{ text: t, start: 0, end: t.length, pos: "NOUN" }] };
 * fixed.tag("dog")[0].pos; // "NOUN"
 * isUniversalPosTag("VERB"); // true
 * ```
 * @module
 */

/** The 17 Universal Dependencies tags plus spaCy's `SPACE` for whitespace tokens. */
export const UNIVERSAL_POS_TAGS = [
  "ADJ",
  "ADP",
  "ADV",
  "AUX",
  "CCONJ",
  "DET",
  "INTJ",
  "NOUN",
  "NUM",
  "PART",
  "PRON",
  "PROPN",
  "PUNCT",
  "SCONJ",
  "SYM",
  "VERB",
  "X",
  "SPACE",
] as const;

/** One of {@link UNIVERSAL_POS_TAGS}. */
export type UniversalPosTag = typeof UNIVERSAL_POS_TAGS[number];

/** True when `tag` is one of {@link UNIVERSAL_POS_TAGS}. */
export function isUniversalPosTag(tag: string): tag is UniversalPosTag {
  return (UNIVERSAL_POS_TAGS as readonly string[]).includes(tag);
}

/** A word of the tagged sentence: `text === sentence.slice(start, end)` (UTF-16 positions). */
export interface TaggedWord {
  text: string;
  start: number;
  end: number;
  pos: UniversalPosTag;
}

/** Splits a sentence into words and tags each one. */
export interface PosTagger {
  tag(text: string): TaggedWord[];
}

/**
 * Agreement between two taggings of the same sentence, used to measure the wink tagger against
 * spaCy reference tags.
 *
 * @example
 * ```ts
 * import { tagAgreement } from "./agreement.ts";
 * const ref = [{ text: "left", start: 7, end: 11, pos: "NOUN" as const }];
 * const got = [{ text: "left", start: 7, end: 11, pos: "VERB" as const }];
 * tagAgreement(ref, got); // { words: 1, sameSpan: 1, sameTag: 0, sameClass: 0, differences: [...] }
 * ```
 * @module
 */
import type { TaggedWord } from "../../../core/text/pos_tagger.ts";

/** Counts over the reference's non-whitespace words. */
export interface TagAgreement {
  /** Reference words compared (SPACE words left out). */
  words: number;
  /** Words the candidate tokenizes with exactly the same span. */
  sameSpan: number;
  /** Same span and same tag. */
  sameTag: number;
  /**
   * Same motion/static class: the candidate word containing the reference word's span (the way
   * decoupling looks a token up) is motion exactly when the reference word is.
   */
  sameClass: number;
  /** One line per differing word: `text: REF -> CANDIDATE`. */
  differences: string[];
}

/**
 * Compares `candidate` with `reference` word by word.
 * `motionTags` decides the class (DsHmp: VERB and ADV).
 */
export function tagAgreement(
  reference: readonly TaggedWord[],
  candidate: readonly TaggedWord[],
  motionTags: readonly string[] = ["VERB", "ADV"],
): TagAgreement {
  const out: TagAgreement = { words: 0, sameSpan: 0, sameTag: 0, sameClass: 0, differences: [] };
  for (const r of reference) {
    if (r.pos === "SPACE") continue;
    out.words++;
    const exact = candidate.find((c) => c.start === r.start && c.end === r.end);
    const covering = exact ?? candidate.find((c) => c.start <= r.start && c.end >= r.end);
    if (exact) out.sameSpan++;
    if (exact?.pos === r.pos) out.sameTag++;
    if (covering && motionTags.includes(covering.pos) === motionTags.includes(r.pos)) out.sameClass++;
    if (exact?.pos !== r.pos) {
      out.differences.push(
        `${r.text}: ${r.pos} -> ${
          covering ? `${covering.pos}${exact ? "" : ` ("${covering.text}")`}` : "none"
        }`,
      );
    }
  }
  return out;
}

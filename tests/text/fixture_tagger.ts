/**
 * Reads `tests/fixtures/text/mevis_style_expressions.json` and turns its spaCy reference tags into
 * {@link TaggedWord}s and a {@link PosTagger}, so decoupling can be checked against spaCy's tags.
 * @module
 */
import { isUniversalPosTag, type PosTagger, type TaggedWord } from "../../core/text/pos_tagger.ts";

/** One expression of the fixture. */
export interface Expression {
  text: string;
  /** spaCy tokens as `token/TAG`, space separated. */
  spacy: string;
  uncertain: string[];
  motion: string[];
  static: string[];
}

export const FIXTURE_PATH =
  new URL("../fixtures/text/mevis_style_expressions.json", import.meta.url).pathname;

/** Loads the expressions. */
export async function loadExpressions(): Promise<Expression[]> {
  return JSON.parse(await Deno.readTextFile(FIXTURE_PATH)).expressions;
}

/** The reference words of an expression, located in its text in order (throws if one is missing). */
export function referenceWords(e: Expression): TaggedWord[] {
  let cursor = 0;
  return e.spacy.split(" ").map((pair) => {
    const cut = pair.lastIndexOf("/");
    const text = pair.slice(0, cut), pos = pair.slice(cut + 1);
    const start = e.text.indexOf(text, cursor);
    if (start < 0 || e.text.slice(cursor, start).trim() !== "" || !isUniversalPosTag(pos)) {
      throw new Error(
        `${FIXTURE_PATH}: "${pair}" does not follow position ${cursor} of ${JSON.stringify(e.text)}`,
      );
    }
    cursor = start + text.length;
    return { text, start, end: cursor, pos };
  });
}

/** A tagger answering with the fixture's spaCy tags for the fixture's sentences. */
export function referenceTagger(expressions: readonly Expression[]): PosTagger {
  const byText = new Map(expressions.map((e) => [e.text, referenceWords(e)]));
  return {
    tag(text: string): TaggedWord[] {
      const words = byText.get(text);
      if (!words) throw new Error(`no reference tags for ${JSON.stringify(text)}`);
      return words;
    },
  };
}

/**
 * Part-of-speech tagging with wink-nlp and its `wink-eng-lite-web-model`, standing in for the
 * original's spaCy `en_core_web_sm` (which needs Python). The model is loaded once, on first use.
 *
 * Words carry UTF-16 character spans: wink gives no offsets, so they are rebuilt from each token's
 * preceding spaces and length, and checked against the text. Whitespace is laid out as spaCy does it
 * (a single space after a word belongs to that word; any other run of whitespace is a `SPACE` word),
 * which matters for the lone "Ġ" tokens RoBERTa makes of repeated spaces.
 *
 * @example
 * ```ts
 * import { loadWinkTagger } from "./wink_tagger.ts";
 * const tagger = await loadWinkTagger();
 * tagger.tag("a dog jumping").map((w) => `${w.text}/${w.pos}`); // ["a/DET", "dog/NOUN", "jumping/VERB"]
 * ```
 * @module
 */
import { isUniversalPosTag, type PosTagger, type TaggedWord } from "../../../core/text/pos_tagger.ts";

/** Options of {@link loadWinkTagger}. */
export interface WinkTaggerOptions {
  /**
   * Re-tag a few systematic wink/spaCy differences on motion words (see {@link applyMotionFixes}).
   * Default false: the tags are wink's own. Config key `MODEL.DSHMP.TAGGER_MOTION_FIXES`.
   */
  motionFixes?: boolean;
}

interface WinkToken {
  out(f: unknown): unknown;
}
interface WinkRuntime {
  readDoc(text: string): { tokens(): { each(cb: (t: WinkToken) => void): void } };
  its: { value: unknown; pos: unknown; precedingSpaces: unknown };
}

let runtime: Promise<WinkRuntime> | undefined;

/** Imports wink-nlp and its English model on first call; later calls share the same instance. */
function winkRuntime(): Promise<WinkRuntime> {
  runtime ??= (async () => {
    const [{ default: winkNLP }, { default: model }] = await Promise.all([
      import("wink-nlp"),
      import("wink-eng-lite-web-model"),
    ]);
    const nlp = winkNLP(model);
    return { readDoc: (t: string) => nlp.readDoc(t), its: nlp.its } as unknown as WinkRuntime;
  })();
  return runtime;
}

/** A {@link PosTagger} over wink-nlp; build it with {@link loadWinkTagger}. */
export class WinkPosTagger implements PosTagger {
  constructor(readonly runtime: WinkRuntime, readonly options: WinkTaggerOptions = {}) {}

  tag(text: string): TaggedWord[] {
    const { its } = this.runtime;
    const words: TaggedWord[] = [];
    let cursor = 0;
    this.runtime.readDoc(text).tokens().each((t) => {
      const value = String(t.out(its.value));
      const pos = String(t.out(its.pos));
      cursor += String(t.out(its.precedingSpaces) ?? "").length;
      let start = cursor;
      if (text.slice(start, start + value.length) !== value) {
        // Defensive: should wink ever normalise a token, find it further on instead of drifting.
        start = text.indexOf(value, cursor);
        if (start < 0) {
          throw new Error(`wink tagger: token ${JSON.stringify(value)} not found in ${JSON.stringify(text)}`);
        }
      }
      cursor = start + value.length;
      if (!isUniversalPosTag(pos)) {
        throw new Error(`wink tagger: unexpected tag ${JSON.stringify(pos)} for ${JSON.stringify(value)}`);
      }
      // wink's own whitespace tokens (tabs, newlines) are replaced by spaCy's layout below.
      if (pos !== "SPACE" && value.trim() !== "") words.push({ text: value, start, end: cursor, pos });
    });
    const out = withSpacyWhitespace(text, words);
    return this.options.motionFixes ? applyMotionFixes(out) : out;
  }
}

/**
 * Adds spaCy's whitespace words: in each gap between words, a single leading " " after a word is
 * that word's trailing space and anything left becomes one `SPACE` word (leading whitespace of the
 * text always does).
 */
function withSpacyWhitespace(text: string, words: TaggedWord[]): TaggedWord[] {
  const out: TaggedWord[] = [];
  let prevEnd = 0;
  const gap = (from: number, to: number, afterWord: boolean) => {
    if (afterWord && text[from] === " ") from++;
    if (from < to && text.slice(from, to).trim() === "") {
      out.push({ text: text.slice(from, to), start: from, end: to, pos: "SPACE" });
    }
  };
  for (const w of words) {
    gap(prevEnd, w.start, out.length > 0);
    out.push(w);
    prevEnd = w.end;
  }
  gap(prevEnd, text.length, out.length > 0);
  return out;
}

const SIDE_WORDS = new Set(["left", "right"]);
const POSSESSIVES = new Set(["its", "his", "her", "their", "my", "your", "our"]);
const RELATIVE_PRONOUNS = new Set(["who", "which"]);

/**
 * Rules for wink's systematic differences from spaCy on motion words, found on
 * `tests/fixtures/text/mevis_style_expressions.json` (see the README for the measured effect):
 * - "left"/"right" tagged VERB after a determiner, possessive, preposition or "to" ("to the left",
 *   "from left to right") are nouns;
 * - a word ending in "-ing" tagged NOUN or ADJ right after a noun or pronoun ("bear standing",
 *   "fish swimming") is a participle: VERB;
 * - a word tagged NOUN right after "who"/"which" ("who rides", "which bends") is the relative
 *   clause's verb: VERB.
 *
 * @example
 * ```ts
 * import { applyMotionFixes } from "./wink_tagger.ts";
 * applyMotionFixes([{ text: "the", start: 0, end: 3, pos: "DET" }, { text: "left", start: 4, end: 8, pos: "VERB" }])
 *   .map((w) => w.pos); // ["DET", "NOUN"]
 * ```
 */
export function applyMotionFixes(words: readonly TaggedWord[]): TaggedWord[] {
  const content = words.filter((w) => w.pos !== "SPACE");
  const fixed = new Map<TaggedWord, TaggedWord>();
  content.forEach((w, i) => {
    const prev = content[i - 1];
    if (!prev) return;
    const lower = w.text.toLowerCase();
    const afterDetOrPrep = ["DET", "ADP", "PART"].includes(prev.pos) ||
      POSSESSIVES.has(prev.text.toLowerCase());
    if (SIDE_WORDS.has(lower) && w.pos === "VERB" && afterDetOrPrep) {
      fixed.set(w, { ...w, pos: "NOUN" });
    } else if (
      /[a-z]ing$/.test(lower) && (w.pos === "NOUN" || w.pos === "ADJ") &&
      ["NOUN", "PROPN", "PRON"].includes(prev.pos)
    ) {
      fixed.set(w, { ...w, pos: "VERB" });
    } else if (w.pos === "NOUN" && RELATIVE_PRONOUNS.has(prev.text.toLowerCase())) {
      fixed.set(w, { ...w, pos: "VERB" });
    }
  });
  return words.map((w) => fixed.get(w) ?? w);
}

/**
 * Loads the wink tagger (the model is imported once per process, on the first call).
 *
 * @example
 * ```ts
 * import { loadWinkTagger } from "./wink_tagger.ts";
 * const fixed = await loadWinkTagger({ motionFixes: true });
 * fixed.tag("moving to the left").at(-1)?.pos; // "NOUN"
 * ```
 */
export async function loadWinkTagger(options: WinkTaggerOptions = {}): Promise<WinkPosTagger> {
  return new WinkPosTagger(await winkRuntime(), options);
}

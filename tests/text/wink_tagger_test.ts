// The wink-nlp adapter: character spans rebuilt from wink's tokens, spaCy's whitespace layout,
// one model load, and the optional motion-word fixes.
import { assertEquals } from "../assert.ts";
import { applyMotionFixes, loadWinkTagger } from "../../plugins/dshmp/text/mod.ts";
import type { TaggedWord } from "../../core/text/pos_tagger.ts";

// Spans, and which words are whitespace (the tags of the real words are wink's business here).
const show = (ws: TaggedWord[]) =>
  ws.map((w) => `${w.text}@${w.start}-${w.end}${w.pos === "SPACE" ? "/SPACE" : ""}`);

Deno.test("wink tagger: spans index the text (UTF-16, emoji), contractions split as spaCy does", async () => {
  const t = await loadWinkTagger();
  const text = "The bird 😀 can't fly to café";
  const words = t.tag(text);
  for (const w of words) assertEquals(text.slice(w.start, w.end), w.text);
  assertEquals(words.map((w) => w.text), ["The", "bird", "😀", "ca", "n't", "fly", "to", "café"]);
  assertEquals(words[2].end - words[2].start, 2); // a surrogate pair
  assertEquals(words.slice(0, 2).map((w) => w.pos), ["DET", "NOUN"]);
  assertEquals(words[5].pos, "VERB");
});

Deno.test("wink tagger: whitespace words laid out like spaCy's tokenizer", async () => {
  const t = await loadWinkTagger();
  // Leading run: one SPACE word; a single space after a word: nothing; the rest of a run, a tab or
  // newline: one SPACE word; one trailing space: nothing, two: a SPACE word of one.
  assertEquals(show(t.tag("  dog \tjumps  high ")), [
    "  @0-2/SPACE",
    "dog@2-5",
    "\t@6-7/SPACE",
    "jumps@7-12",
    " @13-14/SPACE",
    "high@14-18",
  ]);
  assertEquals(show(t.tag("dog\njumps  ")).slice(1), ["\n@3-4/SPACE", "jumps@4-9", " @10-11/SPACE"]);
  assertEquals(t.tag(""), []);
});

Deno.test("wink tagger: loads the model once; later loads are quick and share it", async () => {
  const first = await loadWinkTagger();
  const t0 = performance.now();
  const again = await loadWinkTagger({ motionFixes: true });
  assertEquals(performance.now() - t0 < 50, true);
  assertEquals(again.runtime, first.runtime);
});

Deno.test("motion fixes: left/right after a determiner or preposition, -ing after a noun, verb after who/which", async () => {
  const plain = await loadWinkTagger();
  const fixed = await loadWinkTagger({ motionFixes: true });
  const pos = (tagger: typeof plain, s: string, word: string) =>
    tagger.tag(s).find((w) => w.text === word)?.pos;
  // What wink itself says (measured), then the fix.
  assertEquals([pos(plain, "Moving to the left", "left"), pos(fixed, "Moving to the left", "left")], [
    "VERB",
    "NOUN",
  ]);
  assertEquals(
    [pos(plain, "bear standing still", "standing"), pos(fixed, "bear standing still", "standing")],
    [
      "NOUN",
      "VERB",
    ],
  );
  const kid = "the kid who rides the bicycle";
  assertEquals([pos(plain, kid, "rides"), pos(fixed, kid, "rides")], ["NOUN", "VERB"]);
  // Left alone: "left" as the verb after "who", and words that are already right.
  const w: TaggedWord[] = [
    { text: "who", start: 0, end: 3, pos: "PRON" },
    { text: "left", start: 4, end: 8, pos: "VERB" },
    { text: "the", start: 9, end: 12, pos: "DET" },
    { text: "building", start: 13, end: 21, pos: "NOUN" },
  ];
  assertEquals(applyMotionFixes(w), w);
});

// Static/motion decoupling and the mapper's 40-token encoding, on sentences worked out by hand.
import { assertEquals, assertThrows } from "../assert.ts";
import { buildSmallBpeTokenizer, ByteLevelBpeTokenizer, loadHfTokenizer } from "../../core/text/mod.ts";
import type { PosTagger, TaggedWord } from "../../core/text/pos_tagger.ts";
import {
  batchDecouplingMaps,
  decouplingMaps,
  encodeSentence,
  loadWinkTagger,
} from "../../plugins/dshmp/text/mod.ts";
import { loadExpressions, referenceTagger, referenceWords } from "./fixture_tagger.ts";

const tiny = await loadHfTokenizer(new URL("../fixtures/text/tiny_tokenizer.json", import.meta.url).pathname);
const expressions = await loadExpressions();
const spacy = referenceTagger(expressions);
// Every fixture word is one token (RoBERTa splits these common words the same way), plus "can"/"'t"
// so "can't" splits as RoBERTa's "Ġcan" + "'t".
const words = [...new Set(expressions.flatMap((e) => referenceWords(e).map((w) => w.text)))];
const small = ByteLevelBpeTokenizer.fromJson(buildSmallBpeTokenizer([...words, "can", "'t"]), "small");
const LONG = expressions.find((e) => e.text.startsWith("the man in the black shirt"))!.text;

const indices = (m: Float32Array) => [...m.keys()].filter((i) => m[i] === 1);

Deno.test("decoupling: word pieces follow their word; <s>, </s> and padding positions stay 0", () => {
  // <s> the Ġdog Ġjump ing </s>: "jumping" is VERB, so both of its pieces are motion.
  const tags: PosTagger = {
    tag: (): TaggedWord[] => [
      { text: "the", start: 0, end: 3, pos: "DET" },
      { text: "dog", start: 4, end: 7, pos: "NOUN" },
      { text: "jumping", start: 8, end: 15, pos: "VERB" },
    ],
  };
  const maps = decouplingMaps("the dog jumping", tiny, tags);
  assertEquals(maps.motion instanceof Float32Array, true);
  assertEquals([maps.motion.length, maps.static.length], [40, 40]);
  assertEquals(indices(maps.static), [1, 2]);
  assertEquals(indices(maps.motion), [3, 4]);
  assertEquals(maps.dropped, 0);
  // ADV counts as motion too; the motion tag set is an option.
  const adv = decouplingMaps("the dog jumping", tiny, tags, { motionTags: ["NOUN"] });
  assertEquals([indices(adv.motion), indices(adv.static)], [[2], [1, 3, 4]]);
});

Deno.test("decoupling: repeated spaces give a lone Ġ token that spaCy's SPACE word makes static (wink)", async () => {
  // <s> a Ġ(2,2) Ġdog(3,6) .(6,7) </s>; words a(0,1) SPACE(2,3) dog(3,6) .(6,7).
  const wink = await loadWinkTagger();
  assertEquals(wink.tag("a  dog.").map((w) => [w.text, w.start, w.end, w.pos]), [
    ["a", 0, 1, "DET"],
    [" ", 2, 3, "SPACE"],
    ["dog", 3, 6, "NOUN"],
    [".", 6, 7, "PUNCT"],
  ]);
  const maps = decouplingMaps("a  dog.", tiny, wink);
  assertEquals([indices(maps.static), indices(maps.motion)], [[1, 2, 3, 4], []]);
});

Deno.test("decoupling: a token no spaCy word contains (Ġcan vs ca + n't) is in neither map", () => {
  const s = "the dog that can't stop barking";
  const enc = small.encode(s);
  assertEquals(enc.tokens, ["<s>", "the", "Ġdog", "Ġthat", "Ġcan", "'t", "Ġstop", "Ġbarking", "</s>"]);
  const maps = decouplingMaps(s, small, spacy);
  assertEquals(indices(maps.static), [1, 2, 3, 5]);
  assertEquals(indices(maps.motion), [6, 7]);
});

Deno.test("decoupling: a 46-word sentence loses tokens 40..46 silently; 'error' and 'extend' options", () => {
  const enc = small.encode(LONG);
  assertEquals(enc.ids.length, 48); // <s> + 46 words and commas + </s>
  const maps = decouplingMaps(LONG, small, spacy);
  // Motion: walks slowly (8, 9), then turns around (22-24), picks (26), carries (36), back (38).
  assertEquals(indices(maps.motion), [8, 9, 22, 23, 24, 26, 36, 38]);
  const expectedStatic = Array.from({ length: 39 }, (_, i) => i + 1).filter((i) =>
    !indices(maps.motion).includes(i)
  );
  assertEquals(indices(maps.static), expectedStatic);
  assertEquals(maps.dropped, 7); // "the old wooden table near the door"
  assertThrows(() => decouplingMaps(LONG, small, spacy, { overflow: "error" }), "word token at index 40");
  const ext = decouplingMaps(LONG, small, spacy, { overflow: "extend" });
  assertEquals(ext.motion.length, 48);
  assertEquals(indices(ext.static).slice(-7), [40, 41, 42, 43, 44, 45, 46]);
  assertEquals(ext.static[47], 0); // </s>
  assertEquals(ext.dropped, 0);
  assertEquals(decouplingMaps(LONG, small, spacy, { mapLength: 64 }).motion.length, 64);
});

Deno.test("encodeSentence: 40 ids padded with 0, sliced without </s> unless keep_special", () => {
  const short = encodeSentence(small, "the swimming dog");
  assertEquals(short.ids.length, 40);
  assertEquals(Array.from(short.ids.slice(0, 6)), [
    0,
    small.tokenToId("the"),
    small.tokenToId("Ġswimming"),
    small.tokenToId("Ġdog"),
    2,
    0,
  ]);
  assertEquals(Array.from(short.attentionMask.slice(0, 6)), [1, 1, 1, 1, 1, 0]);
  const long = encodeSentence(small, LONG);
  assertEquals(long.ids[39], small.tokenToId("Ġto")); // word 39 ("to"), no </s>
  assertEquals(long.attentionMask.reduce((a, b) => a + b, 0), 40);
  assertEquals(encodeSentence(small, LONG, { truncation: "keep_special" }).ids[39], 2);
  assertEquals(
    encodeSentence(small, "the dog", { maxTokens: 8, padId: 1 }).ids,
    Int32Array.from([0, small.tokenToId("the")!, small.tokenToId("Ġdog")!, 2, 1, 1, 1, 1]),
  );
});

Deno.test("batch maps: the first sentence drives the batch unless per-sample", () => {
  const batch = ["the moving car", "the swimming dog", "rabbit eating grass"];
  const shared = batchDecouplingMaps(batch, small, spacy);
  assertEquals(shared.length, 1);
  assertEquals(shared[0], decouplingMaps(batch[0], small, spacy));
  const per = batchDecouplingMaps(batch, small, spacy, { perSample: true });
  assertEquals(per.length, 3);
  assertEquals(indices(per[2].motion), [2]); // "eating"
  assertEquals(indices(per[0].motion), [2]); // "moving" (VERB in the reference)
  assertThrows(() => batchDecouplingMaps([], small, spacy), "empty batch");
});

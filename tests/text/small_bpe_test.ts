// The small tokenizer built from a word list (tiny CPU configuration): whole listed words, byte
// fallback for anything else, and the same file format as RoBERTa's.
import { assertEquals, assertThrows } from "../assert.ts";
import { buildSmallBpeTokenizer, ByteLevelBpeTokenizer, SMALL_BPE_SPECIALS } from "../../core/text/mod.ts";

const json = buildSmallBpeTokenizer(["dog", "runs", "jumping", "jump"]);
const tok = ByteLevelBpeTokenizer.fromJson(JSON.parse(JSON.stringify(json)), "small");

Deno.test("small BPE: RoBERTa's special ids, the 256 bytes, one token per merge", () => {
  assertEquals(SMALL_BPE_SPECIALS.map((s) => tok.tokenToId(s)), [0, 1, 2, 3]);
  assertEquals([tok.tokenToId("Ġ"), tok.tokenToId("Ċ")], [4 + 0x20, 4 + 0x0a]);
  // dog: d-o, do-g (2), Ġdog: Ġ-d, Ġd-o, Ġdo-g (3); runs 3 + 4; jumping 6 + 7;
  // "jump" and "Ġjump" are prefixes of the "jumping" chains: nothing new.
  assertEquals(tok.vocabSize, 4 + 256 + 2 + 3 + 3 + 4 + 6 + 7);
  assertEquals(tok.padId, 1);
});

Deno.test("small BPE: listed words are one token anywhere; other words fall back to pieces", () => {
  const enc = tok.encode("dog runs jumping jump");
  assertEquals(enc.tokens, ["<s>", "dog", "Ġruns", "Ġjumping", "Ġjump", "</s>"]);
  assertEquals(enc.offsets, [[0, 0], [0, 3], [4, 8], [9, 16], [17, 21], [0, 0]]);
  // "dogs" is not listed: the merges make "dog", the "s" stays a byte token.
  const dogs = tok.encode("dogs!");
  assertEquals(dogs.tokens, ["<s>", "dog", "s", "!", "</s>"]);
  assertEquals(dogs.offsets.slice(1, 4), [[0, 3], [3, 4], [4, 5]]);
  assertEquals(tok.encode("über").ids.length, 2 + 5); // ü is two bytes
});

Deno.test("small BPE: a word with whitespace is refused", () => {
  assertThrows(() => buildSmallBpeTokenizer(["two words"]), 'word "two words"');
  assertThrows(() => buildSmallBpeTokenizer([""]), "is empty");
});

// Byte-level BPE tokenizer against ids and offsets worked out by hand on
// tests/fixtures/text/tiny_tokenizer.json (the derivations are in the comments).
import { assertEquals, assertThrows } from "../assert.ts";
import {
  ByteLevelBpeTokenizer,
  bytesToUnicode,
  loadHfTokenizer,
  TokenizerFileError,
  unicodeToBytes,
} from "../../core/text/mod.ts";

const FIXTURE = new URL("../fixtures/text/tiny_tokenizer.json", import.meta.url).pathname;
const tiny = await loadHfTokenizer(FIXTURE);
const tinyJson = JSON.parse(await Deno.readTextFile(FIXTURE));

Deno.test("bytesToUnicode: GPT-2's table (space Ġ, newline Ċ, printable bytes unchanged)", () => {
  const t = bytesToUnicode();
  assertEquals(t.length, 256);
  assertEquals(new Set(t).size, 256);
  assertEquals([t[0x20], t[0x0a], t[0x21], t[0xc3], t[0x80], t[0x98], t[0x9f], t[0xad]], [
    "Ġ",
    "Ċ",
    "!",
    "Ã",
    "Ģ",
    "ĺ",
    "Ł",
    "Ń",
  ]);
  assertEquals(unicodeToBytes().get("Ġ"), 0x20);
});

Deno.test("encode: BPE by merge rank, a word split into two pieces, offsets trimmed of the leading space", () => {
  // "the": t h -> th (rank 9), th e -> the (10). "Ġdog": Ġd (0), og (1), Ġdog (2).
  // "Ġjumping": in (3), ing (4), ju (5), Ġju (6), mp (7), Ġjump (8) -> "Ġjump" + "ing".
  const enc = tiny.encode("the dog jumping");
  assertEquals(enc.tokens, ["<s>", "the", "Ġdog", "Ġjump", "ing", "</s>"]);
  assertEquals(enc.ids, [0, 40, 32, 38, 34, 2]);
  assertEquals(enc.offsets, [[0, 0], [0, 3], [4, 7], [8, 12], [12, 15], [0, 0]]);
  assertEquals(enc.attentionMask, [1, 1, 1, 1, 1, 1]);
  assertEquals(enc.specialTokensMask, [1, 0, 0, 0, 0, 1]);
});

Deno.test("encode: leading space, é (two bytes) and an emoji (four bytes, a surrogate pair)", () => {
  // " café" is one pre-token "ĠcafÃ©": Ã© (12), ca (15), fÃ© (16) -> Ġ | ca | fÃ©; the lone Ġ (0,1)
  // trims to (1,1). " 😀" is "ĠðŁĺĢ": ðŁ (13), ðŁĺ (14) -> Ġ | ðŁĺ | Ģ, both emoji pieces cover its
  // two UTF-16 units (6,8).
  const text = " café 😀";
  const enc = tiny.encode(text);
  assertEquals(enc.tokens, ["<s>", "Ġ", "ca", "fÃ©", "Ġ", "ðŁĺ", "Ģ", "</s>"]);
  assertEquals(enc.ids, [0, 18, 44, 45, 18, 43, 26, 2]);
  assertEquals(enc.offsets, [[0, 0], [1, 1], [1, 3], [3, 5], [6, 6], [6, 8], [6, 8], [0, 0]]);
  assertEquals(text.slice(3, 5), "fé");
  assertEquals(text.slice(6, 8), "😀");
});

Deno.test("encode: several spaces leave a lone Ġ token with an empty range; newline; unknown bytes", () => {
  // "a  dog.": "\s+(?!\S)" takes the first space alone, the second starts "Ġdog".
  const enc = tiny.encode("a  dog.");
  assertEquals(enc.tokens, ["<s>", "a", "Ġ", "Ġdog", ".", "</s>"]);
  assertEquals(enc.ids, [0, 5, 18, 32, 28, 2]);
  assertEquals(enc.offsets, [[0, 0], [0, 1], [2, 2], [3, 6], [6, 7], [0, 0]]);
  // Sentence-start "dog" has no Ġ: d og -> dog (17). "\n" is its own pre-token "Ċ".
  const nl = tiny.encode("dog\nthe");
  assertEquals(nl.ids, [0, 46, 29, 40, 2]);
  assertEquals(nl.offsets, [[0, 0], [0, 3], [3, 4], [4, 7], [0, 0]]);
  // "!" is not in the vocabulary: one <unk> per byte (fuse_unk false).
  const unk = tiny.encode("dog!!");
  assertEquals(unk.ids, [0, 46, 3, 3, 2]);
  assertEquals(unk.offsets, [[0, 0], [0, 3], [3, 4], [4, 5], [0, 0]]);
});

Deno.test("encode: added token with lstrip takes the space before it", () => {
  const enc = tiny.encode("a <mask>.");
  assertEquals(enc.ids, [0, 5, 4, 28, 2]);
  assertEquals(enc.offsets, [[0, 0], [0, 1], [1, 8], [8, 9], [0, 0]]);
  assertEquals(enc.specialTokensMask, [1, 0, 1, 0, 1]);
});

Deno.test("encode: padding and both truncation modes; no special tokens", () => {
  const padded = tiny.encode("the dog", { maxLength: 40, padTo: 40, padId: 0 });
  assertEquals(padded.ids.length, 40);
  assertEquals(padded.ids.slice(0, 6), [0, 40, 32, 2, 0, 0]);
  assertEquals(padded.attentionMask.reduce((a, b) => a + b), 4);
  assertEquals(padded.attentionMask.slice(3, 5), [1, 0]);
  assertEquals(padded.offsets[39], [0, 0]);
  assertEquals(tiny.encode("the dog", { padTo: 5 }).ids, [0, 40, 32, 2, 1]); // default pad is <pad>=1
  assertEquals(tiny.encode("the dog jumping", { maxLength: 4 }).ids, [0, 40, 32, 38]);
  assertEquals(tiny.encode("the dog jumping", { maxLength: 4, truncation: "keep_special" }).ids, [
    0,
    40,
    32,
    2,
  ]);
  assertEquals(tiny.encode("the dog", { addSpecialTokens: false }).ids, [40, 32]);
  assertEquals(tiny.vocabSize, 47);
  assertEquals(tiny.padId, 1);
  assertEquals([tiny.idToToken(38), tiny.tokenToId("ing")], ["Ġjump", 34]);
});

Deno.test("merges: the string form and the array form give the same tokenizer", () => {
  const asStrings = structuredClone(tinyJson);
  asStrings.model.merges = asStrings.model.merges.map((m: string | string[]) =>
    Array.isArray(m) ? m.join(" ") : m
  );
  const asArrays = structuredClone(tinyJson);
  asArrays.model.merges = asArrays.model.merges.map((m: string | string[]) =>
    Array.isArray(m) ? m : m.split(" ")
  );
  for (const json of [asStrings, asArrays]) {
    const tok = ByteLevelBpeTokenizer.fromJson(json);
    for (const s of ["the dog jumping", " café 😀", "a  dog."]) assertEquals(tok.encode(s), tiny.encode(s));
  }
});

Deno.test("malformed tokenizer.json: errors name the file and the key", async () => {
  const broken = (edit: (j: typeof tinyJson) => void) => {
    const j = structuredClone(tinyJson);
    edit(j);
    return () => ByteLevelBpeTokenizer.fromJson(j, "my/tokenizer.json");
  };
  assertThrows(broken((j) => delete j.model.vocab), 'my/tokenizer.json: key "model.vocab" must be an object');
  assertThrows(
    broken((j) => j.model.merges.push("zz q")),
    'key "model.merges[17]" merges into a token missing',
  );
  assertThrows(broken((j) => j.model.merges.push(["a"])), 'key "model.merges[17]" must be "a b"');
  assertThrows(
    broken((j) => j.model.vocab.a = "five"),
    'key "model.vocab["a"]" must be a non-negative integer',
  );
  assertThrows(
    broken((j) => j.pre_tokenizer.type = "Whitespace"),
    'key "pre_tokenizer.type" must be "ByteLevel"',
  );
  assertThrows(
    broken((j) => j.post_processor.cls = ["<s>"]),
    'key "post_processor.cls" must be a [token, id]',
  );
  assertThrows(broken((j) => j.model.unk_token = "<oov>"), 'key "model.unk_token" names "<oov>"');
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/tokenizer.json`, '{"model": ');
    const e = await loadHfTokenizer(dir).then(() => undefined, (e) => e);
    assertEquals(e instanceof TokenizerFileError, true);
    assertEquals(e.message.startsWith(`${dir}/tokenizer.json: not valid JSON`), true);
    await Deno.writeTextFile(`${dir}/tokenizer.json`, JSON.stringify(tinyJson));
    assertEquals((await loadHfTokenizer(dir)).encode("the").ids, [0, 40, 2]); // a folder works like the file
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

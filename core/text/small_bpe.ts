/**
 * Builds a small byte-level BPE `tokenizer.json` from a word list, for the tiny CPU configuration and
 * tests: no download, same file format and code path as RoBERTa's tokenizer.
 *
 * Layout: `<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3 (RoBERTa's special ids), then the 256 byte
 * characters (so any text encodes), then one token per merge. Each word gets a left-to-right chain of
 * merges, both bare (sentence start) and with its leading space ("Ġdog"). `ignore_merges` is set, so a
 * listed word is always one token; other words fall back to the merges and single bytes.
 *
 * @example
 * ```ts
 * import { buildSmallBpeTokenizer } from "./small_bpe.ts";
 * import { ByteLevelBpeTokenizer } from "./hf_tokenizer.ts";
 * const tok = ByteLevelBpeTokenizer.fromJson(buildSmallBpeTokenizer(["dog", "runs"]), "small");
 * tok.encode("dog runs").tokens; // ["<s>", "dog", "Ġruns", "</s>"]
 * ```
 * @module
 */
import { bytesToUnicode } from "./byte_level.ts";

/** The special tokens of {@link buildSmallBpeTokenizer}, with RoBERTa's ids. */
export const SMALL_BPE_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"] as const;

/** Returns the content of a `tokenizer.json` (an object; `JSON.stringify` it to write a file). */
export function buildSmallBpeTokenizer(words: readonly string[]): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  let next = 0;
  const add = (t: string) => {
    if (!(t in vocab)) vocab[t] = next++;
  };
  SMALL_BPE_SPECIALS.forEach(add);
  const table = bytesToUnicode();
  table.forEach(add);
  const merges: [string, string][] = [];
  const seen = new Set<string>();
  const encoder = new TextEncoder();
  for (const word of words) {
    if (word.length === 0 || /\s/u.test(word)) {
      throw new RangeError(`buildSmallBpeTokenizer: word ${JSON.stringify(word)} is empty or has whitespace`);
    }
    const chars = [...encoder.encode(word)].map((b) => table[b]);
    for (const form of [chars, [table[0x20], ...chars]]) {
      let cur = form[0];
      for (const c of form.slice(1)) {
        const key = `${cur} ${c}`;
        if (!seen.has(key)) {
          seen.add(key);
          merges.push([cur, c]);
        }
        cur += c;
        add(cur);
      }
    }
  }
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: SMALL_BPE_SPECIALS.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: {
      type: "RobertaProcessing",
      sep: ["</s>", 2],
      cls: ["<s>", 0],
      trim_offsets: true,
      add_prefix_space: false,
    },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: "<unk>",
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: true,
      vocab,
      merges,
    },
  };
}

/**
 * A byte-level BPE tokenizer read from a Hugging Face `tokenizer.json` (RoBERTa, GPT-2 and the small
 * tokenizers built by `buildSmallBpeTokenizer`), giving the same ids as the `tokenizers` library plus
 * character offsets (UTF-16 positions) per token.
 *
 * Supported parts of the file: `added_tokens`; `normalizer` null; `pre_tokenizer` ByteLevel; `model`
 * BPE (merges in the `"a b"` string form or the `["a", "b"]` array form, `unk_token`, `fuse_unk`,
 * `ignore_merges`); `post_processor` null, RobertaProcessing, BertProcessing or ByteLevel. Anything
 * else is an error naming the file and the key. The file's own `padding` and `truncation` entries are
 * not applied: pass {@link EncodeOptions} instead.
 *
 * @example
 * ```ts
 * import { loadHfTokenizer } from "./hf_tokenizer.ts";
 * const tok = await loadHfTokenizer("/models/roberta-base"); // folder or tokenizer.json path
 * const enc = tok.encode("a dog jumping", { maxLength: 40, padTo: 40, padId: 0 });
 * enc.ids.length; // 40
 * ```
 * @module
 */
import { byteLevelPieces, trimByteLevelOffsets } from "./byte_level.ts";
import {
  type EncodeOptions,
  type Encoding,
  type Offset,
  padAndTruncate,
  type Tokenizer,
} from "./tokenizer.ts";

/** Raised for a `tokenizer.json` that cannot be read or is not supported; the message names the file and key. */
export class TokenizerFileError extends Error {
  override name = "TokenizerFileError";
}

interface AddedToken {
  id: number;
  content: string;
  singleWord: boolean;
  lstrip: boolean;
  rstrip: boolean;
  special: boolean;
}

interface PostProcessor {
  cls?: [string, number];
  sep?: [string, number];
  trimOffsets: boolean;
  addPrefixSpace: boolean;
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Field readers that fail with the file and the dotted key. */
class Reader {
  constructor(readonly source: string) {}
  fail(key: string, what: string): never {
    throw new TokenizerFileError(`${this.source}: key "${key}" ${what}`);
  }
  object(v: unknown, key: string): Json {
    if (!isObject(v)) this.fail(key, `must be an object, got ${describe(v)}`);
    return v;
  }
  bool(v: unknown, key: string, fallback: boolean): boolean {
    if (v === undefined || v === null) return fallback;
    if (typeof v !== "boolean") this.fail(key, `must be true or false, got ${describe(v)}`);
    return v;
  }
  int(v: unknown, key: string): number {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
      this.fail(key, `must be a non-negative integer, got ${describe(v)}`);
    }
    return v;
  }
  str(v: unknown, key: string): string {
    if (typeof v !== "string") this.fail(key, `must be a string, got ${describe(v)}`);
    return v;
  }
  /** A `[token, id]` pair as RobertaProcessing writes `cls` and `sep`. */
  pair(v: unknown, key: string): [string, number] {
    if (!Array.isArray(v) || v.length !== 2) this.fail(key, `must be a [token, id] pair, got ${describe(v)}`);
    return [this.str(v[0], `${key}[0]`), this.int(v[1], `${key}[1]`)];
  }
}

function describe(v: unknown): string {
  if (v === undefined) return "nothing (missing)";
  const s = JSON.stringify(v);
  return s.length > 60 ? s.slice(0, 57) + "..." : s;
}

/** Byte-level BPE tokenizer; build it with {@link loadHfTokenizer} or {@link ByteLevelBpeTokenizer.fromJson}. */
export class ByteLevelBpeTokenizer implements Tokenizer {
  readonly #vocab: Map<string, number>;
  readonly #idToToken: Map<number, string>;
  /** `"idA idB"` -> [rank, merged id]. */
  readonly #merges: Map<string, [number, number]>;
  readonly #unkId: number | undefined;
  readonly #fuseUnk: boolean;
  readonly #ignoreMerges: boolean;
  readonly #added: AddedToken[];
  readonly #addedPattern: RegExp | undefined;
  readonly #addPrefixSpace: boolean;
  readonly #useRegex: boolean;
  readonly #post: PostProcessor | undefined;
  readonly #cache = new Map<string, [id: number, bytes: number][]>();
  readonly vocabSize: number;
  readonly padId: number | undefined;

  private constructor(fields: {
    vocab: Map<string, number>;
    merges: Map<string, [number, number]>;
    unkId: number | undefined;
    fuseUnk: boolean;
    ignoreMerges: boolean;
    added: AddedToken[];
    addPrefixSpace: boolean;
    useRegex: boolean;
    post: PostProcessor | undefined;
  }) {
    this.#vocab = fields.vocab;
    this.#merges = fields.merges;
    this.#unkId = fields.unkId;
    this.#fuseUnk = fields.fuseUnk;
    this.#ignoreMerges = fields.ignoreMerges;
    this.#added = fields.added;
    this.#addPrefixSpace = fields.addPrefixSpace;
    this.#useRegex = fields.useRegex;
    this.#post = fields.post;
    this.#idToToken = new Map([...this.#vocab].map(([t, i]) => [i, t]));
    for (const a of this.#added) {
      this.#idToToken.set(a.id, a.content);
      if (!this.#vocab.has(a.content)) this.#vocab.set(a.content, a.id);
    }
    let maxId = -1;
    for (const id of this.#idToToken.keys()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;
    this.padId = this.#vocab.get("<pad>");
    // Longest first, so "<s>" never shadows a longer token starting the same way.
    const contents = [...new Set(this.#added.map((a) => a.content))].sort((a, b) => b.length - a.length);
    this.#addedPattern = contents.length > 0
      ? new RegExp(contents.map((c) => c.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "gu")
      : undefined;
  }

  /**
   * Builds a tokenizer from the parsed content of a `tokenizer.json`; `source` names the file in errors.
   *
   * @example
   * ```ts
   * import { ByteLevelBpeTokenizer } from "./hf_tokenizer.ts";
   * import { buildSmallBpeTokenizer } from "./small_bpe.ts";
   * const tok = ByteLevelBpeTokenizer.fromJson(buildSmallBpeTokenizer(["dog"]), "small");
   * tok.encode("dog").tokens; // ["<s>", "dog", "</s>"]
   * ```
   */
  static fromJson(json: unknown, source = "tokenizer.json"): ByteLevelBpeTokenizer {
    const r: Reader = new Reader(source);
    const root = r.object(json, "(root)");
    if (root.normalizer !== undefined && root.normalizer !== null) {
      r.fail(
        "normalizer",
        `is not supported (only null), got ${describe(r.object(root.normalizer, "normalizer").type)}`,
      );
    }
    const pre = r.object(root.pre_tokenizer, "pre_tokenizer");
    if (pre.type !== "ByteLevel") {
      r.fail("pre_tokenizer.type", `must be "ByteLevel", got ${describe(pre.type)}`);
    }
    const model = r.object(root.model, "model");
    if (model.type !== undefined && model.type !== "BPE") {
      r.fail("model.type", `must be "BPE", got ${describe(model.type)}`);
    }
    if (model.dropout !== undefined && model.dropout !== null && model.dropout !== 0) {
      r.fail("model.dropout", `is not supported (only null), got ${describe(model.dropout)}`);
    }
    for (const key of ["continuing_subword_prefix", "end_of_word_suffix"]) {
      const v = model[key];
      if (v !== undefined && v !== null && v !== "") {
        r.fail(`model.${key}`, `is not supported (only "" or null)`);
      }
    }
    if (r.bool(model.byte_fallback, "model.byte_fallback", false)) {
      r.fail("model.byte_fallback", "is not supported (only false)");
    }
    const vocabJson = r.object(model.vocab, "model.vocab");
    const vocab = new Map<string, number>();
    for (const [token, id] of Object.entries(vocabJson)) {
      vocab.set(token, r.int(id, `model.vocab["${token}"]`));
    }
    if (!Array.isArray(model.merges)) {
      r.fail("model.merges", `must be an array, got ${describe(model.merges)}`);
    }
    const merges = new Map<string, [number, number]>();
    model.merges.forEach((m: unknown, rank: number) => {
      const key = `model.merges[${rank}]`;
      let parts: unknown[];
      if (typeof m === "string") parts = m.split(" ");
      else if (Array.isArray(m)) parts = m;
      else r.fail(key, `must be "a b" or ["a", "b"], got ${describe(m)}`);
      if (parts.length !== 2 || typeof parts[0] !== "string" || typeof parts[1] !== "string") {
        r.fail(key, `must be "a b" or ["a", "b"], got ${describe(m)}`);
      }
      const [a, b] = parts as [string, string];
      const ia = vocab.get(a), ib = vocab.get(b), iab = vocab.get(a + b);
      if (ia === undefined || ib === undefined || iab === undefined) {
        const missing = [a, b, a + b].find((t) => !vocab.has(t));
        r.fail(key, `merges into a token missing from model.vocab: ${JSON.stringify(missing)}`);
      }
      const pairKey = `${ia} ${ib}`;
      // The first (lowest-rank) occurrence of a duplicated merge wins.
      if (!merges.has(pairKey)) merges.set(pairKey, [rank, iab]);
    });
    let unkId: number | undefined;
    if (model.unk_token !== undefined && model.unk_token !== null) {
      const unk = r.str(model.unk_token, "model.unk_token");
      unkId = vocab.get(unk);
      if (unkId === undefined) {
        r.fail("model.unk_token", `names ${JSON.stringify(unk)}, which is not in model.vocab`);
      }
    }
    const added: AddedToken[] = [];
    if (root.added_tokens !== undefined && root.added_tokens !== null) {
      if (!Array.isArray(root.added_tokens)) r.fail("added_tokens", "must be an array");
      root.added_tokens.forEach((t: unknown, i: number) => {
        const key = `added_tokens[${i}]`;
        const o = r.object(t, key);
        added.push({
          id: r.int(o.id, `${key}.id`),
          content: r.str(o.content, `${key}.content`),
          singleWord: r.bool(o.single_word, `${key}.single_word`, false),
          lstrip: r.bool(o.lstrip, `${key}.lstrip`, false),
          rstrip: r.bool(o.rstrip, `${key}.rstrip`, false),
          special: r.bool(o.special, `${key}.special`, false),
        });
        if (added[i].content.length === 0) r.fail(`${key}.content`, "must not be empty");
      });
    }
    let post: PostProcessor | undefined;
    if (root.post_processor !== undefined && root.post_processor !== null) {
      const p = r.object(root.post_processor, "post_processor");
      if (p.type === "RobertaProcessing" || p.type === "BertProcessing") {
        const roberta = p.type === "RobertaProcessing";
        post = {
          cls: r.pair(p.cls, "post_processor.cls"),
          sep: r.pair(p.sep, "post_processor.sep"),
          trimOffsets: roberta && r.bool(p.trim_offsets, "post_processor.trim_offsets", true),
          addPrefixSpace: roberta && r.bool(p.add_prefix_space, "post_processor.add_prefix_space", true),
        };
      } else if (p.type === "ByteLevel") {
        post = {
          trimOffsets: r.bool(p.trim_offsets, "post_processor.trim_offsets", true),
          addPrefixSpace: r.bool(p.add_prefix_space, "post_processor.add_prefix_space", true),
        };
      } else {
        r.fail(
          "post_processor.type",
          `must be RobertaProcessing, BertProcessing or ByteLevel, got ${describe(p.type)}`,
        );
      }
    }
    return new ByteLevelBpeTokenizer({
      vocab,
      merges,
      unkId,
      fuseUnk: r.bool(model.fuse_unk, "model.fuse_unk", false),
      ignoreMerges: r.bool(model.ignore_merges, "model.ignore_merges", false),
      added,
      addPrefixSpace: r.bool(pre.add_prefix_space, "pre_tokenizer.add_prefix_space", true),
      useRegex: r.bool(pre.use_regex, "pre_tokenizer.use_regex", true),
      post,
    });
  }

  idToToken(id: number): string | undefined {
    return this.#idToToken.get(id);
  }

  tokenToId(token: string): number | undefined {
    return this.#vocab.get(token);
  }

  /**
   * Encodes `text`. Without options: `<s> tokens </s>`, no truncation, no padding (like
   * `tokenizer(text)` in `transformers`).
   */
  encode(text: string, options: EncodeOptions = {}): Encoding {
    const { addSpecialTokens = true } = options;
    const ids: number[] = [];
    const tokens: string[] = [];
    const offsets: Offset[] = [];
    const specials: number[] = [];
    for (const seg of this.#splitAdded(text)) {
      if (seg.added) {
        ids.push(seg.added.id);
        tokens.push(seg.added.content);
        offsets.push([seg.start, seg.end]);
        specials.push(seg.added.special ? 1 : 0);
        continue;
      }
      const pieces = byteLevelPieces(text.slice(seg.start, seg.end), {
        addPrefixSpace: this.#addPrefixSpace,
        useRegex: this.#useRegex,
        base: seg.start,
      });
      for (const piece of pieces) {
        let at = 0;
        for (const [id, nBytes] of this.#bpe(piece.text)) {
          ids.push(id);
          tokens.push(this.#idToToken.get(id)!);
          offsets.push([piece.byteStart[at], piece.byteEnd[at + nBytes - 1]]);
          specials.push(0);
          at += nBytes;
        }
      }
    }
    const post = this.#post;
    if (post?.trimOffsets) {
      for (let i = 0; i < ids.length; i++) {
        const keepFirst = post.addPrefixSpace && (i === 0 || offsets[i][0] === 0);
        offsets[i] = trimByteLevelOffsets(tokens[i], offsets[i], keepFirst);
      }
    }
    let closing = 0;
    if (addSpecialTokens && post?.cls && post.sep) {
      ids.unshift(post.cls[1]);
      tokens.unshift(post.cls[0]);
      offsets.unshift([0, 0]);
      specials.unshift(1);
      ids.push(post.sep[1]);
      tokens.push(post.sep[0]);
      offsets.push([0, 0]);
      specials.push(1);
      closing = 1;
    }
    const enc: Encoding = {
      ids,
      tokens,
      offsets,
      attentionMask: ids.map(() => 1),
      specialTokensMask: specials,
    };
    if (options.maxLength === undefined && options.padTo === undefined) return enc;
    const padId = options.padId ?? this.padId;
    return padAndTruncate(enc, {
      maxLength: options.maxLength,
      truncation: options.truncation,
      padTo: options.padTo,
      padId,
      padToken: padId === undefined ? "" : this.#idToToken.get(padId) ?? "",
      closingSpecials: closing,
    });
  }

  /** Splits the text around added tokens (with their lstrip/rstrip/single_word rules). */
  #splitAdded(text: string): { start: number; end: number; added?: AddedToken }[] {
    const out: { start: number; end: number; added?: AddedToken }[] = [];
    let cursor = 0;
    if (this.#addedPattern) {
      for (const m of text.matchAll(this.#addedPattern)) {
        const token = this.#added.find((a) => a.content === m[0])!;
        let start = m.index, end = m.index + m[0].length;
        if (start < cursor) continue;
        if (token.singleWord && (/\w/u.test(text[start - 1] ?? "") || /\w/u.test(text[end] ?? ""))) continue;
        if (token.lstrip) { while (start > cursor && /\s/u.test(text[start - 1])) start--; }
        if (token.rstrip) { while (end < text.length && /\s/u.test(text[end])) end++; }
        if (start > cursor) out.push({ start: cursor, end: start });
        out.push({ start, end, added: token });
        cursor = end;
      }
    }
    if (cursor < text.length) out.push({ start: cursor, end: text.length });
    return out;
  }

  /** BPE of one byte-level word: [id, byte count] per piece, merging the lowest-rank pair first. */
  #bpe(word: string): [number, number][] {
    const cached = this.#cache.get(word);
    if (cached) return cached;
    const whole = this.#ignoreMerges ? this.#vocab.get(word) : undefined;
    let syms: [number, number][] = [];
    if (whole !== undefined) {
      syms = [[whole, word.length]];
    } else {
      let unk: [number, number] | undefined;
      for (const ch of word) {
        const id = this.#vocab.get(ch);
        if (id !== undefined) {
          if (unk) syms.push(unk), unk = undefined;
          syms.push([id, 1]);
        } else if (this.#unkId !== undefined) {
          if (unk && this.#fuseUnk) unk[1] += 1;
          else {
            if (unk) syms.push(unk);
            unk = [this.#unkId, 1];
          }
        }
        // Without an unk token an unknown symbol is dropped, as the Rust library does.
      }
      if (unk) syms.push(unk);
      for (;;) {
        let best = -1, bestRank = Infinity, bestId = -1;
        for (let i = 0; i + 1 < syms.length; i++) {
          const m = this.#merges.get(`${syms[i][0]} ${syms[i + 1][0]}`);
          if (m && m[0] < bestRank) [best, bestRank, bestId] = [i, m[0], m[1]];
        }
        if (best < 0) break;
        syms.splice(best, 2, [bestId, syms[best][1] + syms[best + 1][1]]);
      }
    }
    this.#cache.set(word, syms);
    return syms;
  }
}

/**
 * Reads a `tokenizer.json` (or the one inside a model folder such as a local `roberta-base`).
 *
 * @example
 * ```ts
 * import { loadHfTokenizer } from "./hf_tokenizer.ts";
 * const tok = await loadHfTokenizer("tests/fixtures/text/tiny_tokenizer.json");
 * tok.encode("dog").ids; // [0, ..., 2]
 * ```
 */
export async function loadHfTokenizer(path: string): Promise<ByteLevelBpeTokenizer> {
  let file = path;
  try {
    if ((await Deno.stat(path)).isDirectory) file = `${path.replace(/\/+$/, "")}/tokenizer.json`;
  } catch (e) {
    throw new TokenizerFileError(`${path}: cannot read the tokenizer (${(e as Error).message})`);
  }
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new TokenizerFileError(`${file}: cannot read the tokenizer (${(e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new TokenizerFileError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  return ByteLevelBpeTokenizer.fromJson(json, file);
}

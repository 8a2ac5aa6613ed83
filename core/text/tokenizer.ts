/**
 * The tokenizer contract: text in, token ids with character offsets and an attention mask out.
 *
 * Offsets are UTF-16 positions into the input string (what `String.prototype.slice` takes), so they
 * line up with any other JavaScript text tool, the part-of-speech tagger included.
 *
 * @example
 * ```ts
 * import { padAndTruncate } from "./tokenizer.ts";
 * const enc = { ids: [0, 7, 2], tokens: ["<s>", "a", "</s>"], offsets: [[0, 0], [0, 1], [0, 0]] as [number, number][],
 *   attentionMask: [1, 1, 1], specialTokensMask: [1, 0, 1] };
 * padAndTruncate(enc, { maxLength: 4, padTo: 4, padId: 1 }).ids; // [0, 7, 2, 1]
 * ```
 * @module
 */

/** A `[start, end)` range of UTF-16 code units in the encoded string. */
export type Offset = [start: number, end: number];

/** The result of {@link Tokenizer.encode}; all arrays have the same length. */
export interface Encoding {
  /** Token ids. */
  ids: number[];
  /** The token strings as the vocabulary spells them (byte-level form for byte-level BPE). */
  tokens: string[];
  /** Character range of each token in the input; `[0, 0]` for special and padding tokens. */
  offsets: Offset[];
  /** 1 for a real token (special tokens included), 0 for padding. */
  attentionMask: number[];
  /** 1 for tokens added by the post-processor or matched as special added tokens, and for padding. */
  specialTokensMask: number[];
}

/**
 * How to truncate a sequence longer than `maxLength`:
 * - `"slice"` keeps the first `maxLength` ids, cutting the closing special token (what DsHmp's
 *   dataset mapper does with `input_ids[:max_tokens]`);
 * - `"keep_special"` drops word tokens before the closing special tokens so the sequence still ends
 *   with them (Hugging Face's `truncation=True`).
 */
export type TruncationMode = "slice" | "keep_special";

/** Options of {@link Tokenizer.encode}. */
export interface EncodeOptions {
  /** Add the post-processor's tokens (`<s> ... </s>` for RoBERTa). Default true. */
  addSpecialTokens?: boolean;
  /** Truncate to this many tokens. Default: no truncation. */
  maxLength?: number;
  /** How to truncate; default `"slice"`. */
  truncation?: TruncationMode;
  /** Pad with `padId` up to this length. Default: no padding. */
  padTo?: number;
  /** Id used for padding; default the tokenizer's pad token (`<pad>` = 1 for RoBERTa). */
  padId?: number;
}

/** A text tokenizer. */
export interface Tokenizer {
  /** Number of ids (the embedding table size a text encoder needs). */
  readonly vocabSize: number;
  /** Id of the padding token, if the vocabulary has one. */
  readonly padId: number | undefined;
  /** Encodes one string. */
  encode(text: string, options?: EncodeOptions): Encoding;
  /** The token string of an id (undefined for an unknown id). */
  idToToken(id: number): string | undefined;
  /** The id of a token string (undefined when not in the vocabulary). */
  tokenToId(token: string): number | undefined;
}

/** Options of {@link padAndTruncate}. */
export interface PadOptions {
  maxLength?: number;
  truncation?: TruncationMode;
  padTo?: number;
  padId?: number;
  /** Token string written for padding positions; default `""`. */
  padToken?: string;
  /** How many tokens at the end are closing special tokens (kept by `"keep_special"`). */
  closingSpecials?: number;
}

/**
 * Truncates then pads an encoding, returning a new one.
 *
 * @example
 * ```ts
 * import { padAndTruncate } from "./tokenizer.ts";
 * const enc = { ids: [0, 5, 6, 2], tokens: ["<s>", "a", "b", "</s>"],
 *   offsets: [[0, 0], [0, 1], [2, 3], [0, 0]] as [number, number][], attentionMask: [1, 1, 1, 1],
 *   specialTokensMask: [1, 0, 0, 1] };
 * padAndTruncate(enc, { maxLength: 3 }).ids; // [0, 5, 6]
 * padAndTruncate(enc, { maxLength: 3, truncation: "keep_special", closingSpecials: 1 }).ids; // [0, 5, 2]
 * ```
 */
export function padAndTruncate(enc: Encoding, options: PadOptions): Encoding {
  const { maxLength, truncation = "slice", padTo, padId, padToken = "", closingSpecials = 0 } = options;
  let keep = enc.ids.map((_, i) => i);
  if (maxLength !== undefined) {
    if (!Number.isInteger(maxLength) || maxLength < 0) {
      throw new RangeError(`maxLength must be a non-negative integer, got ${maxLength}`);
    }
    if (keep.length > maxLength) {
      if (truncation === "slice") {
        keep = keep.slice(0, maxLength);
      } else if (truncation === "keep_special") {
        const tail = keep.slice(keep.length - closingSpecials);
        if (tail.length > maxLength) {
          throw new RangeError(
            `maxLength ${maxLength} is shorter than the ${tail.length} closing special tokens`,
          );
        }
        keep = [...keep.slice(0, maxLength - tail.length), ...tail];
      } else {
        throw new RangeError(`unknown truncation mode "${truncation}" (expected "slice" or "keep_special")`);
      }
    }
  }
  const out: Encoding = {
    ids: keep.map((i) => enc.ids[i]),
    tokens: keep.map((i) => enc.tokens[i]),
    offsets: keep.map((i) => [...enc.offsets[i]] as Offset),
    attentionMask: keep.map((i) => enc.attentionMask[i]),
    specialTokensMask: keep.map((i) => enc.specialTokensMask[i]),
  };
  if (padTo !== undefined && out.ids.length < padTo) {
    if (padId === undefined) throw new RangeError("padding asked for (padTo) but no padId is known");
    while (out.ids.length < padTo) {
      out.ids.push(padId);
      out.tokens.push(padToken);
      out.offsets.push([0, 0]);
      out.attentionMask.push(0);
      out.specialTokensMask.push(1);
    }
  }
  return out;
}

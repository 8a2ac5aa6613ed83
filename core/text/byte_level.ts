/**
 * Byte-level helpers of GPT-2 style BPE (RoBERTa's tokenizer): the byte -> printable character table,
 * the pre-tokenization split, and the per-byte character alignment used to give every BPE piece its
 * UTF-16 range in the original string.
 *
 * @example
 * ```ts
 * import { byteLevelPieces } from "./byte_level.ts";
 * byteLevelPieces("a  dog").map((p) => p.text); // ["a", "Ġ", "Ġdog"]
 * ```
 * @module
 */

let byteToCharTable: string[] | undefined;
let charToByteTable: Map<string, number> | undefined;

/**
 * The byte -> character table of byte-level BPE: printable Latin-1 bytes map to themselves, the other
 * 68 bytes (controls, space, 0x7F-0xA0, 0xAD) to U+0100 onwards in byte order, so every byte is a
 * visible character (a space becomes "Ġ", a newline "Ċ").
 */
export function bytesToUnicode(): readonly string[] {
  if (byteToCharTable) return byteToCharTable;
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const table: string[] = new Array(256);
  let next = 0;
  for (let b = 0; b < 256; b++) {
    table[b] = String.fromCharCode(printable(b) ? b : 256 + next++);
  }
  byteToCharTable = table;
  return table;
}

/** The inverse of {@link bytesToUnicode}: byte-level character -> byte value. */
export function unicodeToBytes(): ReadonlyMap<string, number> {
  if (!charToByteTable) charToByteTable = new Map(bytesToUnicode().map((c, b) => [c, b]));
  return charToByteTable;
}

/**
 * GPT-2's pre-tokenization pattern: English contractions, an optional space then letters, numbers or
 * other symbols, whitespace not followed by non-whitespace (so a run of spaces leaves its last space to
 * the next word), then any remaining whitespace. The `u` flag makes `\p{..}` and iteration work on
 * code points, as the Rust original does.
 */
export const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** A pre-token in byte-level form with, for each of its bytes, the UTF-16 range of its character. */
export interface BytePiece {
  /** Byte-level string: one character per UTF-8 byte. */
  text: string;
  /** `byteStart[i]`, `byteEnd[i]`: UTF-16 range in the source of the character that byte `i` belongs to. */
  byteStart: number[];
  byteEnd: number[];
}

/** Options of {@link byteLevelPieces}. */
export interface ByteLevelOptions {
  /** Prepend a space when the text does not start with one (ByteLevel `add_prefix_space`). */
  addPrefixSpace?: boolean;
  /** Split with {@link GPT2_SPLIT} (ByteLevel `use_regex`); otherwise the whole text is one piece. */
  useRegex?: boolean;
  /** Added to every offset (the position of `text` inside a longer string). */
  base?: number;
}

const encoder = new TextEncoder();

/**
 * Splits `text` into byte-level pre-tokens with per-byte UTF-16 alignment.
 * A prepended space (`addPrefixSpace`) is aligned to the empty range at `base`.
 */
export function byteLevelPieces(text: string, options: ByteLevelOptions = {}): BytePiece[] {
  const { addPrefixSpace = false, useRegex = true, base = 0 } = options;
  const table = bytesToUnicode();
  const pieces: BytePiece[] = [];
  const prefixed = addPrefixSpace && !text.startsWith(" ");
  const source = prefixed ? " " + text : text;
  const shift = prefixed ? -1 : 0;
  const matches: [number, string][] = [];
  if (useRegex) {
    for (const m of source.matchAll(GPT2_SPLIT)) matches.push([m.index, m[0]]);
  } else if (source.length > 0) {
    matches.push([0, source]);
  }
  for (const [at, piece] of matches) {
    let chars = "";
    const byteStart: number[] = [];
    const byteEnd: number[] = [];
    let pos = at;
    for (const cp of piece) {
      const bytes = encoder.encode(cp);
      // The virtual prefix space maps to an empty range at the start.
      const virtual = prefixed && pos === 0;
      const s = virtual ? base : base + pos + shift;
      const e = virtual ? base : s + cp.length;
      for (const b of bytes) {
        chars += table[b];
        byteStart.push(s);
        byteEnd.push(e);
      }
      pos += cp.length;
    }
    pieces.push({ text: chars, byteStart, byteEnd });
  }
  return pieces;
}

/**
 * Trims the leading and trailing "Ġ" of a byte-level token from its offsets, the way Hugging Face's
 * `trim_offsets` does: the start moves right by the leading count (not past the end), the end left by
 * the trailing count (not before the start). With `keepFirstPrefix`, one leading space of the first
 * token is kept (it was added by `add_prefix_space`).
 */
export function trimByteLevelOffsets(
  token: string,
  offset: [number, number],
  keepFirstPrefix = false,
): [number, number] {
  const space = bytesToUnicode()[0x20];
  let leading = 0;
  while (leading < token.length && token[leading] === space) leading++;
  let trailing = 0;
  while (trailing < token.length && token[token.length - 1 - trailing] === space) trailing++;
  let [start, end] = offset;
  if (leading > 0) {
    if (keepFirstPrefix && leading === 1) leading = 0;
    start = Math.min(start + leading, end);
  }
  if (trailing > 0 && end >= trailing) end = Math.max(end - trailing, start);
  return [start, end];
}

/**
 * A lazily read `mask_dict.json`: `{"<anno_id>": [rle | null, ...one per frame], ...}`.
 *
 * The training split's file is larger than a JavaScript string can hold, so it is never parsed whole:
 * {@link MaskDict.open} streams it once, keeps for each annotation id only where its value lies in the
 * file, its frame count, which frames have a mask and the masks' size, and {@link MaskDict.get} reads one
 * entry back when a clip needs it. A frame "has a mask" when its value is truthy in Python's sense, as
 * the original's `if not segm` test: `null`, `[]`, `{}`, `0` and `""` all mean "absent in this frame".
 *
 * @example
 * ```ts
 * import { MaskDict } from "./mask_dict.ts";
 * const masks = await MaskDict.open("datasets/mevis/train/mask_dict.json");
 * const entry = masks.entry("17"); // { frames, present, size, ... } or undefined
 * const rles = await masks.get("17"); // (Rle | null)[], one per frame
 * ```
 * @module
 */
import type { Rle } from "../../../core/data/rle.ts";

/** What the index keeps of one annotation id. */
export interface MaskEntry {
  /** Byte offset and length of the value in the file. */
  offset: number;
  length: number;
  /** Number of frame values (the list's length). */
  frames: number;
  /** 1 where the frame has a mask. */
  present: Uint8Array;
  /** `[height, width]` of the first mask, or null when no frame has one. */
  size: [number, number] | null;
  /**
   * The first problem found in the value, or null: not a list, a frame value that is not an RLE, or
   * masks of different sizes.
   */
  problem: { kind: "bad_mask" | "mask_size"; frame: number; detail: string } | null;
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Python truthiness of a parsed JSON value. */
function truthy(v: unknown): boolean {
  if (v === null || v === false || v === 0 || v === "") return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "object") return Object.keys(v as object).length > 0;
  return true;
}

/** Whether `v` has the shape of a COCO RLE (the runs are checked only when decoded). */
export function isRle(v: unknown): v is Rle {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const { size, counts } = v as Record<string, unknown>;
  const sizeOk = Array.isArray(size) && size.length === 2 &&
    size.every((x) => Number.isInteger(x) && (x as number) > 0);
  const countsOk = typeof counts === "string" ||
    (Array.isArray(counts) && counts.every((x) => Number.isInteger(x) && (x as number) >= 0));
  return sizeOk && countsOk;
}

function analyse(value: unknown, offset: number, length: number): MaskEntry {
  if (!Array.isArray(value)) {
    return {
      offset,
      length,
      frames: 0,
      present: new Uint8Array(0),
      size: null,
      problem: {
        kind: "bad_mask",
        frame: -1,
        detail: `the entry is ${value === null ? "null" : typeof value}, not a list of masks`,
      },
    };
  }
  const present = new Uint8Array(value.length);
  let size: [number, number] | null = null;
  let problem: MaskEntry["problem"] = null;
  value.forEach((v, f) => {
    if (!truthy(v)) return;
    if (!isRle(v)) {
      problem ??= { kind: "bad_mask", frame: f, detail: `frame ${f} is not a COCO RLE` };
      return;
    }
    present[f] = 1;
    if (size === null) size = [v.size[0], v.size[1]];
    else if (v.size[0] !== size[0] || v.size[1] !== size[1]) {
      problem ??= {
        kind: "mask_size",
        frame: f,
        detail: `frame ${f} mask is ${v.size[0]}x${v.size[1]}, earlier masks ${size[0]}x${size[1]}`,
      };
    }
  });
  return { offset, length, frames: value.length, present, size, problem };
}

/** A streaming index over `mask_dict.json`; see the module doc. */
export class MaskDict {
  readonly path: string;
  readonly #entries: Map<string, MaskEntry>;

  private constructor(path: string, entries: Map<string, MaskEntry>) {
    this.path = path;
    this.#entries = entries;
  }

  /**
   * Streams `path` once and indexes it. A file that is not a JSON object of annotation ids is an error
   * naming the file and the byte offset.
   */
  static async open(path: string, chunkSize = 1 << 24): Promise<MaskDict> {
    const entries = new Map<string, MaskEntry>();
    const decoder = new TextDecoder();
    const fail = (at: number, what: string): never => {
      throw new Error(`${path}: not a mask_dict (${what} at byte ${at})`);
    };
    // States: 0 before "{", 1 before a key or "}", 2 in a key, 3 before ":", 4 before a value, 5 in a
    // value, 6 after a value (expecting "," or "}"), 7 after the closing "}".
    let state = 0;
    let parts: Uint8Array[] = [];
    let key = "";
    let valueStart = 0;
    let depth = 0;
    let inString = false;
    let escaped = false;
    const take = (chunk: Uint8Array, from: number, to: number) => parts.push(chunk.slice(from, to));
    const joined = (): string => {
      const text = parts.map((p) => decoder.decode(p, { stream: true })).join("") + decoder.decode();
      parts = [];
      return text;
    };
    const finishValue = (end: number) => {
      const text = joined();
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (e) {
        fail(valueStart, `the value of "${key}" is not JSON: ${(e as Error).message}`);
      }
      entries.set(key, analyse(value, valueStart, end - valueStart));
    };

    using file = await Deno.open(path, { read: true });
    const buf = new Uint8Array(chunkSize);
    let base = 0;
    while (true) {
      const n = await file.read(buf);
      if (n === null) break;
      const chunk = buf.subarray(0, n);
      let partFrom = state === 2 || state === 5 ? 0 : -1;
      for (let i = 0; i < n; i++) {
        const c = chunk[i];
        if (state === 5) {
          if (inString) {
            if (escaped) escaped = false;
            else if (c === BACKSLASH) escaped = true;
            else if (c === QUOTE) inString = false;
          } else if (depth === 0 && (c === 0x2c || c === 0x7d || WS.has(c))) {
            // A scalar value (null, a number, a string) ends at its delimiter.
            take(chunk, partFrom, i);
            finishValue(base + i);
            state = 6;
            i--; // the delimiter is handled by state 6
          } else if (c === QUOTE) inString = true;
          else if (c === 0x5b || c === 0x7b) depth++;
          else if ((c === 0x5d || c === 0x7d) && --depth === 0) {
            take(chunk, partFrom, i + 1);
            finishValue(base + i + 1);
            state = 6;
          }
          continue;
        }
        if (state === 2) {
          if (escaped) escaped = false;
          else if (c === BACKSLASH) escaped = true;
          else if (c === QUOTE) {
            take(chunk, partFrom, i + 1);
            key = JSON.parse(joined());
            state = 3;
          }
          continue;
        }
        if (WS.has(c)) continue;
        if (state === 0) {
          if (c !== 0x7b) fail(base + i, "expected '{'");
          state = 1;
        } else if (state === 1) {
          if (c === 0x7d && entries.size === 0) state = 7;
          else if (c === QUOTE) {
            state = 2;
            partFrom = i;
          } else fail(base + i, "expected a key");
        } else if (state === 3) {
          if (c !== 0x3a) fail(base + i, "expected ':'");
          state = 4;
        } else if (state === 4) {
          state = 5;
          partFrom = i;
          valueStart = base + i;
          inString = false;
          escaped = false;
          depth = 0;
          i--; // the value's first character is read in state 5
        } else if (state === 6) {
          if (c === 0x2c) state = 1;
          else if (c === 0x7d) state = 7;
          else fail(base + i, "expected ',' or '}'");
        } else fail(base + i, "unexpected data after the closing '}'");
      }
      // A key or value running past the chunk carries its bytes over.
      if (state === 2 || state === 5) take(chunk, partFrom, n);
      base += n;
    }
    if (state !== 7) fail(base, "unexpected end of file");
    return new MaskDict(path, entries);
  }

  /** Number of annotation ids. */
  get size(): number {
    return this.#entries.size;
  }

  /** Whether `annoId` is in the file. */
  has(annoId: string): boolean {
    return this.#entries.has(annoId);
  }

  /** The index entry of `annoId`, or undefined. */
  entry(annoId: string): MaskEntry | undefined {
    return this.#entries.get(annoId);
  }

  /**
   * Reads the masks of `annoId` back from the file: one RLE per frame, null where the frame has none.
   * An id not in the file is an error naming it and the file.
   */
  async get(annoId: string): Promise<(Rle | null)[]> {
    const e = this.#entries.get(annoId);
    if (!e) throw new Error(`${this.path}: no annotation id "${annoId}"`);
    const bytes = new Uint8Array(e.length);
    using file = await Deno.open(this.path, { read: true });
    await file.seek(e.offset, Deno.SeekMode.Start);
    let got = 0;
    while (got < e.length) {
      const n = await file.read(bytes.subarray(got));
      if (n === null) throw new Error(`${this.path}: file shrank while reading annotation id "${annoId}"`);
      got += n;
    }
    const value = JSON.parse(new TextDecoder().decode(bytes)) as unknown[];
    return value.map((v, f) => (e.present[f] ? v as Rle : null));
  }
}

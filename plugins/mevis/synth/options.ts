/**
 * Parsing the synthetic data set's command-line values (`deno task synth --videos train=300,valid_u=40
 * --size 64x96 --frames 8-24`). Errors name the flag and say what form it takes.
 *
 * @example
 * ```ts
 * import { parseFrameRange, parseSize, parseVideoCounts } from "./options.ts";
 * parseVideoCounts("train=10,valid=2"); // { train: 10, valid: 2 }
 * parseSize("64x96"); // { height: 64, width: 96 }
 * parseFrameRange("8-24"); // { minFrames: 8, maxFrames: 24 }
 * ```
 * @module
 */
import { SYNTH_SPLITS, type SynthSplit } from "./writer.ts";

function integer(text: string, what: string): number {
  const n = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(n)) {
    throw new Error(`${what}: "${text}" is not a whole number`);
  }
  return n;
}

/** `train=N,valid_u=N,valid=N` (any subset) to counts per split. */
export function parseVideoCounts(text: string): Partial<Record<SynthSplit, number>> {
  const out: Partial<Record<SynthSplit, number>> = {};
  for (const part of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    const [name, value, extra] = part.split("=");
    if (value === undefined || extra !== undefined) {
      throw new Error(`--videos: "${part}" is not SPLIT=N (e.g. train=300,valid_u=40,valid=40)`);
    }
    if (!(SYNTH_SPLITS as readonly string[]).includes(name.trim())) {
      throw new Error(`--videos: unknown split "${name.trim()}"; splits: ${SYNTH_SPLITS.join(", ")}`);
    }
    out[name.trim() as SynthSplit] = integer(value, "--videos");
  }
  return out;
}

/** `HxW` (e.g. `64x96`) to a frame size. */
export function parseSize(text: string): { height: number; width: number } {
  const m = /^\s*(\d+)\s*[xX]\s*(\d+)\s*$/.exec(text);
  if (!m) throw new Error(`--size: "${text}" is not HxW (e.g. 64x96)`);
  return { height: integer(m[1], "--size"), width: integer(m[2], "--size") };
}

/** `MIN-MAX` or `N` to a range of frames per video. */
export function parseFrameRange(text: string): { minFrames: number; maxFrames: number } {
  const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(text);
  if (!m) throw new Error(`--frames: "${text}" is not MIN-MAX or N (e.g. 8-24)`);
  const minFrames = integer(m[1], "--frames");
  return { minFrames, maxFrames: m[2] === undefined ? minFrames : integer(m[2], "--frames") };
}

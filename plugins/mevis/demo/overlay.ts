/**
 * The demo's pictures: a frame with the predicted target tinted and outlined, and a contact sheet of
 * evenly spaced tinted frames under the sentence (the same look as the synthetic data's contact sheets,
 * `plugins/mevis/synth/contact_sheet.ts`). Written as PNG through sharp.
 *
 * @example
 * ```ts ignore
 * import { overlaySheetPng } from "./overlay.ts";
 * const png = await overlaySheetPng(frames, masks, { sentence: "the cat jumping" });
 * await Deno.writeFile("overlay.png", png);
 * ```
 * @module
 */
import { Buffer } from "node:buffer";
import type sharpModule from "sharp";
import type { ImageU8 } from "../../../core/io/image.ts";

/** The tint of the targets (RGB). */
export const TINT: readonly [number, number, number] = [40, 255, 120];
/** The colour of the targets' boundary (RGB). */
export const EDGE: readonly [number, number, number] = [255, 40, 200];

const GAP = 4;
const TEXT_HEIGHT = 20;

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * `frame` (RGB) with `mask` (nonzero = target, same size) tinted half-way to {@link TINT} and its
 * boundary drawn in {@link EDGE}. Returns a new RGB image.
 */
export function tintFrame(frame: ImageU8, mask: Uint8Array): ImageU8 {
  const { width, height } = frame;
  if (mask.length !== width * height) {
    throw new Error(`mask of ${mask.length} pixels for a ${height}x${width} frame`);
  }
  if (frame.channels < 3) throw new Error(`expected an RGB frame, got ${frame.channels} channel(s)`);
  const out = new Uint8Array(width * height * 3);
  const on = (x: number, y: number) =>
    x >= 0 && y >= 0 && x < width && y < height && mask[y * width + x] !== 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const src = i * frame.channels;
      const inside = mask[i] !== 0;
      const edge = inside && (!on(x - 1, y) || !on(x + 1, y) || !on(x, y - 1) || !on(x, y + 1));
      for (let c = 0; c < 3; c++) {
        const v = frame.data[src + c];
        out[i * 3 + c] = edge ? EDGE[c] : inside ? Math.round(0.5 * v + 0.5 * TINT[c]) : v;
      }
    }
  }
  return { data: out, width, height, channels: 3 };
}

/** Options of {@link overlaySheetPng}. */
export interface OverlaySheetOptions {
  /** The sentence, written above the frames. */
  sentence?: string;
  /** Frames shown (default 8; fewer when the video is shorter). */
  frames?: number;
  /** Frames per row (default 4). */
  columns?: number;
  /** Width of each tile in pixels (default: twice a frame under 160 wide, else the frame's, at most 320). */
  tileWidth?: number;
}

/** The frame indices a sheet shows: `count` evenly spaced over `length` frames, first and last included. */
export function sheetFrames(length: number, count: number): number[] {
  const n = Math.max(1, Math.min(count, length));
  return Array.from({ length: n }, (_, i) => Math.round((i * (length - 1)) / Math.max(1, n - 1)));
}

async function sharpOf(): Promise<typeof sharpModule> {
  return (await import("sharp")).default as typeof sharpModule;
}

/** PNG bytes of one RGB image. */
export async function rgbPng(img: ImageU8): Promise<Uint8Array> {
  const sharp = await sharpOf();
  const png = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .png()
    .toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

/**
 * The contact sheet: {@link sheetFrames} of the video, each tinted with its mask (see
 * {@link tintFrame}), in rows of `columns`, with the sentence on top. `frames[t]` and `masks[t]` are
 * frame `t` and its mask; all frames have the same size.
 */
export async function overlaySheetPng(
  frames: readonly ImageU8[],
  masks: readonly Uint8Array[],
  options: OverlaySheetOptions = {},
): Promise<Uint8Array> {
  if (frames.length === 0) throw new Error("overlaySheetPng: no frames");
  if (frames.length !== masks.length) throw new Error(`${frames.length} frames but ${masks.length} masks`);
  const sharp = await sharpOf();
  const chosen = sheetFrames(frames.length, options.frames ?? 8);
  const columns = Math.max(1, Math.min(options.columns ?? 4, chosen.length));
  const rows = Math.ceil(chosen.length / columns);
  const { width: fw0, height: fh0 } = frames[0];
  const tw = Math.max(16, Math.round(options.tileWidth ?? (fw0 < 160 ? 2 * fw0 : Math.min(fw0, 320))));
  const th = Math.max(1, Math.round((fh0 * tw) / fw0));
  const width = columns * tw + (columns + 1) * GAP;
  const height = TEXT_HEIGHT + rows * (th + GAP) + GAP;
  const tiles = await Promise.all(chosen.map(async (t, k) => {
    const tinted = tintFrame(frames[t], masks[t]);
    const tile = await sharp(tinted.data, {
      raw: { width: tinted.width, height: tinted.height, channels: 3 },
    })
      .resize(tw, th, { fit: "fill", kernel: tw > tinted.width ? "nearest" : "lanczos3" })
      .png()
      .toBuffer();
    const row = Math.floor(k / columns);
    const col = k % columns;
    return { input: tile, left: GAP + col * (tw + GAP), top: TEXT_HEIGHT + GAP + row * (th + GAP) };
  }));
  const label = options.sentence === undefined ? "" : `"${options.sentence}"`;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${TEXT_HEIGHT}">` +
    `<text x="${GAP}" y="${TEXT_HEIGHT - 6}" font-family="DejaVu Sans, sans-serif" font-size="13" ` +
    `fill="#f0f0f0">${escapeXml(label)}</text></svg>`;
  const png = await sharp({ create: { width, height, channels: 3, background: { r: 24, g: 24, b: 24 } } })
    .composite([{ input: Buffer.from(svg), top: 0, left: 0 }, ...tiles])
    .png({ compressionLevel: 9 })
    .toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

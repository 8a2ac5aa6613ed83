/**
 * A contact sheet of one synthetic video: one row per expression, a few evenly spaced frames with the
 * expression's targets tinted and outlined, and the sentence with its type above the row. Written as PNG
 * through sharp (the text is an SVG overlay), for looking at the data and for the README.
 *
 * @example
 * ```ts ignore
 * import { generateVideo } from "./video.ts";
 * import { contactSheetPng } from "./contact_sheet.ts";
 * const video = generateVideo(5, { height: 64, width: 96, frames: 16 });
 * await Deno.writeFile("sheet.png", await contactSheetPng(video));
 * ```
 * @module
 */
import { Buffer } from "node:buffer";
import type sharpModule from "sharp";
import { renderVideoFrame, type SynthVideo } from "./video.ts";

/** Options of {@link contactSheetPng}. */
export interface ContactSheetOptions {
  /** Expressions shown, by index (default: the first three). */
  expressions?: number[];
  /** Frames per row (default 5). */
  frames?: number;
  /** Pixel scale (default 2, nearest neighbour). */
  scale?: number;
}

const TINT = [40, 255, 120];
const GAP = 4;
const TEXT_HEIGHT = 18;

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * The contact sheet of `video` as PNG bytes (needs `--allow-ffi` for sharp).
 */
export async function contactSheetPng(
  video: SynthVideo,
  options: ContactSheetOptions = {},
): Promise<Uint8Array> {
  const chosen = options.expressions ?? video.expressions.slice(0, 3).map((_, i) => i);
  const count = Math.min(options.frames ?? 5, video.frames);
  const scale = options.scale ?? 2;
  const times = Array.from(
    { length: count },
    (_, i) => Math.round((i * (video.frames - 1)) / Math.max(1, count - 1)),
  );
  const fw = video.width * scale;
  const fh = video.height * scale;
  const width = count * fw + (count + 1) * GAP;
  const rowHeight = TEXT_HEIGHT + fh + GAP;
  const height = chosen.length * rowHeight + GAP;
  const canvas = new Uint8Array(width * height * 3).fill(24);
  const rendered = times.map((t) => renderVideoFrame(video, t));
  const texts: string[] = [];
  chosen.forEach((e, row) => {
    const exp = video.expressions[e];
    const targets = new Set(exp.targets);
    const top = row * rowHeight + GAP + TEXT_HEIGHT;
    texts.push(
      `<text x="${GAP}" y="${top - 5}" font-family="DejaVu Sans, sans-serif" font-size="13" fill="#f0f0f0">` +
        `${escapeXml(`"${exp.text}"`)} <tspan fill="#9ad">(${exp.type}, targets ${
          exp.targets.join(", ")
        })</tspan></text>`,
    );
    rendered.forEach(({ rgb, labels }, col) => {
      const left = GAP + col * (fw + GAP);
      const inMask = (x: number, y: number) =>
        x >= 0 && y >= 0 && x < video.width && y < video.height && targets.has(labels[y * video.width + x]);
      for (let y = 0; y < fh; y++) {
        for (let x = 0; x < fw; x++) {
          const sx = Math.floor(x / scale);
          const sy = Math.floor(y / scale);
          const i = sy * video.width + sx;
          const o = ((top + y) * width + left + x) * 3;
          const on = inMask(sx, sy);
          const edge = on &&
            (!inMask(sx - 1, sy) || !inMask(sx + 1, sy) || !inMask(sx, sy - 1) || !inMask(sx, sy + 1));
          for (let c = 0; c < 3; c++) {
            canvas[o + c] = edge
              ? TINT[c]
              : on
              ? Math.round(0.5 * rgb[3 * i + c] + 0.5 * TINT[c])
              : rgb[3 * i + c];
          }
        }
      }
    });
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${
    texts.join("")
  }</svg>`;
  const sharp = (await import("sharp")).default as typeof sharpModule;
  const png = await sharp(canvas, { raw: { width, height, channels: 3 } })
    .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
    .png({ compressionLevel: 9, palette: true, colours: 128 })
    .toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

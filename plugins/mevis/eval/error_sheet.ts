/**
 * Error sheets: for each video of a split with ground truth, one PNG with a row per expression (the
 * sentence, its type and its J and F) showing evenly spaced frames in which every pixel is coloured by
 * what the prediction got right or wrong: {@link HIT} where predicted and a target, {@link MISS} where a
 * target was not predicted, {@link FALSE} where predicted but not a target. For looking at what a model
 * does (which object it picks, how its masks fail) rather than reading J&F alone.
 *
 * @example
 * ```ts ignore
 * import { writeErrorSheets } from "./error_sheet.ts";
 * const paths = await writeErrorSheets({
 *   splitDir: "datasets/mevis/valid_u", predDir: "output/inference", outDir: "output/error_sheets", videos: 4,
 * });
 * // output/error_sheets/<video>.png for the split's first four videos
 * ```
 * @module
 */
import { Buffer } from "node:buffer";
import { join } from "node:path";
import type sharpModule from "sharp";
import { writeFileAtomic } from "../../../core/io/atomic.ts";
import { type ImageU8, readImage } from "../../../core/io/image.ts";
import { decodePng } from "../../../core/io/png.ts";
import { rleDecodeAdd } from "../../../core/data/rle.ts";
import { sheetFrames } from "../demo/overlay.ts";
import { readExpected } from "./layout.ts";
import { readExpressionTypes } from "./results.ts";
import { type ExpressionJob, expressionJobs, loadSplit, scoreExpression } from "./score_split.ts";

/** Predicted and a target (RGB). */
export const HIT: readonly [number, number, number] = [255, 214, 0];
/** A target, not predicted (RGB). */
export const MISS: readonly [number, number, number] = [40, 150, 255];
/** Predicted, not a target (RGB). */
export const FALSE: readonly [number, number, number] = [235, 45, 45];

const GAP = 4;
const TEXT_HEIGHT = 18;
/** How strongly a pixel's colour is pulled to its class colour. */
const BLEND = 0.75;

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * `frame` (RGB) in gray, with each pixel pulled toward {@link HIT}, {@link MISS} or {@link FALSE} by
 * what `gt` and `pred` (nonzero = foreground, one byte per pixel) say of it. Gray, so that an object's
 * own colour is never read as one of the three (the sheet's first row shows the frames in colour).
 */
export function errorTint(frame: ImageU8, gt: Uint8Array, pred: Uint8Array): ImageU8 {
  const { width, height, channels } = frame;
  const n = width * height;
  if (gt.length !== n || pred.length !== n) {
    throw new Error(
      `errorTint: a ${height}x${width} frame needs masks of ${n} pixels, got ${gt.length} (ground truth) and ${pred.length} (prediction)`,
    );
  }
  if (channels < 3) throw new Error(`errorTint: expected an RGB frame, got ${channels} channel(s)`);
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const g = gt[i] !== 0, p = pred[i] !== 0;
    const tint = g ? (p ? HIT : MISS) : p ? FALSE : null;
    const s = i * channels;
    const gray = 0.299 * frame.data[s] + 0.587 * frame.data[s + 1] + 0.114 * frame.data[s + 2];
    for (let c = 0; c < 3; c++) {
      out[i * 3 + c] = Math.round(tint ? (1 - BLEND) * gray + BLEND * tint[c] : gray);
    }
  }
  return { data: out, width, height, channels: 3 };
}

/** The frame's first three channels. */
function rgbOf(frame: ImageU8): ImageU8 {
  if (frame.channels === 3) return frame;
  if (frame.channels < 3) throw new Error(`expected an RGB frame, got ${frame.channels} channel(s)`);
  const n = frame.width * frame.height;
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) data[i * 3 + c] = frame.data[i * frame.channels + c];
  }
  return { ...frame, data, channels: 3 };
}

/** One expression's row of a sheet: its label and, per frame of the video, both masks. */
export interface SheetRow {
  label: string;
  gt: readonly Uint8Array[];
  pred: readonly Uint8Array[];
}

/** Options of {@link errorSheetPng}. */
export interface ErrorSheetOptions {
  /** Width of each tile (default: twice a frame under 160 wide, else the frame's, at most 240). */
  tileWidth?: number;
  /** First line of the sheet (default: the colour legend). */
  title?: string;
}

/** The legend written on top of a sheet. */
export const LEGEND =
  "first row: the frames · then per expression: yellow predicted target, blue missed target, red predicted but not a target";

/**
 * One sheet as PNG bytes (needs `--allow-ffi` for sharp): a row of `frames` in colour, then one row per
 * expression with its masks of those frames (`rows[r].gt[k]` and `.pred[k]` belong to `frames[k]`).
 */
export async function errorSheetPng(
  frames: readonly ImageU8[],
  rows: readonly SheetRow[],
  options: ErrorSheetOptions = {},
): Promise<Uint8Array> {
  if (frames.length === 0) throw new Error("errorSheetPng: no frames");
  if (rows.length === 0) throw new Error("errorSheetPng: no expressions");
  for (const r of rows) {
    if (r.gt.length !== frames.length || r.pred.length !== frames.length) {
      throw new Error(
        `errorSheetPng: ${frames.length} frames but "${r.label}" has ${r.gt.length} ground-truth and ${r.pred.length} predicted masks`,
      );
    }
  }
  const sharp = (await import("sharp")).default as typeof sharpModule;
  const { width: fw, height: fh } = frames[0];
  const tw = Math.max(16, Math.round(options.tileWidth ?? (fw < 160 ? 2 * fw : Math.min(fw, 240))));
  const th = Math.max(1, Math.round((fh * tw) / fw));
  const width = frames.length * tw + (frames.length + 1) * GAP;
  const rowHeight = TEXT_HEIGHT + th + GAP;
  const height = TEXT_HEIGHT + (rows.length + 1) * (th + GAP) + rows.length * TEXT_HEIGHT + GAP;
  const texts = [
    `<text x="${GAP}" y="${TEXT_HEIGHT - 5}" fill="#bbb">${escapeXml(options.title ?? LEGEND)}</text>`,
  ];
  const tiles: { input: Buffer; left: number; top: number }[] = [];
  const tile = async (img: ImageU8, left: number, top: number) => {
    const input = await sharp(img.data, { raw: { width: fw, height: fh, channels: 3 } })
      .resize(tw, th, { fit: "fill", kernel: tw > fw ? "nearest" : "lanczos3" })
      .png()
      .toBuffer();
    tiles.push({ input, left, top });
  };
  for (let k = 0; k < frames.length; k++) {
    const frame = frames[k];
    if (frame.width !== fw || frame.height !== fh) {
      throw new Error(`errorSheetPng: frame ${k} is ${frame.height}x${frame.width}, frame 0 is ${fh}x${fw}`);
    }
    await tile(rgbOf(frame), GAP + k * (tw + GAP), TEXT_HEIGHT);
  }
  for (let r = 0; r < rows.length; r++) {
    const top = TEXT_HEIGHT + (th + GAP) + r * rowHeight + TEXT_HEIGHT;
    texts.push(`<text x="${GAP}" y="${top - 5}" fill="#f0f0f0">${escapeXml(rows[r].label)}</text>`);
    for (let k = 0; k < frames.length; k++) {
      await tile(errorTint(frames[k], rows[r].gt[k], rows[r].pred[k]), GAP + k * (tw + GAP), top);
    }
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `font-family="DejaVu Sans, sans-serif" font-size="12">${texts.join("")}</svg>`;
  const png = await sharp({ create: { width, height, channels: 3, background: { r: 24, g: 24, b: 24 } } })
    .composite([{ input: Buffer.from(svg), top: 0, left: 0 }, ...tiles])
    .png({ compressionLevel: 9 })
    .toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

/** Options of {@link writeErrorSheets}. */
export interface WriteErrorSheetsOptions {
  /** The split's folder: `mask_dict.json` and `JPEGImages/<video>/<frame>.jpg`. */
  splitDir: string;
  /** The expressions file (default `splitDir/meta_expressions.json`; MeViS's prepared files differ). */
  metaPath?: string;
  /** Predictions: `<predDir>/<video>/<exp_id>/<frame>.png`. */
  predDir: string;
  /** Where `<video>.png` go. */
  outDir: string;
  /** How many videos, in the expressions file's order (default: all). */
  videos?: number;
  /** Frames shown per video, evenly spaced (default 6). */
  frames?: number;
  /** J and F by `<video>_<exp_id>` for the labels (a results file's `per_expression`); else scored here. */
  scores?: Readonly<Record<string, readonly [number, number]>>;
}

/**
 * Writes an error sheet for each of the first `videos` videos of a split (each atomically, as
 * `outDir/<video>.png`) and returns their paths. Videos without a predictions folder are skipped.
 */
export async function writeErrorSheets(o: WriteErrorSheetsOptions): Promise<string[]> {
  const metaPath = o.metaPath ?? join(o.splitDir, "meta_expressions.json");
  const { meta, maskDict } = await loadSplit({ metaPath, maskPath: join(o.splitDir, "mask_dict.json") });
  const types = await readExpressionTypes(metaPath, await readExpected(metaPath));
  const jobs = expressionJobs(meta, maskDict, metaPath);
  const written: string[] = [];
  for (const video of Object.keys(meta.videos).slice(0, o.videos ?? Infinity)) {
    const videoJobs = jobs.filter((j) => j.video === video);
    if (videoJobs.length === 0 || !(await isDir(join(o.predDir, video)))) continue;
    const names = meta.videos[video].frames;
    const shown = sheetFrames(names.length, o.frames ?? 6);
    const frames = await Promise.all(
      shown.map((t) => readImage(join(o.splitDir, "JPEGImages", video, `${names[t]}.jpg`))),
    );
    const rows = videoJobs.map((job) => {
      const key = `${video}_${job.expId}`;
      const [j, f] = o.scores?.[key] ?? (({ j, f }) => [j, f])(scoreExpression(job, o.predDir));
      const type = types.get(key)?.join(", ");
      const sentence = meta.videos[video].expressions[job.expId].exp ?? `expression ${job.expId}`;
      return {
        label: `"${sentence}"${type ? `  ${type}` : ""}  J ${j.toFixed(2)}  F ${f.toFixed(2)}`,
        gt: shown.map((t, k) => groundTruth(job, t, frames[k])),
        pred: shown.map((t, k) =>
          prediction(join(o.predDir, video, job.expId, `${names[t]}.png`), frames[k])
        ),
      };
    });
    const path = join(o.outDir, `${video}.png`);
    await Deno.mkdir(o.outDir, { recursive: true });
    await writeFileAtomic(path, await errorSheetPng(frames, rows));
    written.push(path);
  }
  return written;
}

/** The expression's ground truth of frame `t` (the union of its objects) at `frame`'s size. */
function groundTruth(job: ExpressionJob, t: number, frame: ImageU8): Uint8Array {
  const mask = new Uint8Array(frame.width * frame.height);
  job.masks.forEach((list, a) => {
    const rle = list[t];
    if (!rle) return;
    if (rle.size[0] !== frame.height || rle.size[1] !== frame.width) {
      throw new Error(
        `anno id ${job.annoIds[a]} frame ${job.frames[t]} is ${rle.size[0]}x${
          rle.size[1]
        } but its JPEG is ${frame.height}x${frame.width} (video ${job.video})`,
      );
    }
    rleDecodeAdd(rle, mask);
  });
  return mask;
}

function prediction(path: string, frame: ImageU8): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read prediction ${path}: ${(e as Error).message}`);
  }
  const png = decodePng(bytes, path);
  if (png.width !== frame.width || png.height !== frame.height) {
    throw new Error(
      `prediction ${path} is ${png.height}x${png.width}, its frame ${frame.height}x${frame.width}`,
    );
  }
  return png.data;
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * Reading and writing frame images through `sharp` (libvips). Decoding gives what detectron2's
 * `read_image(path, format="RGB")` gives the original: EXIF orientation applied, any alpha dropped, gray and
 * palette images expanded to RGB, pixel values left as stored (an embedded ICC profile is ignored, as PIL
 * ignores it). libjpeg-turbo decodes baseline JPEGs to the same bytes as PIL and OpenCV.
 *
 * Images are plain objects ({@link ImageU8}): interleaved rows (HWC) of 8-bit samples.
 *
 * Needs `--allow-ffi` (sharp is a native module) and `--allow-read` / `--allow-write` for files.
 *
 * @example
 * ```ts
 * import { encodeJpeg, readImage } from "./image.ts";
 * const frame = await readImage("datasets/mevis/train/JPEGImages/vid/00000.jpg");
 * frame.channels; // 3
 * const bytes = await encodeJpeg(frame, { quality: 95 });
 * ```
 * @module
 */

import type sharpModule from "sharp";

type Sharp = typeof sharpModule;
let sharpPromise: Promise<Sharp> | undefined;

/**
 * sharp is a native addon: it is loaded on first use, so that modules importing this one (plugins,
 * tasks that never touch images) need no `--allow-ffi`.
 */
function loadSharp(): Promise<Sharp> {
  sharpPromise ??= import("sharp").then((m) => m.default as Sharp).catch((e) => {
    sharpPromise = undefined;
    throw new Error(`cannot load sharp, the image codec (run with --allow-ffi): ${(e as Error).message}`);
  });
  return sharpPromise;
}

/** An 8-bit image: `height` rows of `width` pixels of `channels` interleaved samples. */
export interface ImageU8 {
  data: Uint8Array;
  height: number;
  width: number;
  channels: number;
}

/** Options of {@link encodeJpeg}. */
export interface JpegOptions {
  /** JPEG quality, 1 to 100 (default 90). */
  quality?: number;
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Decodes JPEG or PNG bytes (anything libvips reads) to an RGB image. `name` is used in error messages.
 *
 * @example
 * ```ts
 * import { decodeImage } from "./image.ts";
 * const img = await decodeImage(await Deno.readFile("frame.png"), "frame.png");
 * img.data.length === img.height * img.width * 3; // true
 * ```
 */
export async function decodeImage(bytes: Uint8Array, name = "<bytes>"): Promise<ImageU8> {
  try {
    const sharp = await loadSharp();
    const { data, info } = await sharp(bytes, { autoOrient: true, ignoreIcc: true, failOn: "error" })
      .removeAlpha()
      .toColourspace("srgb")
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels instead of 3`);
    const out = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return { data: out, height: info.height, width: info.width, channels: 3 };
  } catch (e) {
    throw new Error(`cannot decode image ${name}: ${describe(e)}`);
  }
}

/**
 * Reads and decodes an image file to RGB. An unreadable or undecodable file is an error naming the path.
 *
 * @example
 * ```ts
 * import { readImage } from "./image.ts";
 * const { height, width } = await readImage("frame.jpg");
 * ```
 */
export async function readImage(path: string): Promise<ImageU8> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new Error(`cannot read image ${path}: ${describe(e)}`);
  }
  return await decodeImage(bytes, path);
}

/**
 * The displayed size of an image file (after EXIF orientation) without decoding its pixels, so that clip
 * augmentations can be planned before frames are decoded.
 *
 * @example
 * ```ts
 * import { readImageSize } from "./image.ts";
 * const { height, width } = await readImageSize("frame.jpg");
 * ```
 */
export async function readImageSize(path: string): Promise<{ height: number; width: number }> {
  let size: { width?: number; height?: number };
  try {
    const sharp = await loadSharp();
    const meta = await sharp(await Deno.readFile(path)).metadata();
    size = meta.autoOrient ?? meta;
  } catch (e) {
    throw new Error(`cannot read image ${path}: ${describe(e)}`);
  }
  const { width, height } = size;
  if (!width || !height) throw new Error(`cannot read image ${path}: no size in its header`);
  return { height, width };
}

function checkForEncoding(img: ImageU8): void {
  const { data, height, width, channels } = img;
  if (channels !== 1 && channels !== 3) {
    throw new Error(`encodeJpeg: needs 1 or 3 channels, got ${channels}`);
  }
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) {
    throw new Error(`encodeJpeg: size must be positive integers, got ${height}x${width}`);
  }
  if (data.length !== height * width * channels) {
    throw new Error(`encodeJpeg: data has ${data.length} bytes, expected ${height * width * channels}`);
  }
}

/**
 * Encodes an RGB (or one-channel gray) image as a baseline JPEG with 4:2:0 chroma subsampling, the layout
 * of MeViS frames; the synthetic data generator writes its frames this way.
 *
 * @example
 * ```ts
 * import { encodeJpeg } from "./image.ts";
 * const img = { data: new Uint8Array(8 * 8 * 3).fill(128), height: 8, width: 8, channels: 3 };
 * const jpeg = await encodeJpeg(img, { quality: 95 }); // starts with 0xff 0xd8
 * ```
 */
export async function encodeJpeg(img: ImageU8, options: JpegOptions = {}): Promise<Uint8Array> {
  checkForEncoding(img);
  const quality = options.quality ?? 90;
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw new Error(`encodeJpeg: quality must be an integer in 1..100, got ${quality}`);
  }
  const raw = { width: img.width, height: img.height, channels: img.channels as 1 | 3 };
  const sharp = await loadSharp();
  let pipeline = sharp(img.data, { raw });
  // A one-channel input would otherwise be written as a three-channel JPEG.
  if (img.channels === 1) pipeline = pipeline.toColourspace("b-w");
  const buf = await pipeline.jpeg({ quality, chromaSubsampling: "4:2:0" }).toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/**
 * Encodes `img` as JPEG (see {@link encodeJpeg}) and writes it to `path`; errors name the path.
 *
 * @example
 * ```ts
 * import { writeJpeg } from "./image.ts";
 * const img = { data: new Uint8Array(4 * 4 * 3), height: 4, width: 4, channels: 3 };
 * await writeJpeg("out/00000.jpg", img);
 * ```
 */
export async function writeJpeg(path: string, img: ImageU8, options: JpegOptions = {}): Promise<void> {
  const bytes = await encodeJpeg(img, options);
  try {
    await Deno.writeFile(path, bytes);
  } catch (e) {
    throw new Error(`cannot write image ${path}: ${describe(e)}`);
  }
}

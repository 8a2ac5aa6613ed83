/**
 * The model's image preprocessing: per-channel normalisation with `MODEL.PIXEL_MEAN` / `PIXEL_STD`,
 * then detectron2's `ImageList.from_tensors`: images of different sizes are stacked into one batch,
 * padded at the bottom and right with 0 (in normalised space, as the padding happens after the
 * normalisation) up to the largest height and width rounded up to `sizeDivisibility`.
 *
 * @example
 * ```ts
 * import { imageListFromImages } from "./image_list.ts";
 * const img = { data: new Uint8Array(3 * 20 * 30).fill(128), shape: [3, 20, 30] as [number, number, number] };
 * const list = imageListFromImages([img], {
 *   pixelMean: [123.675, 116.28, 103.53], pixelStd: [58.395, 57.12, 57.37], sizeDivisibility: 32,
 * });
 * list.tensor.shape; // [1, 3, 32, 32]
 * list.imageSizes; // [[20, 30]]
 * list.tensor.dispose();
 * ```
 * @module
 */
import * as ops from "../../../core/tensor/ops.ts";
import type { Tensor } from "../../../core/tensor/ops.ts";

/** One channels-first image: a `[C, H, W]` tensor, or host data (e.g. a data set's `uint8` frame). */
export type ImageInput = Tensor | {
  data: Uint8Array | Float32Array;
  shape: readonly [number, number, number];
};

/** detectron2's `ImageList`: the padded batch and each image's size before padding. */
export interface ImageList {
  /** `[N, C, Hp, Wp]` float32. */
  tensor: Tensor;
  /** `(h, w)` of every image before padding. */
  imageSizes: [number, number][];
}

/** Normalisation and padding settings (the model's `pixel_mean`, `pixel_std`, `size_divisibility`). */
export interface ImagePreprocessOptions {
  pixelMean: readonly number[];
  pixelStd: readonly number[];
  /** Pad sides to a multiple of this; 0 or 1: no rounding. */
  sizeDivisibility: number;
}

/**
 * The padded size of a batch: the largest `(h, w)`, each rounded up to a multiple of
 * `sizeDivisibility` when it is above 1.
 *
 * @example
 * ```ts
 * import { paddedSize } from "./image_list.ts";
 * paddedSize([[448, 797], [448, 600]], 32); // [448, 800]
 * ```
 */
export function paddedSize(
  sizes: readonly (readonly [number, number])[],
  sizeDivisibility: number,
): [number, number] {
  if (sizes.length === 0) throw new Error("paddedSize: no images");
  let h = Math.max(...sizes.map((s) => s[0]));
  let w = Math.max(...sizes.map((s) => s[1]));
  if (sizeDivisibility > 1) {
    h = Math.ceil(h / sizeDivisibility) * sizeDivisibility;
    w = Math.ceil(w / sizeDivisibility) * sizeDivisibility;
  }
  return [h, w];
}

/**
 * `(x - pixelMean) / pixelStd` per channel for each image, then the padded batch (see the module
 * doc). The returned tensor is the caller's to dispose.
 */
export function imageListFromImages(images: readonly ImageInput[], opts: ImagePreprocessOptions): ImageList {
  if (images.length === 0) throw new Error("imageListFromImages: no images");
  const c = opts.pixelMean.length;
  if (opts.pixelStd.length !== c) {
    throw new Error(`PIXEL_MEAN has ${c} values but PIXEL_STD ${opts.pixelStd.length}`);
  }
  const shapes = images.map((img) => [...img.shape] as number[]);
  shapes.forEach((s, i) => {
    if (s.length !== 3 || s[0] !== c) {
      throw new Error(`image ${i}: expected [${c}, H, W] (channels first), got [${s}]`);
    }
  });
  const imageSizes = shapes.map((s) => [s[1], s[2]] as [number, number]);
  const [hp, wp] = paddedSize(imageSizes, opts.sizeDivisibility);
  const tensor = ops.tidy(() => {
    const mean = ops.tensor([...opts.pixelMean], [c, 1, 1]);
    const std = ops.tensor([...opts.pixelStd], [c, 1, 1]);
    const padded = images.map((img, i) => {
      const x = isTensor(img)
        ? ops.cast(img, "float32")
        : ops.tensor(Float32Array.from(img.data), [...img.shape]);
      const normed = ops.div(ops.sub(x, mean), std);
      const [h, w] = imageSizes[i];
      return ops.pad(normed, [[0, 0], [0, hp - h], [0, wp - w]]);
    });
    return ops.stack(padded, 0);
  });
  return { tensor, imageSizes };
}

function isTensor(x: ImageInput): x is Tensor {
  return typeof (x as Tensor).dataSync === "function";
}

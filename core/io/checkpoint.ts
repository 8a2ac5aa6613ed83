/**
 * One entry point for every checkpoint format the project reads. {@link readCheckpoint} looks at the
 * file's first bytes (never its name) and picks the reader:
 *
 * | format         | recognised by                               | tensors from                         |
 * | -------------- | ------------------------------------------- | ------------------------------------ |
 * | `torch-zip`    | zip signature `PK\x03\x04`                  | `model` / `state_dict`, or bare dict |
 * | `safetensors`  | 8-byte header length, then `{`              | every tensor; metadata → `extra`     |
 * | `torch-legacy` | pickle of the magic number 0x1950a86a20f9469cfc6c | as `torch-zip`                  |
 * | `pickle`       | a pickle protocol 0 to 5 (detectron2 `.pkl`)| `model` / `blobs`, or bare dict      |
 *
 * Nothing in a file is executed: pickles resolve globals only through fixed allow-lists.
 *
 * @example
 * ```ts
 * import { readCheckpoint } from "./checkpoint.ts";
 * const ckpt = await readCheckpoint("model_final.pth");
 * ckpt.format; // "torch-zip"
 * ckpt.tensors.get("sem_seg_head.predictor.class_embed.weight"); // { dtype, shape, data }
 * ckpt.extra.iteration; // 54999
 * ```
 * @module
 */
import {
  type CheckpointContents,
  CheckpointFormatError,
  readDetectron2Pickle,
  splitCheckpoint,
} from "./detectron2_checkpoint.ts";
import { readSafetensors } from "./safetensors.ts";
import { isTorchLegacy, isZip, readTorchLegacy, readTorchZip } from "./torch_checkpoint.ts";

export { CheckpointFormatError };
export type { CheckpointContents };

/** The formats {@link readCheckpoint} recognises. */
export type CheckpointFormat = "safetensors" | "torch-zip" | "torch-legacy" | "pickle";

/** A checkpoint read into memory. */
export interface Checkpoint extends CheckpointContents {
  format: CheckpointFormat;
}

/** The dict keys under which PyTorch checkpoints keep their state dict, in order of preference. */
export const TORCH_WRAPPER_KEYS: readonly string[] = ["model", "state_dict"];

/**
 * The format of checkpoint bytes, judged from their start, or undefined if none matches.
 *
 * @example
 * ```ts
 * sniffCheckpointFormat(await Deno.readFile("w.safetensors")); // "safetensors"
 * ```
 */
export function sniffCheckpointFormat(bytes: Uint8Array): CheckpointFormat | undefined {
  if (isZip(bytes)) return "torch-zip";
  if (bytes.length >= 9 && bytes[8] === 0x7b) {
    const headerLen = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
    if (headerLen <= BigInt(bytes.length - 8)) return "safetensors";
  }
  if (isTorchLegacy(bytes)) return "torch-legacy";
  // PROTO 0-5, or the opcodes a protocol 0/1 pickle of a dict usually starts with: ( } c
  if ((bytes[0] === 0x80 && bytes[1] <= 5) || bytes[0] === 0x28 || bytes[0] === 0x7d || bytes[0] === 0x63) {
    return "pickle";
  }
  return undefined;
}

/**
 * Parses checkpoint bytes of any supported format; `source` names them in error messages.
 *
 * @example
 * ```ts
 * const { tensors, extra } = parseCheckpoint(bytes, "upload.pkl");
 * ```
 */
export function parseCheckpoint(bytes: Uint8Array, source = "<buffer>"): Checkpoint {
  const format = sniffCheckpointFormat(bytes);
  switch (format) {
    case "safetensors": {
      const { tensors, metadata } = readSafetensors(bytes, source);
      return { format, tensors, extra: { ...metadata } };
    }
    case "torch-zip":
      return { format, ...splitCheckpoint(readTorchZip(bytes, source), TORCH_WRAPPER_KEYS, source) };
    case "torch-legacy":
      return { format, ...splitCheckpoint(readTorchLegacy(bytes, source), TORCH_WRAPPER_KEYS, source) };
    case "pickle":
      return { format, ...readDetectron2Pickle(bytes, source) };
    case undefined:
      throw new CheckpointFormatError(
        `${source}: unrecognised checkpoint format (expected safetensors, a PyTorch .pth in zip or legacy ` +
          `format, or a pickle .pkl)`,
      );
  }
}

/**
 * Reads a checkpoint file of any supported format.
 *
 * @example
 * ```ts
 * const { format, tensors, extra } = await readCheckpoint("weights/model_final.pkl");
 * ```
 */
export async function readCheckpoint(path: string): Promise<Checkpoint> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new CheckpointFormatError(`${path}: cannot read (${(e as Error).message})`);
  }
  return parseCheckpoint(bytes, path);
}

/**
 * safetensors reading and writing: an 8-byte little-endian header length, a JSON header of
 * `{name: {dtype, shape, data_offsets}}` (plus an optional `__metadata__` of strings), then the raw
 * little-endian data. The header is validated and every offset bounds-checked before any data is read.
 *
 * @example
 * ```ts
 * import { readSafetensors } from "./safetensors.ts";
 * const file = readSafetensors(await Deno.readFile("weights.safetensors"), "weights.safetensors");
 * const w = file.tensors.get("linear.weight"); // { dtype, shape, data }
 * ```
 * @module
 */

/** Element types of the safetensors format that this reader understands. */
export type SafeDType = "F64" | "F32" | "F16" | "BF16" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL";

/** Typed data of one tensor: floats widen to Float32Array (F64 stays Float64Array). */
export type TensorData =
  | Float32Array
  | Float64Array
  | Int32Array
  | BigInt64Array
  | Int16Array
  | Int8Array
  | Uint8Array;

/** One tensor as stored. */
export interface NamedTensor {
  dtype: SafeDType;
  shape: number[];
  /** F16/BF16 are widened to Float32Array; I64 is a BigInt64Array; BOOL a Uint8Array of 0/1. */
  data: TensorData;
}

/** A parsed safetensors file. */
export interface SafetensorsFile {
  tensors: Map<string, NamedTensor>;
  metadata: Record<string, string>;
}

const ITEM_SIZE: Record<SafeDType, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** Raised for a malformed file; the message names the file and what is wrong. */
export class SafetensorsError extends Error {
  override name = "SafetensorsError";
}

/** Parses a safetensors byte buffer. `source` names the file in error messages. */
export function readSafetensors(bytes: Uint8Array, source = "<buffer>"): SafetensorsFile {
  const fail = (msg: string): never => {
    throw new SafetensorsError(`${source}: ${msg}`);
  };
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > bytes.length - 8) {
    fail(`header length ${headerLen} runs past the end of the file (${bytes.length} bytes): truncated?`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    return fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    fail("header is not a JSON object");
  }
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const tensors = new Map<string, NamedTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = raw as Record<string, string>;
      continue;
    }
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = info?.dtype as SafeDType;
    if (!(dtype in ITEM_SIZE)) fail(`tensor "${name}" has unsupported dtype ${JSON.stringify(info?.dtype)}`);
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      fail(`tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
    }
    const offsets = info.data_offsets;
    if (
      !Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0)
    ) {
      fail(`tensor "${name}" has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataLen) {
      fail(`tensor "${name}" data_offsets [${begin}, ${end}] point past the data section (${dataLen} bytes)`);
    }
    const numel = (shape as number[]).reduce((p, d) => p * d, 1);
    if (end - begin !== numel * ITEM_SIZE[dtype]) {
      fail(
        `tensor "${name}" has ${end - begin} bytes but shape ${JSON.stringify(shape)} of ${dtype} needs ${
          numel * ITEM_SIZE[dtype]
        }`,
      );
    }
    const slice = bytes.subarray(dataStart + begin, dataStart + end);
    tensors.set(name, { dtype, shape: shape as number[], data: decode(dtype, slice, numel) });
  }
  return { tensors, metadata };
}

function decode(dtype: SafeDType, src: Uint8Array, n: number): TensorData {
  // Copy into an aligned buffer: offsets in the file need not be aligned to the element size.
  const buf = src.slice().buffer;
  const dv = new DataView(buf);
  switch (dtype) {
    case "F64":
      return new Float64Array(buf);
    case "F32":
      return new Float32Array(buf);
    case "I64":
      return new BigInt64Array(buf);
    case "I32":
      return new Int32Array(buf);
    case "I16":
      return new Int16Array(buf);
    case "I8":
      return new Int8Array(buf);
    case "U8":
    case "BOOL":
      return new Uint8Array(buf);
    case "F16": {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(2 * i, true));
      return out;
    }
    case "BF16": {
      const out = new Float32Array(n);
      const u32 = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) u32[i] = dv.getUint16(2 * i, true) << 16;
      return out;
    }
  }
}

/** IEEE 754 half precision bits to a number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Reads and parses a safetensors file from disk. */
export async function loadSafetensors(path: string): Promise<SafetensorsFile> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new SafetensorsError(`${path}: cannot read (${(e as Error).message})`);
  }
  return readSafetensors(bytes, path);
}

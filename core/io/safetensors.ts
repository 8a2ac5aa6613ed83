/**
 * safetensors reading and writing: an 8-byte little-endian header length, a JSON header of
 * `{name: {dtype, shape, data_offsets}}` (plus an optional `__metadata__` of strings), then the raw
 * little-endian data. The header is validated and every offset bounds-checked before any data is read.
 *
 * The checks follow the reference implementation (huggingface/safetensors): the header is at most
 * 100 MB, starts with `{`, and the tensors' byte ranges, taken in offset order, tile the data section
 * exactly (no gap, no overlap, nothing after the last tensor). The writer lays files out as the
 * reference does: tensors sorted by descending dtype alignment then by name, the header padded with
 * spaces to a multiple of 8 bytes so that every tensor starts aligned.
 *
 * @example
 * ```ts
 * import { readSafetensors, writeSafetensors } from "./safetensors.ts";
 * const bytes = writeSafetensors({ "linear.weight": { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) } });
 * const file = readSafetensors(bytes, "weights.safetensors");
 * const w = file.tensors.get("linear.weight"); // { dtype, shape, data }
 * ```
 * @module
 */
import { writeFileAtomic } from "./atomic.ts";

/** Element types of the safetensors format that this module understands. */
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

/** A tensor to write: typed data in C order, or any array of numbers (I64 also takes a BigInt64Array). */
export interface TensorInput {
  dtype: SafeDType;
  shape: readonly number[];
  data: TensorData | ArrayLike<number>;
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

// The reference's Dtype enum order (increasing alignment); the writer sorts by it, descending.
const DTYPE_RANK: Record<SafeDType, number> = {
  BOOL: 0,
  U8: 1,
  I8: 2,
  I16: 3,
  F16: 4,
  BF16: 5,
  I32: 6,
  F32: 7,
  F64: 8,
  I64: 9,
};

/** The reference implementation's limit on the header size. */
export const MAX_HEADER_BYTES = 100_000_000;

/** Raised for a malformed file; the message names the file and what is wrong. */
export class SafetensorsError extends Error {
  override name = "SafetensorsError";
}

/** Bytes per element of `dtype`. */
export function dtypeSize(dtype: SafeDType): number {
  return ITEM_SIZE[dtype];
}

/** Whether `name` is a dtype this module understands. */
export function isSafeDType(name: unknown): name is SafeDType {
  return typeof name === "string" && Object.hasOwn(ITEM_SIZE, name);
}

/** Number of elements of a shape (1 for a scalar). */
export function numelOf(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

/** Parses a safetensors byte buffer. `source` names the file in error messages. */
export function readSafetensors(bytes: Uint8Array, source = "<buffer>"): SafetensorsFile {
  const fail = (msg: string): never => {
    throw new SafetensorsError(`${source}: ${msg}`);
  };
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > MAX_HEADER_BYTES) fail(`header length ${headerLen} exceeds ${MAX_HEADER_BYTES} bytes`);
  if (headerLen > bytes.length - 8) {
    fail(`header length ${headerLen} runs past the end of the file (${bytes.length} bytes): truncated?`);
  }
  if (bytes[8] !== 0x7b) fail(`header does not start with "{"`);
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
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: SafeDType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") {
      if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
        fail("__metadata__ is not an object");
      }
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== "string") fail(`__metadata__ value of "${k}" is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    const dtype = info?.dtype;
    if (!isSafeDType(dtype)) fail(`tensor "${name}" has unsupported dtype ${JSON.stringify(dtype)}`);
    const shape = info!.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
    }
    const offsets = info!.data_offsets;
    if (
      !Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)
    ) {
      fail(`tensor "${name}" has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataLen) {
      fail(`tensor "${name}" data_offsets [${begin}, ${end}] point past the data section (${dataLen} bytes)`);
    }
    const size = ITEM_SIZE[dtype as SafeDType];
    const numel = numelOf(shape as number[]);
    if (end - begin !== numel * size) {
      fail(
        `tensor "${name}" has ${end - begin} bytes but shape ${JSON.stringify(shape)} of ${dtype} needs ${
          numel * size
        }`,
      );
    }
    entries.push({ name, dtype: dtype as SafeDType, shape: shape as number[], begin, end });
  }
  // In offset order the byte ranges must tile the data section: a gap or an overlap means a corrupt file.
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const e of byOffset) {
    if (e.begin !== expected) {
      fail(
        e.begin < expected
          ? `tensor "${e.name}" data_offsets [${e.begin}, ${e.end}] overlap the previous tensor (ends at ${expected})`
          : `tensor "${e.name}" data_offsets [${e.begin}, ${e.end}] leave a gap after byte ${expected}`,
      );
    }
    expected = e.end;
  }
  if (expected !== dataLen) {
    fail(
      `the tensors cover ${expected} bytes but the data section has ${dataLen}: trailing or missing bytes`,
    );
  }
  const tensors = new Map<string, NamedTensor>();
  for (const e of entries) {
    const data = decodeTensorData(e.dtype, bytes.subarray(dataStart + e.begin, dataStart + e.end));
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata };
}

/**
 * Decodes little-endian element bytes into this module's typed arrays (F16/BF16 widened to
 * Float32Array, BOOL as 0/1 bytes). Always copies, so the result never aliases `src`.
 *
 * @example
 * ```ts
 * decodeTensorData("F32", new Uint8Array([0, 0, 128, 63])); // Float32Array [1]
 * ```
 */
export function decodeTensorData(dtype: SafeDType, src: Uint8Array): TensorData {
  const n = src.length / ITEM_SIZE[dtype];
  if (!Number.isInteger(n)) {
    throw new RangeError(`${src.length} bytes is not a whole number of ${dtype} elements`);
  }
  // Copy into an aligned buffer: offsets in a file need not be aligned to the element size.
  const buf = src.slice().buffer;
  const dv = new DataView(buf);
  switch (dtype) {
    case "F64":
      return LITTLE_ENDIAN
        ? new Float64Array(buf)
        : Float64Array.from({ length: n }, (_, i) => dv.getFloat64(8 * i, true));
    case "F32":
      return LITTLE_ENDIAN
        ? new Float32Array(buf)
        : Float32Array.from({ length: n }, (_, i) => dv.getFloat32(4 * i, true));
    case "I64":
      return LITTLE_ENDIAN
        ? new BigInt64Array(buf)
        : BigInt64Array.from({ length: n }, (_, i) => dv.getBigInt64(8 * i, true));
    case "I32":
      return LITTLE_ENDIAN
        ? new Int32Array(buf)
        : Int32Array.from({ length: n }, (_, i) => dv.getInt32(4 * i, true));
    case "I16":
      return LITTLE_ENDIAN
        ? new Int16Array(buf)
        : Int16Array.from({ length: n }, (_, i) => dv.getInt16(2 * i, true));
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

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** IEEE 754 half precision bits to a number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * A number to IEEE 754 half precision bits, rounding to nearest even directly from the float64
 * (no double rounding through float32).
 *
 * @example
 * ```ts
 * floatToHalf(1); // 0x3c00
 * ```
 */
export function floatToHalf(x: number): number {
  return toSmallFloat(x, 5, 10);
}

/**
 * A number to bfloat16 bits (the top half of a float32), rounding to nearest even.
 *
 * @example
 * ```ts
 * floatToBFloat16(1); // 0x3f80
 * ```
 */
export function floatToBFloat16(x: number): number {
  return toSmallFloat(x, 8, 7);
}

/** Encodes `x` into a binary float with `expBits` exponent bits and `mantBits` stored mantissa bits. */
function toSmallFloat(x: number, expBits: number, mantBits: number): number {
  const signBit = 1 << (expBits + mantBits);
  const expAll = (1 << expBits) - 1;
  if (Number.isNaN(x)) return (expAll << mantBits) | (1 << (mantBits - 1)); // quiet NaN
  const sign = x < 0 || Object.is(x, -0) ? signBit : 0;
  const a = Math.abs(x);
  const bias = expAll >> 1;
  const minNormalExp = 1 - bias;
  // Halfway between the largest finite value and the next power of two rounds to infinity (even).
  if (a >= 2 ** (bias + 1) - 2 ** (bias - mantBits - 1)) return sign | (expAll << mantBits);
  if (a < 2 ** minNormalExp) {
    // Subnormal: a whole number of the smallest steps; a carry to 1 << mantBits is the smallest normal.
    return sign | roundHalfEven(a * 2 ** (mantBits - minNormalExp));
  }
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  // a / 2^e is exact, so is the scaled fraction; a mantissa carry bumps the exponent field, as it should.
  const m = roundHalfEven((a / 2 ** e - 1) * 2 ** mantBits);
  return sign | (((e + bias) << mantBits) + m);
}

function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Serializes tensors (a Map or a plain record) and optional string metadata to safetensors bytes,
 * laid out as the reference implementation does. Throws a SafetensorsError for a data length that does
 * not match the shape, an integer out of its dtype's range or a non-0/1 BOOL.
 *
 * @example
 * ```ts
 * const bytes = writeSafetensors(
 *   { w: { dtype: "F16", shape: [2, 2], data: [1, 2, 3, 4] } },
 *   { format: "pt" },
 * );
 * ```
 */
export function writeSafetensors(
  tensors: Map<string, TensorInput> | Record<string, TensorInput>,
  metadata?: Record<string, string>,
): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  for (const [name, t] of entries) checkInput(name, t);
  entries.sort(([an, a], [bn, b]) => DTYPE_RANK[b.dtype] - DTYPE_RANK[a.dtype] || compareCodePoints(an, bn));
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") throw new SafetensorsError(`metadata value of "${k}" is not a string`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const [name, t] of entries) {
    const n = numelOf(t.shape) * ITEM_SIZE[t.dtype];
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + n] };
    offset += n;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const [name, t] of entries) {
    encodeInto(name, t, out, pos);
    pos += numelOf(t.shape) * ITEM_SIZE[t.dtype];
  }
  return out;
}

/**
 * Writes tensors to `path` as safetensors, atomically (temp file in the same folder, then rename).
 *
 * @example
 * ```ts
 * await saveSafetensors("out/model.safetensors", { b: { dtype: "F32", shape: [1], data: [0] } });
 * ```
 */
export async function saveSafetensors(
  path: string,
  tensors: Map<string, TensorInput> | Record<string, TensorInput>,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFileAtomic(path, writeSafetensors(tensors, metadata));
}

function checkInput(name: string, t: TensorInput): void {
  const fail = (msg: string): never => {
    throw new SafetensorsError(`tensor "${name}": ${msg}`);
  };
  if (name === "__metadata__") fail("the name __metadata__ is reserved");
  if (!isSafeDType(t.dtype)) fail(`unsupported dtype ${JSON.stringify(t.dtype)}`);
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(`invalid shape ${JSON.stringify(t.shape)}`);
  }
  const n = numelOf(t.shape);
  if (t.data.length !== n) fail(`${t.data.length} values but shape ${JSON.stringify(t.shape)} holds ${n}`);
  if (t.data instanceof BigInt64Array && t.dtype !== "I64") fail(`BigInt64Array data for dtype ${t.dtype}`);
}

const INT_RANGE: Partial<Record<SafeDType, [number, number]>> = {
  I32: [-(2 ** 31), 2 ** 31 - 1],
  I16: [-32768, 32767],
  I8: [-128, 127],
  U8: [0, 255],
  BOOL: [0, 1],
};

// The typed array whose bytes are already the file's bytes for each dtype (on a little-endian host).
const NATIVE: Partial<Record<SafeDType, abstract new (...args: never[]) => ArrayBufferView>> = {
  F64: Float64Array,
  F32: Float32Array,
  I64: BigInt64Array,
  I32: Int32Array,
  I16: Int16Array,
  I8: Int8Array,
  U8: Uint8Array,
};

function encodeInto(name: string, t: TensorInput, out: Uint8Array, pos: number): void {
  const { dtype, data } = t;
  const n = data.length;
  const native = NATIVE[dtype];
  if (LITTLE_ENDIAN && native && data instanceof native) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), pos);
    return;
  }
  const dv = new DataView(out.buffer, out.byteOffset + pos, n * ITEM_SIZE[dtype]);
  if (dtype === "I64") {
    for (let i = 0; i < n; i++) {
      const v = data[i];
      if (typeof v !== "bigint" && !Number.isSafeInteger(v)) {
        throw new SafetensorsError(`tensor "${name}": element ${i} (${v}) is not an exact I64 integer`);
      }
      dv.setBigInt64(8 * i, BigInt(v), true);
    }
    return;
  }
  const values = data as ArrayLike<number>;
  const range = INT_RANGE[dtype];
  if (range) {
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (!Number.isInteger(v) || v < range[0] || v > range[1]) {
        throw new SafetensorsError(`tensor "${name}": element ${i} (${v}) is out of range for ${dtype}`);
      }
    }
  }
  for (let i = 0; i < n; i++) {
    const v = values[i];
    switch (dtype) {
      case "F64":
        dv.setFloat64(8 * i, v, true);
        break;
      case "F32":
        dv.setFloat32(4 * i, v, true);
        break;
      case "F16":
        dv.setUint16(2 * i, floatToHalf(v), true);
        break;
      case "BF16":
        dv.setUint16(2 * i, floatToBFloat16(v), true);
        break;
      case "I32":
        dv.setInt32(4 * i, v, true);
        break;
      case "I16":
        dv.setInt16(2 * i, v, true);
        break;
      case "I8":
        dv.setInt8(i, v);
        break;
      case "U8":
      case "BOOL":
        dv.setUint8(i, v);
        break;
    }
  }
}

/** Orders strings by Unicode code point (as Rust's byte-wise UTF-8 comparison does). */
function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return (x.done ? 0 : 1) - (y.done ? 0 : 1);
    const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (d !== 0) return d;
  }
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

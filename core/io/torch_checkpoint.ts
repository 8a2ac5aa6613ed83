/**
 * PyTorch `torch.save` files, read without Python and without running anything from them.
 *
 * - Zip format (PyTorch ≥ 1.6): `<prefix>/data.pkl` (the pickled object, whose tensors point at
 *   storages through persistent ids `('storage', StorageClass, key, location, numel)`) and
 *   `<prefix>/data/<key>` (each storage's raw little-endian bytes); any prefix name is accepted.
 * - Legacy format: pickles back to back (magic number 0x1950a86a20f9469cfc6c, protocol version 1001,
 *   system info, the object whose persistent ids may carry a view `(view_key, offset, size)`, the list
 *   of storage keys), then each storage as an 8-byte element count and its bytes.
 *
 * Tensors are rebuilt with their storage offset and strides into contiguous C-order
 * {@link NamedTensor}s (float32/16, bfloat16, float64, int64/32/16/8, uint8, bool); the rest of the
 * object keeps the pickle mapping (dict → Map, list/tuple → Array, ...).
 *
 * @example
 * ```ts
 * import { readTorchCheckpoint } from "./torch_checkpoint.ts";
 * const obj = readTorchCheckpoint(await Deno.readFile("model_final.pth"), "model_final.pth");
 * const stateDict = (obj as Map<string, unknown>).get("model"); // Map<string, NamedTensor>
 * ```
 * @module
 */
import { unzipSync } from "fflate";
import {
  BUILTIN_GLOBALS,
  byteSwap,
  callGlobal,
  gatherStrided,
  type PickleGlobal,
  type PickleGlobals,
  PyGlobal,
  unpickleAt,
} from "./pickle.ts";
import {
  decodeTensorData,
  dtypeSize,
  type NamedTensor,
  type SafeDType,
  type TensorData,
} from "./safetensors.ts";

/** A malformed or unsupported PyTorch checkpoint; the message names the file. */
export class TorchCheckpointError extends Error {
  override name = "TorchCheckpointError";
}

/** The magic number that starts a legacy `torch.save` file. */
export const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

const STORAGE_DTYPES: Record<string, SafeDType> = {
  FloatStorage: "F32",
  DoubleStorage: "F64",
  HalfStorage: "F16",
  BFloat16Storage: "BF16",
  LongStorage: "I64",
  IntStorage: "I32",
  ShortStorage: "I16",
  CharStorage: "I8",
  ByteStorage: "U8",
  BoolStorage: "BOOL",
};

/** A storage named by a persistent id; its bytes are fetched when tensors are materialized. */
class StorageRef {
  constructor(readonly key: string, readonly dtype: SafeDType, readonly elementOffset: number) {}
}

/** A tensor as `_rebuild_tensor_v2` describes it: a strided view into a storage. */
class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly size: number[],
    readonly stride: number[],
  ) {}
}

function intList(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => Number.isSafeInteger(x) && x >= 0)) {
    throw new Error(`${what} is not a tuple of non-negative integers`);
  }
  return v as number[];
}

function rebuildTensor([storage, offset, size, stride]: unknown[]): TensorRef {
  if (!(storage instanceof StorageRef)) throw new Error("the first argument is not a storage");
  if (!Number.isSafeInteger(offset) || (offset as number) < 0) {
    throw new Error(`invalid storage offset ${offset}`);
  }
  const shape = intList(size, "size");
  const strides = intList(stride, "stride");
  if (shape.length !== strides.length) {
    throw new Error(`size [${shape}] and stride [${strides}] differ in length`);
  }
  return new TensorRef(storage, offset as number, shape, strides);
}

const marker: PickleGlobal = {};

/**
 * The reconstructors a PyTorch checkpoint may name: `torch._utils._rebuild_tensor(_v2)`,
 * `_rebuild_parameter(_with_state)`, `torch._tensor._rebuild_from_type_v2`, the typed storage classes
 * (as markers), plus {@link BUILTIN_GLOBALS}.
 */
export const TORCH_GLOBALS: PickleGlobals = {
  ...BUILTIN_GLOBALS,
  "torch._utils._rebuild_tensor": { call: rebuildTensor },
  "torch._utils._rebuild_tensor_v2": { call: rebuildTensor },
  // A Parameter is its data; requires_grad, hooks and extra state do not matter to a reader.
  "torch._utils._rebuild_parameter": { call: ([data]) => data },
  "torch._utils._rebuild_parameter_with_state": { call: ([data]) => data },
  "torch._tensor._rebuild_from_type_v2": {
    call: ([fn, , args]) => callGlobal(fn, Array.isArray(args) ? args : []),
  },
  "torch.Tensor": marker,
  "torch.nn.parameter.Parameter": marker,
  ...Object.fromEntries(Object.keys(STORAGE_DTYPES).map((name) => [`torch.${name}`, marker])),
};

/** Reads the persistent id of a storage: ('storage', StorageClass, key, location, numel[, view]). */
function storageFromPid(pid: unknown, dtypes: Map<string, SafeDType>): StorageRef {
  if (!Array.isArray(pid) || pid[0] !== "storage" || pid.length < 5) {
    throw new Error("is not a ('storage', type, key, location, numel) tuple");
  }
  const [, type, key, , , view] = pid;
  if (!(type instanceof PyGlobal) || !(type.name in STORAGE_DTYPES) || type.module !== "torch") {
    throw new Error(
      `storage type ${type instanceof PyGlobal ? type.qualifiedName : String(type)} is not supported`,
    );
  }
  if (typeof key !== "string") throw new Error("storage key is not a string");
  const dtype = STORAGE_DTYPES[type.name];
  const seen = dtypes.get(key);
  if (seen !== undefined && seen !== dtype) {
    throw new Error(`storage ${key} is used as both ${seen} and ${dtype}`);
  }
  dtypes.set(key, dtype);
  if (view === undefined || view === null) return new StorageRef(key, dtype, 0);
  // Legacy storage views: (view_key, offset in elements, size).
  if (!Array.isArray(view) || !Number.isSafeInteger(view[1]) || view[1] < 0) {
    throw new Error("has an invalid view (view_key, offset, size)");
  }
  return new StorageRef(key, dtype, view[1]);
}

/**
 * Replaces every TensorRef in the object graph by a NamedTensor gathered from its storage. Storages
 * are decoded once each; containers are updated in place (the graph may share or even cycle).
 */
function materialize(root: unknown, storageBytes: (key: string) => Uint8Array, bigEndian: boolean): unknown {
  const decoded = new Map<string, TensorData>();
  const storage = (ref: StorageRef): TensorData => {
    let data = decoded.get(ref.key);
    if (!data) {
      const bytes = storageBytes(ref.key);
      const size = dtypeSize(ref.dtype);
      if (bytes.length % size !== 0) {
        throw new TorchCheckpointError(
          `storage ${ref.key} has ${bytes.length} bytes, not a whole number of ${ref.dtype}`,
        );
      }
      data = decodeTensorData(ref.dtype, bigEndian ? byteSwap(bytes, size) : bytes);
      decoded.set(ref.key, data);
    }
    return data;
  };
  const tensors = new Map<TensorRef, NamedTensor>();
  const convert = (v: unknown): unknown => {
    if (!(v instanceof TensorRef)) return v;
    let t = tensors.get(v);
    if (!t) {
      let data: TensorData;
      try {
        data = gatherStrided(storage(v.storage), v.size, v.stride, v.storage.elementOffset + v.offset);
      } catch (e) {
        if (e instanceof TorchCheckpointError) throw e;
        throw new TorchCheckpointError(`tensor in storage ${v.storage.key}: ${(e as Error).message}`);
      }
      t = { dtype: v.storage.dtype, shape: v.size, data };
      tensors.set(v, t);
    }
    return t;
  };
  const seen = new Set<unknown>();
  const visit = (v: unknown): void => {
    if (v === null || typeof v !== "object" || seen.has(v)) return;
    seen.add(v);
    if (v instanceof Map) {
      for (const [k, x] of v) {
        v.set(k, convert(x));
        visit(x);
      }
    } else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        v[i] = convert(v[i]);
        visit(v[i]);
      }
    }
  };
  const top = convert(root);
  visit(top);
  return top;
}

/** Whether `bytes` start like a zip archive (local file header or an empty archive). */
export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b &&
    ((bytes[2] === 3 && bytes[3] === 4) || (bytes[2] === 5 && bytes[3] === 6));
}

/** Whether `bytes` start with the legacy `torch.save` magic number pickle. */
export function isTorchLegacy(bytes: Uint8Array): boolean {
  try {
    return unpickleAt(bytes.subarray(0, 64)).value === LEGACY_MAGIC;
  } catch {
    return false;
  }
}

/**
 * Reads a PyTorch checkpoint in either format and returns the saved object with tensors rebuilt.
 *
 * @example
 * ```ts
 * const obj = readTorchCheckpoint(await Deno.readFile("model.pth")) as Map<string, unknown>;
 * obj.get("iteration"); // 54999
 * ```
 */
export function readTorchCheckpoint(bytes: Uint8Array, source = "<buffer>"): unknown {
  if (isZip(bytes)) return readTorchZip(bytes, source);
  if (isTorchLegacy(bytes)) return readTorchLegacy(bytes, source);
  throw new TorchCheckpointError(`${source}: neither a zip nor a legacy torch.save file`);
}

/**
 * Reads the zip format of `torch.save`.
 *
 * @example
 * ```ts
 * const obj = readTorchZip(await Deno.readFile("model.pth"), "model.pth");
 * ```
 */
export function readTorchZip(bytes: Uint8Array, source = "<buffer>"): unknown {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes);
  } catch (e) {
    throw new TorchCheckpointError(`${source}: not a readable zip archive (${(e as Error).message})`);
  }
  const names = Object.keys(entries);
  const pkls = names.filter((n) => /^([^/]+\/)?data\.pkl$/.test(n));
  if (pkls.length === 0) {
    throw new TorchCheckpointError(
      `${source}: zip has no <prefix>/data.pkl, so it is not a PyTorch checkpoint (entries: ${
        names.slice(0, 5).join(", ") || "none"
      }${names.length > 5 ? ", ..." : ""})`,
    );
  }
  if (pkls.length > 1) {
    throw new TorchCheckpointError(`${source}: zip has several data.pkl: ${pkls.join(", ")}`);
  }
  const prefix = pkls[0].slice(0, -"data.pkl".length);
  const byteorder = entries[`${prefix}byteorder`];
  const bigEndian = byteorder !== undefined && new TextDecoder().decode(byteorder).trim() === "big";
  const dtypes = new Map<string, SafeDType>();
  const { value } = unpickleAt(entries[pkls[0]], {
    globals: TORCH_GLOBALS,
    persistentLoad: (pid) => storageFromPid(pid, dtypes),
    source: `${source}:${pkls[0]}`,
  });
  return materialize(value, (key) => {
    const data = entries[`${prefix}data/${key}`];
    if (!data) {
      throw new TorchCheckpointError(`${source}: storage ${prefix}data/${key} is missing from the zip`);
    }
    return data;
  }, bigEndian);
}

/**
 * Reads the legacy (pre-1.6, `_use_new_zipfile_serialization=False`) format of `torch.save`.
 *
 * @example
 * ```ts
 * const obj = readTorchLegacy(await Deno.readFile("old.pth"), "old.pth");
 * ```
 */
export function readTorchLegacy(bytes: Uint8Array, source = "<buffer>"): unknown {
  const fail = (msg: string): never => {
    throw new TorchCheckpointError(`${source}: ${msg}`);
  };
  const magic = unpickleAt(bytes, { source });
  if (magic.value !== LEGACY_MAGIC) fail("does not start with the legacy torch.save magic number");
  const version = unpickleAt(bytes, { source, offset: magic.end });
  if (version.value !== 1001) fail(`has protocol version ${String(version.value)}, expected 1001`);
  const sysInfo = unpickleAt(bytes, { source, offset: version.end });
  const little = sysInfo.value instanceof Map ? sysInfo.value.get("little_endian") : undefined;
  const dtypes = new Map<string, SafeDType>();
  const main = unpickleAt(bytes, {
    globals: TORCH_GLOBALS,
    persistentLoad: (pid) => storageFromPid(pid, dtypes),
    source,
    offset: sysInfo.end,
  });
  const keys = unpickleAt(bytes, { source, offset: main.end });
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === "string")) {
    fail("the storage key list is not a list of strings");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const raw = new Map<string, Uint8Array>();
  let pos = keys.end;
  for (const key of keys.value as string[]) {
    const dtype = dtypes.get(key) ?? fail(`storage ${key} is listed but no tensor names its type`);
    if (pos + 8 > bytes.length) fail(`is truncated: storage ${key} has no element count at offset ${pos}`);
    const count = view.getBigInt64(pos, little !== false);
    const nbytes = Number(count) * dtypeSize(dtype);
    pos += 8;
    if (count < 0n || nbytes > bytes.length - pos) {
      fail(
        `is truncated: storage ${key} needs ${nbytes} bytes at offset ${pos}, ${bytes.length - pos} remain`,
      );
    }
    raw.set(key, bytes.subarray(pos, pos + nbytes));
    pos += nbytes;
  }
  return materialize(main.value, (key) => {
    const data = raw.get(key);
    if (!data) throw new TorchCheckpointError(`${source}: storage ${key} is not among the stored storages`);
    return data;
  }, little === false);
}

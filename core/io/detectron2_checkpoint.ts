/**
 * detectron2 / Mask2Former `.pkl` checkpoints: a pickled dict `{model: {name: numpy array}, ...}`
 * (Detectron1 files use `blobs` instead of `model`; a bare `{name: array}` dict works too). Arrays
 * become tensors, everything else (`__author__`, `matching_heuristics`, scalars) is kept as plain
 * values in `extra`. Also home of {@link splitCheckpoint}, which the PyTorch reader shares.
 *
 * @example
 * ```ts
 * import { readDetectron2Pickle } from "./detectron2_checkpoint.ts";
 * const { tensors, extra } = readDetectron2Pickle(await Deno.readFile("model_final.pkl"), "model_final.pkl");
 * extra.__author__; // "Detectron2 Model Zoo"
 * ```
 * @module
 */
import { BUILTIN_GLOBALS, NUMPY_GLOBALS, PyGlobal, unpickle } from "./pickle.ts";
import { isSafeDType, type NamedTensor } from "./safetensors.ts";

/** Tensors by name plus the checkpoint's other entries as plain values. */
export interface CheckpointContents {
  tensors: Map<string, NamedTensor>;
  /** Non-tensor entries: dicts with string or int keys become objects, tuples arrays, tensors NamedTensors. */
  extra: Record<string, unknown>;
}

/** A checkpoint whose structure is not what its format promises; the message names the file. */
export class CheckpointFormatError extends Error {
  override name = "CheckpointFormatError";
}

/** Whether `v` is a tensor as the readers produce it: `{dtype, shape, data}`. */
export function isNamedTensor(v: unknown): v is NamedTensor {
  if (v === null || typeof v !== "object") return false;
  const t = v as Partial<NamedTensor>;
  return isSafeDType(t.dtype) && Array.isArray(t.shape) && ArrayBuffer.isView(t.data);
}

/**
 * Splits an unpickled checkpoint (a dict) into tensors and extras. The state dict is the value of the
 * first of `wrapperKeys` that holds a dict, else the top-level dict itself. Its tensor entries go to
 * `tensors`; its other entries stay in `extra[wrapperKey]` (or at the top level of `extra` for a bare
 * dict); every other top-level entry goes to `extra`.
 *
 * @example
 * ```ts
 * const root = new Map<unknown, unknown>([["model", new Map([["w", tensor]])], ["iteration", 9]]);
 * splitCheckpoint(root, ["model"]); // { tensors: Map { w }, extra: { iteration: 9 } }
 * ```
 */
export function splitCheckpoint(
  root: unknown,
  wrapperKeys: readonly string[],
  source = "<buffer>",
): CheckpointContents {
  if (!(root instanceof Map)) {
    throw new CheckpointFormatError(`${source}: the saved object is ${kind(root)}, not a dict`);
  }
  const wrapper = wrapperKeys.find((k) => root.get(k) instanceof Map);
  const stateDict = (wrapper === undefined ? root : root.get(wrapper)) as Map<unknown, unknown>;
  const tensors = new Map<string, NamedTensor>();
  const rest = new Map<unknown, unknown>();
  for (const [k, v] of stateDict) {
    if (typeof k === "string" && isNamedTensor(v)) {
      tensors.set(k, { dtype: v.dtype, shape: v.shape, data: v.data });
    } else rest.set(k, v);
  }
  const extra: Record<string, unknown> = {};
  const put = (k: unknown, v: unknown) =>
    Object.defineProperty(extra, String(k), {
      value: toPlain(v),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  if (wrapper === undefined) {
    for (const [k, v] of rest) put(k, v);
  } else {
    for (const [k, v] of root) if (k !== wrapper) put(k, v);
    if (rest.size > 0) put(wrapper, rest);
  }
  return { tensors, extra };
}

function kind(v: unknown): string {
  if (v === null) return "None";
  if (Array.isArray(v)) return "a list or tuple";
  return typeof v === "object" ? `a ${v.constructor?.name ?? "object"}` : `a ${typeof v}`;
}

/**
 * Unpickled values to plain JavaScript: dicts whose keys are all strings or numbers become objects
 * (other dicts stay Maps), tensors become `{dtype, shape, data}`, globals their `module.name`.
 * Shared and cyclic references are preserved.
 *
 * @example
 * ```ts
 * toPlain(new Map([["last_epoch", 54999]])); // { last_epoch: 54999 }
 * ```
 */
export function toPlain(value: unknown, done = new Map<object, unknown>()): unknown {
  if (value === null || typeof value !== "object") return value;
  if (done.has(value)) return done.get(value);
  if (isNamedTensor(value)) {
    const t = { dtype: value.dtype, shape: value.shape, data: value.data };
    done.set(value, t);
    return t;
  }
  if (value instanceof PyGlobal) return value.qualifiedName;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    done.set(value, out);
    for (const v of value) out.push(toPlain(v, done));
    return out;
  }
  if (value instanceof Map) {
    if ([...value.keys()].every((k) => typeof k === "string" || typeof k === "number")) {
      const out: Record<string, unknown> = {};
      done.set(value, out);
      for (const [k, v] of value) {
        // defineProperty: a key "__proto__" must stay an ordinary entry.
        Object.defineProperty(out, String(k), {
          value: toPlain(v, done),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
    const out = new Map<unknown, unknown>();
    done.set(value, out);
    for (const [k, v] of value) out.set(k, toPlain(v, done));
    return out;
  }
  if (value instanceof Set) {
    const out = new Set<unknown>();
    done.set(value, out);
    for (const v of value) out.add(toPlain(v, done));
    return out;
  }
  return value;
}

/**
 * Reads a detectron2-style pickle. Only the numpy reconstructors and data-only builtins are allowed;
 * any other global in the file is an error and nothing in it is executed.
 *
 * @example
 * ```ts
 * const { tensors } = readDetectron2Pickle(await Deno.readFile("R-50.pkl"));
 * tensors.get("stem.conv1.weight")?.shape; // [64, 3, 7, 7]
 * ```
 */
export function readDetectron2Pickle(bytes: Uint8Array, source = "<buffer>"): CheckpointContents {
  const root = unpickle(bytes, { globals: { ...BUILTIN_GLOBALS, ...NUMPY_GLOBALS }, source });
  return splitCheckpoint(root, ["model", "blobs"], source);
}

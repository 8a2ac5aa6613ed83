/**
 * The original's `tools/process_ckpt.py`: turns the Mask2Former COCO checkpoint
 * (`model_final_86143f.pkl`) into DsHmp's initialisation weights. It cuts the frame decoder's two
 * query tables, `query_embed` and `static_query` (100 rows in Mask2Former), to their first
 * `MODEL.MASK_FORMER.NUM_OBJECT_QUERIES` rows (20 in the paper), and renames `static_query` to
 * `query_feat`, the rename the original's frame decoder applies while loading an old-format state
 * dict (`_load_from_state_dict`). Everything else is kept as it is, dtypes included; the 81-row
 * `class_embed` stays, and loading skips it for its shape, as detectron2 does.
 *
 * @example
 * ```ts
 * import { processCkpt } from "./process_ckpt.ts";
 * const t = { dtype: "F32" as const, shape: [100, 4], data: new Float32Array(400) };
 * const out = processCkpt(new Map([["sem_seg_head.predictor.static_query.weight", t]]), { numQueries: 20 });
 * out.tensors.get("sem_seg_head.predictor.query_feat.weight")?.shape; // [20, 4]
 * ```
 * @module
 */
import type { NamedTensor } from "../../../core/io/safetensors.ts";

/** The frame decoder's query positions: cut to the number of queries. */
export const QUERY_EMBED_KEY = "sem_seg_head.predictor.query_embed.weight";
/** The frame decoder's query features as Mask2Former's checkpoints name them. */
export const STATIC_QUERY_KEY = "sem_seg_head.predictor.static_query.weight";
/** The frame decoder's query features as DsHmp names them. */
export const QUERY_FEAT_KEY = "sem_seg_head.predictor.query_feat.weight";

/**
 * The frame decoder's key rename for old-format (Mask2Former) state dicts: every `static_query` in a
 * key becomes `query_feat`. Pass it as `rename` to `loadWeightsInto` to load an unconverted file.
 *
 * @example
 * ```ts
 * import { renameStaticQuery } from "./process_ckpt.ts";
 * renameStaticQuery("sem_seg_head.predictor.static_query.weight"); // "sem_seg_head.predictor.query_feat.weight"
 * ```
 */
export function renameStaticQuery(key: string): string {
  return key.replaceAll("static_query", "query_feat");
}

/** Options of {@link processCkpt}. */
export interface ProcessCkptOptions {
  /** Rows to keep in each query table: `MODEL.MASK_FORMER.NUM_OBJECT_QUERIES`. */
  numQueries: number;
}

/** What {@link processCkpt} returns. */
export interface ProcessedCkpt {
  /** The converted tensors, in the input's order. */
  tensors: Map<string, NamedTensor>;
  /** Keys renamed: `[from, to]`. */
  renamed: [string, string][];
  /** Query tables cut: key (after renaming) and rows before and after. */
  truncated: { key: string; rows: number; kept: number }[];
  /** Anything worth telling the user, one line each. */
  notes: string[];
}

/**
 * Applies `process_ckpt.py` and the `static_query` rename to checkpoint tensors. A table with fewer
 * rows than `numQueries` is kept as it is (Python's `[:n]` does the same; loading then reports the
 * mismatch). A checkpoint already using `query_feat` has that table cut instead.
 *
 * @example
 * ```ts ignore
 * const { tensors, notes } = processCkpt((await readCheckpoint("model_final_86143f.pkl")).tensors, {
 *   numQueries: 20,
 * });
 * ```
 */
export function processCkpt(
  tensors: Map<string, NamedTensor>,
  { numQueries }: ProcessCkptOptions,
): ProcessedCkpt {
  if (!Number.isSafeInteger(numQueries) || numQueries <= 0) {
    throw new RangeError(`NUM_OBJECT_QUERIES must be a positive integer, got ${numQueries}`);
  }
  const out: ProcessedCkpt = { tensors: new Map(), renamed: [], truncated: [], notes: [] };
  for (const [name, t] of tensors) {
    const key = renameStaticQuery(name);
    if (key !== name) {
      if (tensors.has(key)) {
        throw new Error(`both ${name} and ${key} are in the checkpoint; which one to keep is unclear`);
      }
      out.renamed.push([name, key]);
    }
    let value = t;
    if (key === QUERY_EMBED_KEY || key === QUERY_FEAT_KEY) {
      const rows = t.shape[0] ?? 0;
      if (t.shape.length < 1 || rows <= numQueries) {
        if (rows < numQueries) {
          out.notes.push(
            `${name} has ${rows} rows, fewer than NUM_OBJECT_QUERIES ${numQueries}: kept as it is`,
          );
        }
      } else {
        value = firstRows(t, numQueries);
        out.truncated.push({ key, rows, kept: numQueries });
      }
    }
    out.tensors.set(key, value);
  }
  if (!out.tensors.has(QUERY_EMBED_KEY) && !out.tensors.has(QUERY_FEAT_KEY)) {
    out.notes.push(`no query tables (${QUERY_EMBED_KEY}, ${STATIC_QUERY_KEY}): nothing cut`);
  }
  return out;
}

/** The first `n` rows of a C-ordered tensor, copied (so the full table can be freed). */
function firstRows(t: NamedTensor, n: number): NamedTensor {
  const rowSize = t.shape.slice(1).reduce((p, d) => p * d, 1);
  return { dtype: t.dtype, shape: [n, ...t.shape.slice(1)], data: t.data.slice(0, n * rowSize) };
}

/**
 * The `converters` registry entries of the mask2former plugin (see `CheckpointConverter` in
 * `core/io/weights.ts`):
 *
 * | name                     | does                                                                   |
 * | ------------------------ | ---------------------------------------------------------------------- |
 * | `Mask2FormerProcessCkpt` | `tools/process_ckpt.py`: query tables cut to `MODEL.MASK_FORMER.NUM_OBJECT_QUERIES`, `static_query` → `query_feat` |
 * | `Raw`                    | nothing: same names, values and dtypes (a `.pth` gives its `model` state dict) |
 *
 * Both keep the checkpoint's other entries (`iteration`, `__author__`, `matching_heuristics`, ...) as
 * safetensors metadata, JSON-encoded unless they are strings; entries holding tensors (optimizer
 * state) cannot be metadata and are dropped with a note.
 *
 * @example
 * ```ts ignore
 * const convert = registries.converters.get(MASK2FORMER_CONVERTER)(cfg, ctx) as CheckpointConverter;
 * const { tensors, metadata, notes } = convert.convert(await readCheckpoint(path), path);
 * ```
 * @module
 */
import type { Checkpoint } from "../../../core/io/checkpoint.ts";
import {
  type CheckpointConverter,
  checkpointMetadata,
  type ConvertedCheckpoint,
} from "../../../core/io/weights.ts";
import type { Factory } from "../../../core/registries.ts";
import { processCkpt, QUERY_EMBED_KEY, QUERY_FEAT_KEY } from "./process_ckpt.ts";

/** Registry name of the `process_ckpt.py` converter. */
export const MASK2FORMER_CONVERTER = "Mask2FormerProcessCkpt";
/** Registry name of the as-is converter. */
export const RAW_CONVERTER = "Raw";

/** The extras as metadata, plus which converter made the file; notes for dropped entries. */
function metadataOf(ckpt: Checkpoint, converter: string, notes: string[]): Record<string, string> {
  const { metadata, dropped } = checkpointMetadata(ckpt.extra);
  for (const k of dropped) notes.push(`"${k}" holds tensors (optimizer state?): not kept`);
  return { ...metadata, "dshmp.converter": converter, "dshmp.source_format": ckpt.format };
}

/**
 * `tools/process_ckpt.py` as a converter, cutting to `MODEL.MASK_FORMER.NUM_OBJECT_QUERIES` rows.
 *
 * @example
 * ```ts ignore
 * registries.converters.register(MASK2FORMER_CONVERTER, mask2formerConverterFactory);
 * ```
 */
export const mask2formerConverterFactory: Factory<CheckpointConverter> = (cfg) => {
  const numQueries = Number(
    ((cfg.MODEL as Record<string, unknown>).MASK_FORMER as Record<string, unknown>).NUM_OBJECT_QUERIES,
  );
  return {
    summary: `Mask2Former checkpoint -> DsHmp initialisation (process_ckpt.py): query tables cut to ` +
      `${numQueries} rows, static_query renamed query_feat`,
    convert(ckpt: Checkpoint): ConvertedCheckpoint {
      const done = processCkpt(ckpt.tensors, { numQueries });
      const notes = [
        ...done.truncated.map((t) => `${t.key}: first ${t.kept} of ${t.rows} rows kept`),
        ...done.renamed.map(([a, b]) => `${a} renamed ${b}`),
        ...done.notes,
      ];
      const hasTables = done.tensors.has(QUERY_EMBED_KEY) || done.tensors.has(QUERY_FEAT_KEY);
      if (hasTables && done.truncated.length === 0) {
        // Easy to miss: without the paper config the default of 100 queries keeps Mask2Former's tables.
        notes.push(`query tables not cut: NUM_OBJECT_QUERIES is ${numQueries} (the paper config has 20)`);
      }
      const metadata = metadataOf(ckpt, MASK2FORMER_CONVERTER, notes);
      metadata["dshmp.num_object_queries"] = String(numQueries);
      return { tensors: done.tensors, metadata, notes };
    },
  };
};

/**
 * The as-is converter: every tensor under its own name with its own dtype.
 *
 * @example
 * ```ts ignore
 * registries.converters.register(RAW_CONVERTER, rawConverterFactory);
 * ```
 */
export const rawConverterFactory: Factory<CheckpointConverter> = () => ({
  summary: "as it is: same names, values and dtypes",
  convert(ckpt: Checkpoint): ConvertedCheckpoint {
    const notes: string[] = [];
    const metadata = metadataOf(ckpt, RAW_CONVERTER, notes);
    return { tensors: ckpt.tensors, metadata, notes };
  },
});

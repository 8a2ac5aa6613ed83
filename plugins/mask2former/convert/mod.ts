/**
 * Checkpoint conversion for DsHmp: the original's `tools/process_ckpt.py` ({@link processCkpt}), the
 * frame decoder's `static_query` → `query_feat` rename ({@link renameStaticQuery}), the converters of
 * the `converters` registry, and a detectron2-style report of what a checkpoint fills in a model
 * ({@link loadReport}).
 *
 * @example
 * ```ts ignore
 * import { loadReport, processCkpt } from "./mod.ts";
 * const { tensors } = processCkpt((await readCheckpoint("model_final_86143f.pkl")).tensors, { numQueries: 20 });
 * ```
 * @module
 */
export {
  processCkpt,
  type ProcessCkptOptions,
  type ProcessedCkpt,
  QUERY_EMBED_KEY,
  QUERY_FEAT_KEY,
  renameStaticQuery,
  STATIC_QUERY_KEY,
} from "./process_ckpt.ts";
export { type LoadReport, loadReport, type LoadReportOptions } from "./load_report.ts";
export {
  MASK2FORMER_CONVERTER,
  mask2formerConverterFactory,
  RAW_CONVERTER,
  rawConverterFactory,
} from "./converters.ts";

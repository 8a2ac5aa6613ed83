/**
 * What loading a checkpoint into a DsHmp-style model would do, computed from shapes alone and printed
 * as detectron2's checkpointer reports it: the model tensors it fills, those it skips for their shape
 * (Mask2Former's 81-class `class_embed` against DsHmp's 2), those left freshly initialised (the
 * language fusion, the clip decoder, the text pathway), and the checkpoint tensors nothing uses. The
 * frame decoder's own `static_query` → `query_feat` rename is applied, and detectron2's name-matching
 * heuristics when the checkpoint asks for them. The planning itself is core's `planWeightsLoad`.
 *
 * @example
 * ```ts ignore
 * import { loadReport } from "./load_report.ts";
 * const ckpt = await readCheckpoint("model_final_86143f.pkl");
 * const { plan, text } = loadReport(ckpt, model.stateDict(), { source: "model_final_86143f.pkl" });
 * console.log(text);
 * ```
 * @module
 */
import type { Checkpoint } from "../../../core/io/checkpoint.ts";
import {
  formatLoadPlan,
  type LoadPlan,
  planWeightsLoad,
  type Shaped,
  type ShapeMap,
  wantsMatchingHeuristics,
} from "../../../core/io/weights.ts";
import { renameStaticQuery } from "./process_ckpt.ts";

/** Options of {@link loadReport}. */
export interface LoadReportOptions {
  /** Names the checkpoint in the text. */
  source?: string;
  /** Force detectron2's matching heuristics on or off (default: as the checkpoint asks). */
  matchingHeuristics?: boolean;
}

/** A planned load and its text. */
export interface LoadReport {
  plan: LoadPlan;
  text: string;
}

/**
 * Plans loading `ckpt` into a model with the `target` shapes (a `stateDict()`, or `{name: shape}`)
 * and formats the result.
 *
 * @example
 * ```ts
 * import { loadReport } from "./load_report.ts";
 * const f32 = (shape: number[]) => ({ dtype: "F32" as const, shape, data: new Float32Array(shape[0]) });
 * const ckpt = {
 *   format: "safetensors" as const,
 *   extra: {},
 *   tensors: new Map([["sem_seg_head.predictor.static_query.weight", f32([20])]]),
 * };
 * const { plan } = loadReport(ckpt, { "sem_seg_head.predictor.query_feat.weight": [20] });
 * plan.filled; // [{ key: "sem_seg_head.predictor.query_feat.weight", from: "sem_seg_head.predictor.static_query.weight" }]
 * ```
 */
export function loadReport(
  ckpt: Pick<Checkpoint, "format" | "extra"> & { tensors: Map<string, Shaped> },
  target: ShapeMap,
  options: LoadReportOptions = {},
): LoadReport {
  const plan = planWeightsLoad(ckpt.tensors, target, {
    matchingHeuristics: options.matchingHeuristics ?? wantsMatchingHeuristics(ckpt),
    rename: renameStaticQuery,
  });
  return { plan, text: formatLoadPlan(plan, { source: options.source }) };
}

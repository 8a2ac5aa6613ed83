/**
 * The results file of an evaluation with ground truth (`OUTPUT_DIR/inference/results.json`): the
 * official numbers (`J`, `F`, `JF`, and `per_expression` keyed `<video>_<exp_id>` as the official
 * `tools/eval_mevis.py` keys them) plus breakdowns by video and by expression type.
 *
 * Types come from `expression_types.json` beside the split's `meta_expressions.json` when it exists,
 * shaped `{"<video>": {"<exp_id>": "<type>" | ["<type>", ...]}}` (an expression may have several types
 * and then counts in each), else from the expressions' own `type` fields. Every mean is numpy's
 * (pairwise summation), as the scorer's.
 *
 * @example
 * ```ts ignore
 * import { readExpressionTypes, resultsDocument } from "./results.ts";
 * const types = await readExpressionTypes("datasets/mevis/valid_u/meta_expressions.json", expected);
 * const doc = resultsDocument(score, types);
 * doc.per_video["<video>"].JF;
 * ```
 * @module
 */
import { dirname, join } from "node:path";
import { numpyMean } from "../../../core/metrics/mod.ts";
import type { ExpectedExpression } from "./layout.ts";
import type { SplitScore } from "./score_split.ts";

/** Mean J, F and J&F of a group of expressions. */
export interface GroupScore {
  J: number;
  F: number;
  JF: number;
  count: number;
}

/** The written results document. */
export interface ResultsDocument {
  J: number;
  F: number;
  JF: number;
  num_expressions: number;
  per_expression: Record<string, [number, number]>;
  per_video: Record<string, GroupScore>;
  /** Present when types are known. */
  per_type?: Record<string, GroupScore>;
  missing_videos: string[];
}

/** Expression types by `<video>_<exp_id>` key (the scorer's key). */
export type ExpressionTypes = Map<string, string[]>;

/** The name of the optional types file beside `meta_expressions.json`. */
export const EXPRESSION_TYPES_FILE = "expression_types.json";

/**
 * The types of the expressions: from `expression_types.json` beside `jsonFile` when present, else the
 * expressions' `type` fields. Empty when neither gives any.
 */
export async function readExpressionTypes(
  jsonFile: string,
  expected: readonly ExpectedExpression[],
): Promise<ExpressionTypes> {
  const types: ExpressionTypes = new Map();
  const path = join(dirname(jsonFile), EXPRESSION_TYPES_FILE);
  let text: string | null = null;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
  if (text === null) {
    for (const e of expected) if (e.type !== undefined) types.set(`${e.video}_${e.expId}`, [e.type]);
    return types;
  }
  let parsed: Record<string, Record<string, unknown>>;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path} is not JSON: ${(e as Error).message}`);
  }
  for (const [video, byExp] of Object.entries(parsed ?? {})) {
    for (const [expId, t] of Object.entries(byExp ?? {})) {
      const list = Array.isArray(t) ? t : [t];
      if (!list.every((x) => typeof x === "string")) {
        throw new Error(`${path}: ${video}/${expId} must map to a type name or a list of them`);
      }
      types.set(`${video}_${expId}`, list as string[]);
    }
  }
  return types;
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function group(scores: readonly { j: number; f: number }[]): GroupScore {
  const J = numpyMean(scores.map((s) => s.j));
  const F = numpyMean(scores.map((s) => s.f));
  return { J, F, JF: (J + F) / 2, count: scores.length };
}

/**
 * The results document of a score: official fields, then per video (file order) and per type (sorted
 * by name). Deterministic: no times or paths, so equal predictions give equal bytes.
 *
 * @example
 * ```ts ignore
 * const doc = resultsDocument(await scoreSplit({ splitDir, predDir }), new Map());
 * ```
 */
export function resultsDocument(score: SplitScore, types: ExpressionTypes): ResultsDocument {
  const byVideo = new Map<string, { j: number; f: number }[]>();
  const byType = new Map<string, { j: number; f: number }[]>();
  for (const s of score.expressions) {
    push(byVideo, s.video, s);
    for (const t of types.get(s.key) ?? []) push(byType, t, s);
  }
  const doc: ResultsDocument = {
    J: score.J,
    F: score.F,
    JF: score.JF,
    num_expressions: score.num_expressions,
    per_expression: score.per_expression,
    per_video: Object.fromEntries([...byVideo].map(([v, list]) => [v, group(list)])),
    missing_videos: score.missing_videos,
  };
  if (byType.size > 0) {
    doc.per_type = Object.fromEntries([...byType.keys()].sort().map((t) => [t, group(byType.get(t)!)]));
  }
  return doc;
}

/**
 * A short text summary: the totals, each type, and the five weakest videos.
 *
 * @example
 * ```ts ignore
 * console.log(formatSummary(doc));
 * ```
 */
export function formatSummary(doc: ResultsDocument, dataset: string): string {
  const f = (x: number) => x.toFixed(4);
  const lines = [
    `${dataset}: J ${f(doc.J)}  F ${f(doc.F)}  J&F ${f(doc.JF)}  (${doc.num_expressions} expressions)`,
  ];
  for (const [t, g] of Object.entries(doc.per_type ?? {})) {
    lines.push(`  type ${t}: J ${f(g.J)}  F ${f(g.F)}  J&F ${f(g.JF)}  (${g.count})`);
  }
  const videos = Object.entries(doc.per_video).sort((a, b) => a[1].JF - b[1].JF).slice(0, 5);
  if (videos.length > 1) {
    lines.push(`  weakest videos: ${videos.map(([v, g]) => `${v} ${f(g.JF)}`).join(", ")}`);
  }
  return lines.join("\n");
}

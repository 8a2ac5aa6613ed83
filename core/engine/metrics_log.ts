/**
 * The training log `OUTPUT_DIR/metrics.jsonl`: one JSON object per line, appended as training goes.
 * A loss row holds the iteration, every loss term, `total_loss`, `lr`, `time` (seconds for the whole
 * iteration) and `data_time` (seconds spent waiting for data); an evaluation row holds the iteration and
 * the evaluation's flattened results under `eval`. The same shape as detectron2's `metrics.json`, one
 * row per line.
 *
 * On resume, rows past the checkpoint's iteration (written by the interrupted run after its last
 * checkpoint) are dropped, so the log reads as one uninterrupted run.
 *
 * @example
 * ```ts
 * import { MetricsLog, readMetrics } from "./metrics_log.ts";
 * const log = await MetricsLog.open("out/metrics.jsonl");
 * await log.append({ iteration: 0, total_loss: 1.5, loss_ce: 1.5, lr: 1e-4, time: 0.2, data_time: 0.01 });
 * (await readMetrics("out/metrics.jsonl")).length; // 1
 * ```
 * @module
 */
import { writeFileAtomic } from "../io/atomic.ts";

/** One line of the log: always an iteration, then numbers (or nested results for evaluation rows). */
export interface MetricsRow {
  iteration: number;
  [key: string]: unknown;
}

/** A loss row as the trainer writes it. */
export interface LossRow extends MetricsRow {
  total_loss: number;
  lr: number;
  time: number;
  data_time: number;
}

/** Whether a row is a loss row (evaluation rows have no `total_loss`). */
export function isLossRow(row: MetricsRow): row is LossRow {
  return typeof row.total_loss === "number";
}

/**
 * Reads a log; a missing file is an empty log. A torn last line (a crash mid-append) is ignored; a
 * malformed line elsewhere is an error naming it.
 *
 * @example
 * ```ts
 * import { readMetrics } from "./metrics_log.ts";
 * const rows = await readMetrics("output/metrics.jsonl");
 * rows.filter((r) => "total_loss" in r).map((r) => r.total_loss);
 * ```
 */
export async function readMetrics(path: string): Promise<MetricsRow[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  const lines = text.split("\n");
  const rows: MetricsRow[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === "") continue;
    try {
      const row = JSON.parse(lines[i]);
      if (typeof row?.iteration !== "number") throw new Error("no iteration");
      rows.push(row);
    } catch (e) {
      // Only the last line can be torn by a crash; anything earlier means a damaged file.
      if (i >= lines.length - 2) break;
      throw new Error(`${path}:${i + 1}: not a metrics row (${(e as Error).message})`);
    }
  }
  return rows;
}

/** Options of {@link MetricsLog.open}. */
export interface MetricsLogOptions {
  /** Keep only rows with an iteration below this (a resumed run's start); default: keep everything. */
  keepBefore?: number;
}

/** An append-only `metrics.jsonl`, with the rows kept in memory for the loss curve. */
export class MetricsLog {
  readonly path: string;
  readonly #rows: MetricsRow[];

  private constructor(path: string, rows: MetricsRow[]) {
    this.path = path;
    this.#rows = rows;
  }

  /**
   * Opens (creating) the log at `path`. With `keepBefore`, later rows are dropped and the file is
   * rewritten atomically without them.
   */
  static async open(path: string, { keepBefore }: MetricsLogOptions = {}): Promise<MetricsLog> {
    const existing = await readMetrics(path);
    const kept = keepBefore === undefined ? existing : existing.filter((r) => r.iteration < keepBefore);
    // Rewrite when rows were dropped or a torn line must go, so that appends start on a clean line.
    await writeFileAtomic(path, kept.map((r) => JSON.stringify(r) + "\n").join(""));
    return new MetricsLog(path, kept);
  }

  /** The rows so far (the file's, in order). */
  get rows(): readonly MetricsRow[] {
    return this.#rows;
  }

  /** Appends rows to the file (one write) and to {@link MetricsLog.rows}. */
  async append(...rows: MetricsRow[]): Promise<void> {
    if (rows.length === 0) return;
    await Deno.writeTextFile(this.path, rows.map((r) => JSON.stringify(r) + "\n").join(""), { append: true });
    this.#rows.push(...rows);
  }
}

/**
 * Flattens nested results (`{ mevis: { J: 0.5 } }`) into `{ "mevis/J": 0.5 }`, as detectron2's
 * `flatten_results_dict`; every leaf must be a finite or non-finite number.
 *
 * @example
 * ```ts
 * import { flattenResults } from "./metrics_log.ts";
 * flattenResults({ mevis_valid_u: { "J&F": 0.52, J: 0.48 } }); // { "mevis_valid_u/J&F": 0.52, "mevis_valid_u/J": 0.48 }
 * ```
 */
export function flattenResults(results: Record<string, unknown>, prefix = ""): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(results)) {
    const key = prefix === "" ? k : `${prefix}/${k}`;
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      Object.assign(out, flattenResults(v as Record<string, unknown>, key));
    } else if (typeof v === "number") {
      out[key] = v;
    } else {
      throw new TypeError(`evaluation results should be nested records of numbers; got ${key}: ${String(v)}`);
    }
  }
  return out;
}

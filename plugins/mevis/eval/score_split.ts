/**
 * J&F of a MeViS split, as the official `tools/eval_mevis.py` computes it.
 *
 * For each expression of `meta_expressions.json` (in file order): the ground truth of a frame is the
 * uint8 sum of the RLE masks of the expression's `anno_id`s in `mask_dict.json` (null entries skipped),
 * taken at the frame's position in `frames`; the prediction is `<pred>/<video>/<exp_id>/<frame>.png`,
 * any nonzero gray value being foreground; the frame size comes from `00000.png`. The expression's J and
 * F are the numpy means of the per-frame values, and the split's J and F the numpy means over
 * expressions. A video folder missing from the predictions scores [0, 0] with a warning, as officially;
 * a missing or differently sized PNG inside an existing folder is an error naming it (the official
 * script crashes there).
 *
 * With `workers: n > 1`, this thread and `n - 1` worker threads (`score_worker.ts`) claim expressions one
 * at a time from a shared atomic counter, so a long video does not hold up the rest; results are
 * identical to the single-threaded run.
 *
 * @example
 * ```ts
 * import { scoreSplit } from "./score_split.ts";
 * const res = await scoreSplit({ splitDir: "datasets/mevis/valid_u", predDir: "output/inference" });
 * console.log(res.J, res.F, res.JF, res.per_expression["<video>_0"]);
 * ```
 * @module
 */
import { type Rle, rleDecodeAdd } from "../../../core/data/rle.ts";
import { decodePng, type GrayImage } from "../../../core/io/png.ts";
import { type FrameMeasures, frameMeasures, numpyMean } from "../../../core/metrics/mod.ts";

/** `meta_expressions.json` as far as scoring needs it. */
export interface MevisMeta {
  videos: Record<string, {
    frames: string[];
    expressions: Record<string, { exp?: string; anno_id: (number | string)[]; type?: string }>;
  }>;
}

/** `mask_dict.json`: anno id -> one RLE (or null) per frame. */
export type MaskDict = Record<string, (Rle | null)[]>;

/** Everything needed to score one expression, self-contained so it can be posted to a worker. */
export interface ExpressionJob {
  video: string;
  expId: string;
  frames: string[];
  /** One list per anno id of the expression: the RLE (or null) of each frame, in `frames` order. */
  masks: (Rle | null)[][];
  annoIds: string[];
}

/** Per-frame record when `perFrame` is requested: the measures plus ground-truth statistics. */
export interface FrameRecord extends FrameMeasures {
  frame: string;
  gtMax: number;
  gtPixels: number;
  predPixels: number;
}

/** The score of one expression. */
export interface ExpressionScore {
  key: string;
  video: string;
  expId: string;
  j: number;
  f: number;
  /** True when the video's prediction folder is missing (scored [0, 0]). */
  missing: boolean;
  frames: number;
  pixels: number;
  height: number;
  width: number;
  perFrame?: FrameRecord[];
}

/** The result of {@link scoreSplit}; `J`, `F`, `JF` and `per_expression` form the written JSON. */
export interface SplitScore {
  J: number;
  F: number;
  JF: number;
  per_expression: Record<string, [number, number]>;
  /** Means by expression `type`, only when meta_expressions.json gives types. */
  per_type?: Record<string, { J: number; F: number; JF: number; count: number }>;
  /** Videos without a prediction folder. */
  missing_videos: string[];
  num_expressions: number;
  num_frames: number;
  num_pixels: number;
  /** Details of each expression, in meta order (not part of the written JSON). */
  expressions: ExpressionScore[];
}

/** Options of {@link scoreSplit}. */
export interface ScoreOptions {
  /** Folder with meta_expressions.json and mask_dict.json (or give the two paths). */
  splitDir?: string;
  metaPath?: string;
  maskPath?: string;
  /** Folder of `<video>/<exp_id>/<frame>.png`. */
  predDir: string;
  /** Scoring threads: this one plus `workers - 1` worker threads (default 1). */
  workers?: number;
  /** Keep per-frame records in `expressions[i].perFrame`. */
  perFrame?: boolean;
  /** Called with the number of frames just scored (or skipped for a missing video). */
  onFrames?: (n: number) => void;
  /** Called once per missing prediction video (default: console.warn). */
  warn?: (message: string) => void;
}

/**
 * Reads the split's two JSON files.
 *
 * @example
 * ```ts
 * const { meta, maskDict } = await loadSplit({ splitDir: "datasets/mevis/valid_u" });
 * ```
 */
export async function loadSplit(
  opts: { splitDir?: string; metaPath?: string; maskPath?: string },
): Promise<{ meta: MevisMeta; maskDict: MaskDict; metaPath: string; maskPath: string }> {
  const metaPath = opts.metaPath ?? (opts.splitDir && `${opts.splitDir}/meta_expressions.json`);
  const maskPath = opts.maskPath ?? (opts.splitDir && `${opts.splitDir}/mask_dict.json`);
  if (!metaPath || !maskPath) throw new Error("give splitDir or both metaPath and maskPath");
  const meta = await readJson(metaPath) as MevisMeta;
  if (!meta || typeof meta.videos !== "object") throw new Error(`${metaPath}: no "videos" object`);
  const maskDict = await readJson(maskPath) as MaskDict;
  return { meta, maskDict, metaPath, maskPath };
}

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${path} is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * One job per expression, in meta order, each carrying its ground-truth RLEs. Checks that every anno id
 * exists in the mask dict with an entry for every frame.
 *
 * @example
 * ```ts
 * const jobs = expressionJobs(meta, maskDict);
 * jobs[0]; // { video, expId, frames, masks, annoIds }
 * ```
 */
export function expressionJobs(
  meta: MevisMeta,
  maskDict: MaskDict,
  metaPath = "meta_expressions.json",
): ExpressionJob[] {
  const jobs: ExpressionJob[] = [];
  for (const [video, v] of Object.entries(meta.videos)) {
    if (!Array.isArray(v.frames) || typeof v.expressions !== "object") {
      throw new Error(`${metaPath}: video ${video} needs "frames" and "expressions"`);
    }
    for (const [expId, e] of Object.entries(v.expressions)) {
      if (!Array.isArray(e.anno_id)) {
        throw new Error(`${metaPath}: video ${video} expression ${expId} has no anno_id list`);
      }
      const annoIds = e.anno_id.map(String);
      const masks = annoIds.map((id) => {
        const list = maskDict[id];
        if (!Array.isArray(list)) {
          throw new Error(`mask dict has no anno id ${id} (video ${video}, expression ${expId})`);
        }
        if (list.length < v.frames.length) {
          throw new Error(
            `mask dict entry ${id} has ${list.length} masks, video ${video} has ${v.frames.length} frames (expression ${expId})`,
          );
        }
        return list;
      });
      jobs.push({ video, expId, frames: v.frames, masks, annoIds });
    }
  }
  return jobs;
}

function pathJoin(...parts: string[]): string {
  return parts.join("/").replace(/\/+/g, "/");
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

function readPrediction(path: string, job: ExpressionJob, frame: string): GrayImage {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "is missing" : `cannot be read (${(e as Error).message})`;
    throw new Error(
      `prediction ${path} ${why} (video ${job.video}, expression ${job.expId}, frame ${frame})`,
    );
  }
  return decodePng(bytes, path);
}

/**
 * Scores one expression on this thread; `onFrame` is called after each frame. A missing video folder
 * gives [0, 0] with `missing: true`.
 *
 * @example
 * ```ts
 * const s = scoreExpression(jobs[0], "output/inference"); // { key, j, f, ... }
 * ```
 */
export function scoreExpression(
  job: ExpressionJob,
  predDir: string,
  opts: { perFrame?: boolean; onFrame?: () => void } = {},
): ExpressionScore {
  const key = `${job.video}_${job.expId}`;
  const base = { key, video: job.video, expId: job.expId };
  if (!exists(pathJoin(predDir, job.video))) {
    return { ...base, j: 0, f: 0, missing: true, frames: 0, pixels: 0, height: 0, width: 0 };
  }
  const dir = pathJoin(predDir, job.video, job.expId);
  // The official script takes the size from 00000.png whatever the frame names are.
  const firstIdx = job.frames.indexOf("00000");
  let first: GrayImage | null = readPrediction(pathJoin(dir, "00000.png"), job, "00000");
  const { width: w, height: h } = first;
  if (firstIdx < 0) first = null;
  const gt = new Uint8Array(h * w);
  const js = new Float64Array(job.frames.length);
  const fs = new Float64Array(job.frames.length);
  const perFrame: FrameRecord[] | undefined = opts.perFrame ? [] : undefined;
  for (let t = 0; t < job.frames.length; t++) {
    const frame = job.frames[t];
    const path = pathJoin(dir, `${frame}.png`);
    const pred = t === firstIdx && first ? first : readPrediction(path, job, frame);
    if (pred.width !== w || pred.height !== h) {
      throw new Error(
        `prediction ${path} is ${pred.width}x${pred.height} but 00000.png is ${w}x${h} (video ${job.video}, expression ${job.expId})`,
      );
    }
    gt.fill(0);
    for (let a = 0; a < job.masks.length; a++) {
      const rle = job.masks[a][t];
      if (!rle) continue;
      const [rh, rw] = rle.size ?? [];
      if (rh !== h || rw !== w) {
        throw new Error(
          `anno id ${
            job.annoIds[a]
          } frame ${frame} is ${rh}x${rw} but the prediction is ${h}x${w} (video ${job.video}, expression ${job.expId})`,
        );
      }
      try {
        rleDecodeAdd(rle, gt);
      } catch (e) {
        throw new Error(
          `anno id ${job.annoIds[a]} frame ${frame} (video ${job.video}, expression ${job.expId}): ${
            (e as Error).message
          }`,
        );
      }
    }
    const m = frameMeasures(gt, pred.data, h, w);
    js[t] = m.j;
    fs[t] = m.f;
    if (perFrame) perFrame.push({ frame, ...m, ...maskStats(gt, pred.data) });
    opts.onFrame?.();
  }
  return {
    ...base,
    j: numpyMean(js),
    f: numpyMean(fs),
    missing: false,
    frames: job.frames.length,
    pixels: job.frames.length * h * w,
    height: h,
    width: w,
    perFrame,
  };
}

function maskStats(
  gt: Uint8Array,
  pred: Uint8Array,
): { gtMax: number; gtPixels: number; predPixels: number } {
  let gtMax = 0, gtPixels = 0, predPixels = 0;
  for (let i = 0; i < gt.length; i++) {
    if (gt[i] > gtMax) gtMax = gt[i];
    if (gt[i] !== 0) gtPixels++;
    if (pred[i] !== 0) predPixels++;
  }
  return { gtMax, gtPixels, predPixels };
}

/**
 * The start message of `score_worker.ts`: every job, and a shared counter block where `[0]` is the next
 * unclaimed job and `[1]` the number of frames done by all threads.
 */
export type ToWorker = {
  jobs: ExpressionJob[];
  predDir: string;
  perFrame: boolean;
  control: SharedArrayBuffer;
};
/** Replies of `score_worker.ts`: an expression done, an error, or no job left. */
export type FromWorker =
  | { kind: "done"; id: number; score: ExpressionScore }
  | { kind: "error"; message: string }
  | { kind: "idle" };

/**
 * The loop every scoring thread runs: claim the next job from the shared counter until none is left.
 * Each claim is one atomic add, so threads never wait for each other or for the event loop.
 *
 * @example
 * ```ts ignore
 * const control = new Int32Array(new SharedArrayBuffer(8));
 * claimAndScore(jobs, "pred", false, control, (id, score) => results[id] = score);
 * ```
 */
export function claimAndScore(
  jobs: ExpressionJob[],
  predDir: string,
  perFrame: boolean,
  control: Int32Array,
  onScore: (id: number, score: ExpressionScore) => void,
  onFrame: () => void = () => {},
): void {
  for (let id = Atomics.add(control, 0, 1); id < jobs.length; id = Atomics.add(control, 0, 1)) {
    const score = scoreExpression(jobs[id], predDir, {
      perFrame,
      onFrame: () => {
        Atomics.add(control, 1, 1);
        onFrame();
      },
    });
    if (score.missing) Atomics.add(control, 1, jobs[id].frames.length);
    onScore(id, score);
  }
}

/**
 * Scores every expression of a split. See the module documentation for the rules.
 *
 * @example
 * ```ts
 * const res = await scoreSplit({ splitDir: "split", predDir: "pred", workers: 2 });
 * ```
 */
export async function scoreSplit(opts: ScoreOptions): Promise<SplitScore> {
  const { meta, maskDict, metaPath } = await loadSplit(opts);
  const jobs = expressionJobs(meta, maskDict, metaPath);
  const warn = opts.warn ?? ((m: string) => console.warn(m));
  const workers = Math.max(1, Math.floor(opts.workers ?? 1));
  const scores = workers === 1 || jobs.length <= 1
    ? scoreHere(jobs, opts)
    : await scoreInWorkers(jobs, opts, Math.min(workers, jobs.length));
  return summarize(meta, scores, warn);
}

function scoreHere(jobs: ExpressionJob[], opts: ScoreOptions): ExpressionScore[] {
  const scores: ExpressionScore[] = new Array(jobs.length);
  const control = new Int32Array(2);
  claimAndScore(jobs, opts.predDir, opts.perFrame ?? false, control, (id, s) => {
    scores[id] = s;
    if (s.missing) opts.onFrames?.(jobs[id].frames.length);
  }, () => opts.onFrames?.(1));
  return scores;
}

/**
 * Scores on this thread and `n - 1` worker threads, all claiming expressions from one shared atomic
 * counter; the workers' start-up (~0.05 s each: they load their own copy of the modules) overlaps this
 * thread's work. Progress counts every thread's frames through the shared block.
 */
async function scoreInWorkers(
  jobs: ExpressionJob[],
  opts: ScoreOptions,
  n: number,
): Promise<ExpressionScore[]> {
  const scores: ExpressionScore[] = new Array(jobs.length);
  const perFrame = opts.perFrame ?? false;
  const shared = new SharedArrayBuffer(8);
  const control = new Int32Array(shared);
  let reported = 0;
  const report = () => {
    const now = Atomics.load(control, 1);
    if (now > reported) opts.onFrames?.(now - reported);
    reported = now;
  };
  const pool: Worker[] = [];
  const settled: Promise<void>[] = [];
  let failure: Error | null = null;
  const stop = (e: Error) => {
    failure ??= e;
    Atomics.store(control, 0, jobs.length); // nobody claims another job
  };
  try {
    for (let i = 0; i < n - 1; i++) {
      const w = new Worker(new URL("./score_worker.ts", import.meta.url), { type: "module" });
      pool.push(w);
      settled.push(
        new Promise<void>((resolve) => {
          w.onmessage = (ev: MessageEvent<FromWorker>) => {
            const msg = ev.data;
            if (msg.kind === "done") scores[msg.id] = msg.score;
            else if (msg.kind === "error") stop(new Error(msg.message));
            if (msg.kind !== "done") resolve();
            report();
          };
          w.onerror = (ev) => {
            ev.preventDefault();
            stop(new Error(`scoring worker failed: ${ev.message}`));
            resolve();
          };
        }),
      );
      w.postMessage({ jobs, predDir: opts.predDir, perFrame, control: shared } satisfies ToWorker);
    }
    try {
      claimAndScore(jobs, opts.predDir, perFrame, control, (id, s) => scores[id] = s, report);
    } catch (e) {
      stop(e as Error);
    }
    await Promise.all(settled);
    report();
  } finally {
    for (const w of pool) w.terminate();
  }
  if (failure) throw failure;
  return scores;
}

function summarize(meta: MevisMeta, scores: ExpressionScore[], warn: (m: string) => void): SplitScore {
  const perExpression: Record<string, [number, number]> = {};
  const missing: string[] = [];
  for (const s of scores) {
    perExpression[s.key] = [s.j, s.f];
    if (s.missing && !missing.includes(s.video)) {
      missing.push(s.video);
      warn(`${s.video} not found in the predictions: its expressions score [0, 0]`);
    }
  }
  const J = numpyMean(scores.map((s) => s.j));
  const F = numpyMean(scores.map((s) => s.f));
  const res: SplitScore = {
    J,
    F,
    JF: (J + F) / 2,
    per_expression: perExpression,
    missing_videos: missing,
    num_expressions: scores.length,
    num_frames: scores.reduce((a, s) => a + s.frames, 0),
    num_pixels: scores.reduce((a, s) => a + s.pixels, 0),
    expressions: scores,
  };
  const byType = new Map<string, ExpressionScore[]>();
  for (const s of scores) {
    const type = meta.videos[s.video].expressions[s.expId].type;
    if (typeof type === "string") byType.set(type, [...(byType.get(type) ?? []), s]);
  }
  if (byType.size > 0) {
    res.per_type = {};
    for (const [type, list] of byType) {
      const tj = numpyMean(list.map((s) => s.j));
      const tf = numpyMean(list.map((s) => s.f));
      res.per_type[type] = { J: tj, F: tf, JF: (tj + tf) / 2, count: list.length };
    }
  }
  return res;
}

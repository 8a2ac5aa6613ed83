/**
 * The MeViS splits as lists of records, one per expression, built as the original's `load_mevis_json`
 * (`dshmp/data/datasets/mevis.py`) builds its detectron2 dataset dicts.
 *
 * | name         | folder               | expressions file              | masks read         |
 * |--------------|----------------------|-------------------------------|--------------------|
 * | `mevis_train`| `<root>/mevis/train`  | `meta_expressions_idx.json`   | `mask_dict.json`   |
 * | `mevis_val`  | `<root>/mevis/valid_u`| `meta_expressions.json`       | none (the scorer)  |
 * | `mevis_test` | `<root>/mevis/valid`  | `meta_expressions.json`       | none               |
 *
 * `<root>` is `DATASETS.ROOT`, else `$DSHMP_DATASETS`, else `datasets` (see `../config.ts`). The
 * training split needs `meta_expressions_idx.json`, written by `deno task prepare`.
 *
 * As in the original, ground truth is read only when the image folder's last component is `train`:
 * then videos with fewer than two frames are skipped (and counted), and every record carries, per frame,
 * the expression's objects that have a mask in that frame (`obj_id` as `id`). Elsewhere `refer_id` is -1
 * and `annotations` is empty. Frames are sorted by name; the sentence is lower-cased and its whitespace
 * collapsed (Python's `" ".join(exp.lower().split())`).
 *
 * Problems in the data (see `bad_data.ts`) skip the expression or video and are counted, or, under
 * `strict`, stop the load with a message naming the video, the expressions and the file.
 *
 * @example
 * ```ts
 * import { loadMevisSplit } from "./mevis_dataset.ts";
 * const split = await loadMevisSplit("mevis_train", "datasets");
 * split.records.length; // expressions kept
 * split.stats.skippedShortVideos; // videos under two frames
 * split.report.summary(); // e.g. "missing_frame: 1"
 * ```
 * @module
 */
import { basename, join } from "node:path";
import type { BuildContext, Factory } from "../../../core/registries.ts";
import type { Config } from "../../../core/config/merge.ts";
import { readImageSize } from "../../../core/io/image.ts";
import { datasetRoot, type MevisConfig } from "../config.ts";
import { type BadDataIssue, BadDataReport } from "./bad_data.ts";
import { MaskDict } from "./mask_dict.ts";

/** The original's predefined splits: image folder and expressions file, relative to the root. */
export const MEVIS_SPLITS = {
  mevis_train: { imageRoot: "mevis/train", jsonFile: "mevis/train/meta_expressions_idx.json" },
  mevis_val: { imageRoot: "mevis/valid_u", jsonFile: "mevis/valid_u/meta_expressions.json" },
  mevis_test: { imageRoot: "mevis/valid", jsonFile: "mevis/valid/meta_expressions.json" },
} as const;

/** A predefined split name. */
export type MevisSplitName = keyof typeof MEVIS_SPLITS;

/** One object of an expression in one frame (only objects with a mask in that frame are listed). */
export interface MevisFrameObject {
  /** The expression's `obj_id` entry. */
  id: number;
  /** The matching `anno_id` entry: the key into `mask_dict.json`. */
  anno_id: string;
  /** Always 0: MeViS has one class. */
  category_id: number;
}

/** One expression of one video: the original's dataset dict. */
export interface MevisRecord {
  /** `<imageRoot>/JPEGImages/<video>/<frame>.jpg`, frames sorted by name. */
  file_names: string[];
  /** Number of frames. */
  length: number;
  /** Per frame, the objects with a mask (training split); empty elsewhere. */
  annotations: MevisFrameObject[][];
  /** Lower-cased, whitespace-collapsed expression. */
  sentence: string;
  /** The expression's `idx` (contrastive memory bank row) in training, -1 elsewhere. */
  refer_id: number;
  exp_id: string;
  video_name: string;
}

/** Counts of one load. */
export interface MevisSplitStats {
  /** Videos in the expressions file. */
  videos: number;
  /** Expressions in the expressions file. */
  expressions: number;
  /** Training videos under two frames, skipped as the original does. */
  skippedShortVideos: number;
  /** Expressions skipped for bad data (see the report). */
  skippedExpressions: number;
  /** Object-frames with a mask / without one (the original's "instances without valid segmentation"). */
  instancesWithSegmentation: number;
  instancesWithoutSegmentation: number;
}

/** A loaded split. */
export interface MevisSplit {
  name: string;
  imageRoot: string;
  jsonFile: string;
  records: MevisRecord[];
  /** The indexed `mask_dict.json` when ground truth was read, else null. */
  masks: MaskDict | null;
  /** `[height, width]` of each checked video's first frame (empty when frames are not checked). */
  frameSizes: Map<string, [number, number]>;
  stats: MevisSplitStats;
  report: BadDataReport;
}

/** Options of {@link loadMevisJson}. */
export interface LoadMevisOptions {
  /** Folder holding `JPEGImages/` (and `mask_dict.json` for ground truth). */
  imageRoot: string;
  /** The expressions file. */
  jsonFile: string;
  /** Data set name used in messages (default: the folder's name). */
  name?: string;
  /** Read ground truth; default: the original's rule, the folder's last component is `train`. */
  withAnnotations?: boolean;
  /** List each video's folder and read its first frame's header, to report missing frames and sizes. */
  checkFrames?: boolean;
  /** Where issues go; default a non-strict report printing warnings. */
  report?: BadDataReport;
}

/** Python's `str.split()` separators (`str.isspace`), which differ from JavaScript's `\s`. */
// deno-lint-ignore no-control-regex -- \x1c-\x1f are separators in Python's str.split().
const PY_WHITESPACE = /[\t\n\v\f\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;

/**
 * The original's sentence normalisation, `" ".join(exp.lower().split())`.
 *
 * @example
 * ```ts
 * import { normalizeSentence } from "./mevis_dataset.ts";
 * normalizeSentence("  The Cat\t moving\n"); // "the cat moving"
 * ```
 */
export function normalizeSentence(exp: string): string {
  return exp.toLowerCase().split(PY_WHITESPACE).filter((w) => w.length > 0).join(" ");
}

interface RawExpression {
  exp?: unknown;
  obj_id?: unknown;
  anno_id?: unknown;
  idx?: unknown;
}

interface RawVideo {
  frames?: unknown;
  expressions?: Record<string, RawExpression>;
}

async function readExpressions(path: string, withAnnotations: boolean): Promise<Record<string, RawVideo>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const hint = basename(path) === "meta_expressions_idx.json"
      ? " (the training split needs it: run `deno task prepare`)"
      : "";
    throw new Error(`cannot read ${path}${hint}: ${(e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path} is not JSON: ${(e as Error).message}`);
  }
  const videos = (parsed as { videos?: unknown })?.videos;
  if (typeof videos !== "object" || videos === null || Array.isArray(videos)) {
    throw new Error(`${path} has no "videos" object`);
  }
  for (const [vid, v] of Object.entries(videos as Record<string, RawVideo>)) {
    if (!Array.isArray(v?.frames) || !v.frames.every((f) => typeof f === "string")) {
      throw new Error(`${path}: video "${vid}" has no list of frame names`);
    }
    if (typeof v.expressions !== "object" || v.expressions === null) {
      throw new Error(`${path}: video "${vid}" has no "expressions" object`);
    }
    if (!withAnnotations) continue;
    for (const [eid, e] of Object.entries(v.expressions)) {
      if (!Array.isArray(e?.obj_id) || !Array.isArray(e?.anno_id)) {
        throw new Error(`${path}: video "${vid}", expression ${eid} lacks obj_id / anno_id lists`);
      }
      if (!Number.isInteger(e.idx)) {
        throw new Error(
          `${path}: video "${vid}", expression ${eid} has no integer "idx"; ` +
            "the training split reads meta_expressions_idx.json, written by `deno task prepare`",
        );
      }
    }
  }
  return videos as Record<string, RawVideo>;
}

/** Checks a video's frames exist and reads the first one's size; returns null when unusable. */
async function checkVideoFrames(
  imageRoot: string,
  video: string,
  frames: string[],
  issue: (kind: BadDataIssue["kind"], file: string, detail: string) => void,
): Promise<[number, number] | null> {
  const dir = join(imageRoot, "JPEGImages", video);
  const names = new Set<string>();
  try {
    for await (const entry of Deno.readDir(dir)) names.add(entry.name);
  } catch {
    // A missing folder reports as every frame missing.
  }
  const missing = frames.filter((f) => !names.has(`${f}.jpg`));
  if (missing.length > 0) {
    issue(
      "missing_frame",
      join(dir, `${missing[0]}.jpg`),
      `frame file is missing (${missing.length} of ${frames.length} frames missing)`,
    );
    return null;
  }
  const first = join(dir, `${frames[0]}.jpg`);
  try {
    const { height, width } = await readImageSize(first);
    return [height, width];
  } catch (e) {
    issue("unreadable_image", first, (e as Error).message);
    return null;
  }
}

/**
 * Loads a split from its folder and expressions file (the original's `load_mevis_json`); see the
 * module doc for what records hold and which problems are reported.
 *
 * @example
 * ```ts
 * import { loadMevisJson } from "./mevis_dataset.ts";
 * const split = await loadMevisJson({
 *   imageRoot: "datasets/mevis/valid_u",
 *   jsonFile: "datasets/mevis/valid_u/meta_expressions.json",
 * });
 * split.records[0].refer_id; // -1: no ground truth read outside `train`
 * ```
 */
export async function loadMevisJson(options: LoadMevisOptions): Promise<MevisSplit> {
  const { imageRoot, jsonFile } = options;
  const name = options.name ?? basename(imageRoot.replace(/[\\/]+$/, ""));
  const withAnnotations = options.withAnnotations ?? basename(imageRoot.replace(/[\\/]+$/, "")) === "train";
  const checkFrames = options.checkFrames ?? true;
  const report = options.report ?? new BadDataReport();
  const videos = await readExpressions(jsonFile, withAnnotations);
  const maskPath = join(imageRoot, "mask_dict.json");
  const masks = withAnnotations ? await MaskDict.open(maskPath) : null;

  const stats: MevisSplitStats = {
    videos: 0,
    expressions: 0,
    skippedShortVideos: 0,
    skippedExpressions: 0,
    instancesWithSegmentation: 0,
    instancesWithoutSegmentation: 0,
  };
  const records: MevisRecord[] = [];
  const frameSizes = new Map<string, [number, number]>();

  for (const [video, raw] of Object.entries(videos)) {
    stats.videos++;
    const expressions = Object.entries(raw.expressions!);
    stats.expressions += expressions.length;
    const frames = [...(raw.frames as string[])].sort();
    const expIds = expressions.map(([id]) => id);
    const videoIssue = (kind: BadDataIssue["kind"], file: string, detail: string) =>
      report.add({ kind, split: name, video, expressions: expIds, file, detail });

    if (withAnnotations && frames.length < 2) {
      stats.skippedShortVideos++;
      videoIssue("short_video", jsonFile, `${frames.length} frame(s); training needs at least two`);
      continue;
    }
    let size: [number, number] | null = null;
    if (checkFrames && frames.length > 0) {
      size = await checkVideoFrames(imageRoot, video, frames, videoIssue);
      if (size === null) {
        stats.skippedExpressions += expressions.length;
        continue;
      }
      frameSizes.set(video, size);
    }
    const fileNames = frames.map((f) => join(imageRoot, "JPEGImages", video, `${f}.jpg`));

    for (const [expId, e] of expressions) {
      const issue = (kind: BadDataIssue["kind"], file: string, detail: string) =>
        report.add({ kind, split: name, video, expressions: [expId], file, detail });
      const sentence = normalizeSentence(typeof e.exp === "string" ? e.exp : "");
      if (sentence === "") {
        issue("empty_sentence", jsonFile, `the sentence ${JSON.stringify(e.exp ?? null)} is empty`);
        stats.skippedExpressions++;
        continue;
      }
      const record: MevisRecord = {
        file_names: fileNames,
        length: frames.length,
        annotations: [],
        sentence,
        refer_id: -1,
        exp_id: expId,
        video_name: video,
      };
      if (masks) {
        const annotations = buildAnnotations(e, frames.length, size, masks, jsonFile, issue);
        if (annotations === null) {
          stats.skippedExpressions++;
          continue;
        }
        for (const objs of annotations.frames) record.annotations.push(objs);
        stats.instancesWithSegmentation += annotations.withMask;
        stats.instancesWithoutSegmentation += annotations.withoutMask;
        record.refer_id = e.idx as number;
      }
      records.push(record);
    }
  }
  return { name, imageRoot, jsonFile, records, masks, frameSizes, stats, report };
}

/** Per-frame objects of a training expression, or null (after reporting) when it is unusable. */
function buildAnnotations(
  e: RawExpression,
  length: number,
  frameSize: [number, number] | null,
  masks: MaskDict,
  jsonFile: string,
  issue: (kind: BadDataIssue["kind"], file: string, detail: string) => void,
): { frames: MevisFrameObject[][]; withMask: number; withoutMask: number } | null {
  const objIds = (e.obj_id as unknown[]).map((x) => Math.trunc(Number(x)));
  let annoIds = (e.anno_id as unknown[]).map((x) => String(x));
  if (objIds.length !== annoIds.length) {
    // Python's zip stops at the shorter list; the original trains on that silently.
    issue(
      "id_mismatch",
      jsonFile,
      `${objIds.length} obj_id but ${annoIds.length} anno_id entries; using the first ${
        Math.min(objIds.length, annoIds.length)
      }`,
    );
    annoIds = annoIds.slice(0, objIds.length);
  }
  for (const a of annoIds) {
    const entry = masks.entry(a);
    if (!entry) {
      issue("unknown_anno", masks.path, `anno_id "${a}" is not in mask_dict.json`);
      return null;
    }
    if (entry.problem) {
      issue(entry.problem.kind, masks.path, `anno_id "${a}": ${entry.problem.detail}`);
      return null;
    }
    if (entry.frames !== length) {
      issue(
        "mask_length",
        masks.path,
        `anno_id "${a}" has ${entry.frames} frame masks, the video ${length} frames`,
      );
      return null;
    }
    if (frameSize && entry.size && (entry.size[0] !== frameSize[0] || entry.size[1] !== frameSize[1])) {
      issue(
        "mask_size",
        masks.path,
        `anno_id "${a}" masks are ${entry.size[0]}x${entry.size[1]}, the frames ${frameSize[0]}x${
          frameSize[1]
        }`,
      );
      return null;
    }
  }
  const frames: MevisFrameObject[][] = [];
  let withMask = 0;
  let withoutMask = 0;
  for (let f = 0; f < length; f++) {
    const objs: MevisFrameObject[] = [];
    annoIds.forEach((a, k) => {
      if (masks.entry(a)!.present[f]) {
        objs.push({ id: objIds[k], anno_id: a, category_id: 0 });
        withMask++;
      } else withoutMask++;
    });
    frames.push(objs);
  }
  if (withMask === 0) {
    issue("no_target", masks.path, `none of anno_id ${annoIds.join(", ")} has a mask in any frame`);
    return null;
  }
  return { frames, withMask, withoutMask };
}

/** Options of {@link loadMevisSplit}: those of {@link loadMevisJson} other than the paths. */
export type LoadMevisSplitOptions = Omit<LoadMevisOptions, "imageRoot" | "jsonFile" | "name">;

/**
 * Loads a predefined split (`mevis_train`, `mevis_val`, `mevis_test`) under `root`.
 *
 * @example
 * ```ts
 * import { loadMevisSplit } from "./mevis_dataset.ts";
 * const test = await loadMevisSplit("mevis_test", "datasets", { checkFrames: false });
 * ```
 */
export function loadMevisSplit(
  name: MevisSplitName,
  root: string,
  options: LoadMevisSplitOptions = {},
): Promise<MevisSplit> {
  const split = MEVIS_SPLITS[name];
  if (!split) {
    throw new Error(`unknown MeViS split "${name}"; known: ${Object.keys(MEVIS_SPLITS).join(", ")}`);
  }
  return loadMevisJson({
    ...options,
    name,
    imageRoot: join(root, split.imageRoot),
    jsonFile: join(root, split.jsonFile),
  });
}

/**
 * The registry factory of a predefined split: the root from the config (`DATASETS.ROOT`, else
 * `$DSHMP_DATASETS`, else `datasets`), strictness from `ctx.strictData` (a boolean, default false) and an
 * optional shared `ctx.badData` report. It returns the loading promise.
 *
 * @example
 * ```ts
 * import { createRegistries } from "../../../core/registries.ts";
 * import { mevisDatasetFactory } from "./mevis_dataset.ts";
 * const registries = createRegistries();
 * registries.datasets.register("mevis_train", mevisDatasetFactory("mevis_train"));
 * ```
 */
export function mevisDatasetFactory(name: MevisSplitName): Factory<Promise<MevisSplit>> {
  return (cfg: Config, ctx: BuildContext) => {
    const report = ctx.badData instanceof BadDataReport
      ? ctx.badData
      : new BadDataReport({ strict: ctx.strictData === true });
    return loadMevisSplit(name, datasetRoot(cfg as unknown as MevisConfig), { report });
  };
}

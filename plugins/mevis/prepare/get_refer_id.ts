/**
 * Refer-id preparation for MeViS (the original's `tools/get_refer_id.py`), behind `deno task prepare`.
 *
 * Every expression of a split gets a running index `idx` (videos and expressions in file order). Two
 * expressions share a referent when they are in the same video and name the same objects, and the
 * contrastive loss uses that: an expression's positives are all expressions of its referent (itself
 * included), its negatives the other expressions of the same video. Four files are written beside
 * `meta_expressions.json`, byte for byte as the original writes them (Python `json.dump`, indent 4):
 *
 * - `idx2refer.json`: `{"<idx>": referent}`, referents numbered in order of first appearance;
 * - `idx2positive.json`, `idx2negative.json`: `{"<idx>": [idx, ...]}` in ascending idx order;
 * - `meta_expressions_idx.json`: `{"videos": ...}` with `"idx"` added to every expression (other
 *   top-level keys of the input are dropped, as in the original).
 *
 * The referent key is the video name plus the expression's `obj_id` entries concatenated without a
 * separator, so `[1, 23]` and `[12, 3]` collide and `[1, 2]` differs from `[2, 1]`. That is the
 * original's behaviour and stays the default; `separateObjIds: true` joins the ids with commas instead
 * (the contrastive loss then never mixes two different object sets).
 *
 * @example
 * ```ts
 * import { prepareReferIds } from "./get_refer_id.ts";
 * await prepareReferIds({ root: "datasets/mevis", splits: ["train", "valid_u"] });
 * ```
 * @module
 */
import { join } from "node:path";
import { writeFileAtomic } from "../../../core/io/atomic.ts";
import {
  dumpPythonJson,
  isPyObject,
  parsePythonJson,
  PyFloat,
  type PyJson,
  type PyObject,
  pythonFloatRepr,
} from "./python_json.ts";

/** The splits the original prepares. */
export const DEFAULT_SPLITS: readonly string[] = ["train", "valid_u"];

/** The per-expression tables of one split, indexed by expression idx. */
export interface ReferTables {
  /** Referent number of each expression. */
  idx2refer: number[];
  /** Expressions of the same referent, ascending (the expression itself included). */
  idx2positive: number[][];
  /** Other expressions of the same video, ascending. */
  idx2negative: number[][];
  /** How many distinct referents the split has. */
  referents: number;
  /** How many videos the split has. */
  videos: number;
}

/** Options shared by {@link buildReferTables} and {@link prepareReferIds}. */
export interface ReferIdOptions {
  /** Join `obj_id` entries with "," instead of nothing (fixes the original's key collisions). */
  separateObjIds?: boolean;
}

/** Python's `str()` of one `obj_id` entry. */
function objIdText(v: PyJson, where: string): string {
  if (typeof v === "number" || typeof v === "bigint") return String(v);
  if (typeof v === "string") return v;
  if (v instanceof PyFloat) {
    return Number.isFinite(v.value)
      ? pythonFloatRepr(v.value)
      : String(v.value).replace("Infinity", "inf").replace("NaN", "nan");
  }
  if (typeof v === "boolean") return v ? "True" : "False";
  if (v === null) return "None";
  throw new Error(`${where}: "obj_id" entries must be numbers or strings, got ${JSON.stringify(v)}`);
}

function field(obj: PyObject, key: string, where: string): PyJson {
  if (!obj.has(key)) throw new Error(`${where}: missing key "${key}"`);
  return obj.get(key)!;
}

/**
 * Numbers the expressions of `videos` (the `"videos"` object of a `meta_expressions.json`, in file
 * order), adds `"idx"` to each expression object in place, and builds the referent tables.
 * `source` names the file in error messages.
 *
 * @example
 * ```ts
 * import { buildReferTables } from "./get_refer_id.ts";
 * import { parsePythonJson, type PyObject } from "./python_json.ts";
 * const meta = parsePythonJson(
 *   '{"v": {"frames": ["00000"], "expressions": {"0": {"obj_id": [1]}, "1": {"obj_id": [1]}}}}',
 *   "meta.json",
 * ) as PyObject;
 * buildReferTables(meta, "meta.json").idx2positive; // [[0, 1], [0, 1]]
 * ```
 */
export function buildReferTables(
  videos: PyObject,
  source: string,
  options: ReferIdOptions = {},
): ReferTables {
  const referOf = new Map<string, number>();
  const idx2refer: number[] = [];
  const idx2video: number[] = [];
  const referMembers: number[][] = [];
  const videoMembers: number[][] = [];
  let v = 0;
  for (const [vid, data] of videos) {
    const where = `${source}: video "${vid}"`;
    if (!isPyObject(data)) throw new Error(`${where}: expected an object`);
    // The original sorts the frame list only to take its length; it must still be a list.
    if (!Array.isArray(field(data, "frames", where))) throw new Error(`${where}: "frames" must be a list`);
    const expressions = field(data, "expressions", where);
    if (!isPyObject(expressions)) throw new Error(`${where}: "expressions" must be an object`);
    const members: number[] = [];
    for (const [expId, exp] of expressions) {
      const at = `${where}, expression "${expId}"`;
      if (!isPyObject(exp)) throw new Error(`${at}: expected an object`);
      const objIds = field(exp, "obj_id", at);
      if (!Array.isArray(objIds)) throw new Error(`${at}: "obj_id" must be a list`);
      const key = `${vid}_${objIds.map((o) => objIdText(o, at)).join(options.separateObjIds ? "," : "")}`;
      let refer = referOf.get(key);
      if (refer === undefined) {
        refer = referOf.size;
        referOf.set(key, refer);
        referMembers.push([]);
      }
      const idx = idx2refer.length;
      exp.set("idx", idx);
      idx2refer.push(refer);
      idx2video.push(v);
      referMembers[refer].push(idx);
      members.push(idx);
    }
    videoMembers.push(members);
    v++;
  }
  const idx2positive = idx2refer.map((r) => referMembers[r].slice());
  const idx2negative = idx2refer.map((r, idx) => {
    const positive = new Set(referMembers[r]);
    return videoMembers[idx2video[idx]].filter((x) => !positive.has(x));
  });
  return { idx2refer, idx2positive, idx2negative, referents: referOf.size, videos: v };
}

/** `{"0": x0, "1": x1, ...}`: an idx-keyed table as the original's dicts with int keys serialize. */
function byIdx(values: PyJson[]): PyObject {
  return new Map(values.map((x, i) => [String(i), x]));
}

/** What {@link prepareSplit} did. */
export interface SplitSummary {
  split: string;
  dir: string;
  videos: number;
  expressions: number;
  referents: number;
  files: string[];
}

/**
 * Prepares one split folder (`<root>/<split>`): reads `meta_expressions.json`, writes the four files.
 *
 * @example
 * ```ts
 * import { prepareSplit } from "./get_refer_id.ts";
 * const s = await prepareSplit("datasets/mevis", "valid_u");
 * console.log(`${s.split}: ${s.expressions} expressions`);
 * ```
 */
export async function prepareSplit(
  root: string,
  split: string,
  options: ReferIdOptions = {},
): Promise<SplitSummary> {
  const dir = join(root, split);
  const file = join(dir, "meta_expressions.json");
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(file);
  } catch (e) {
    throw new Error(`cannot read ${file} (split "${split}" under root ${root}): ${(e as Error).message}`);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`${file}: not valid UTF-8`);
  }
  const meta = parsePythonJson(text, file);
  if (!isPyObject(meta)) throw new Error(`${file}: expected a JSON object at the top level`);
  const videos = field(meta, "videos", file);
  if (!isPyObject(videos)) throw new Error(`${file}: "videos" must be an object`);

  const t = buildReferTables(videos, file, options);
  const outputs: [string, PyJson][] = [
    ["idx2refer.json", byIdx(t.idx2refer)],
    ["idx2positive.json", byIdx(t.idx2positive)],
    ["idx2negative.json", byIdx(t.idx2negative)],
    ["meta_expressions_idx.json", new Map([["videos", videos]])],
  ];
  const files: string[] = [];
  for (const [name, value] of outputs) {
    const path = join(dir, name);
    try {
      await writeFileAtomic(path, dumpPythonJson(value, 4));
    } catch (e) {
      throw new Error(`cannot write ${path}: ${(e as Error).message}`);
    }
    files.push(path);
  }
  return { split, dir, videos: t.videos, expressions: t.idx2refer.length, referents: t.referents, files };
}

/** Options of {@link prepareReferIds}. */
export interface PrepareOptions extends ReferIdOptions {
  /** The MeViS folder holding one folder per split. */
  root: string;
  /** Splits to prepare, in order (default {@link DEFAULT_SPLITS}). */
  splits?: readonly string[];
  /** Called after each split (the task prints a line). */
  onSplit?: (summary: SplitSummary) => void;
}

/**
 * Prepares every split in order, like running the original script from the repository root.
 *
 * @example
 * ```ts
 * import { prepareReferIds } from "./get_refer_id.ts";
 * const done = await prepareReferIds({ root: "datasets/mevis", splits: ["valid_u"] });
 * done[0].referents;
 * ```
 */
export async function prepareReferIds(options: PrepareOptions): Promise<SplitSummary[]> {
  const out: SplitSummary[] = [];
  for (const split of options.splits ?? DEFAULT_SPLITS) {
    const s = await prepareSplit(options.root, split, options);
    options.onSplit?.(s);
    out.push(s);
  }
  return out;
}

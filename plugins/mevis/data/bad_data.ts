/**
 * Reporting of bad MeViS data: missing or undecodable frames, `mask_dict.json` entries of the wrong
 * length or size, unknown annotation ids, empty sentences, videos too short to train on. Every issue names
 * the split, the video, the expressions it touches and the file at fault, and is either collected (the
 * sample is skipped and counted, a warning printed) or, under `strict`, thrown as a {@link BadDataError}.
 *
 * The original crashes on most of these (a `KeyError` or an `IndexError` deep in a data-loader worker);
 * where it has a rule of its own, that rule is kept in both modes: training videos with fewer than two
 * frames are skipped (kind `short_video`, never fatal), and an expression with more object ids than
 * annotation ids is cut to the shorter list as Python's `zip` does (kind `id_mismatch`, reported).
 *
 * @example
 * ```ts
 * import { BadDataReport } from "./bad_data.ts";
 * const report = new BadDataReport({ strict: false, warn: () => {} });
 * report.add({
 *   kind: "empty_sentence", split: "mevis_train", video: "v0", expressions: ["3"],
 *   file: "datasets/mevis/train/meta_expressions_idx.json", detail: "the sentence is empty",
 * });
 * report.count("empty_sentence"); // 1
 * ```
 * @module
 */

/** What is wrong. */
export type BadDataKind =
  /** A training video with fewer than two frames (skipped as the original does; never fatal). */
  | "short_video"
  /** A frame listed in `meta_expressions.json` has no JPEG. */
  | "missing_frame"
  /** A JPEG that cannot be read or decoded, or whose size differs from the video's. */
  | "unreadable_image"
  /** A `mask_dict.json` entry with a different number of frames than the video. */
  | "mask_length"
  /** A mask whose size differs from its frame (or from the entry's other masks). */
  | "mask_size"
  /** A mask that is not a COCO RLE, or whose runs do not cover its size. */
  | "bad_mask"
  /** An `anno_id` that `mask_dict.json` does not have. */
  | "unknown_anno"
  /** `obj_id` and `anno_id` of different lengths (cut to the shorter, as the original's `zip`). */
  | "id_mismatch"
  /** A sentence that is empty after lower-casing and collapsing whitespace. */
  | "empty_sentence"
  /** A training expression whose objects appear in no frame (the original would resample forever). */
  | "no_target";

/** Kinds that are reported but never fatal, because the original has a rule for them. */
export const TOLERATED_KINDS: ReadonlySet<BadDataKind> = new Set(["short_video", "id_mismatch"]);

/** One problem found in a split. */
export interface BadDataIssue {
  kind: BadDataKind;
  /** Data set name, e.g. `mevis_train`. */
  split: string;
  video: string;
  /** Expression ids touched (all of the video's for a video-level problem). */
  expressions: string[];
  /** The file at fault (a frame, `mask_dict.json`, `meta_expressions.json`). */
  file: string;
  /** What is wrong with it. */
  detail: string;
}

/**
 * One line naming split, video, expressions and file.
 *
 * @example
 * ```ts
 * import { formatIssue } from "./bad_data.ts";
 * formatIssue({ kind: "missing_frame", split: "mevis_val", video: "v1", expressions: ["0", "1"],
 *   file: "JPEGImages/v1/00003.jpg", detail: "frame file is missing" });
 * // 'mevis_val: video "v1", expressions 0, 1, file JPEGImages/v1/00003.jpg: frame file is missing [missing_frame]'
 * ```
 */
export function formatIssue(issue: BadDataIssue): string {
  const exps = issue.expressions.length === 1
    ? `expression ${issue.expressions[0]}`
    : `expressions ${issue.expressions.join(", ")}`;
  return `${issue.split}: video "${issue.video}", ${exps}, file ${issue.file}: ${issue.detail} [${issue.kind}]`;
}

/** A bad-data problem raised as an error (strict mode, or by a mapper for the loader to handle). */
export class BadDataError extends Error {
  readonly issue: BadDataIssue;
  constructor(issue: BadDataIssue) {
    super(formatIssue(issue));
    this.name = "BadDataError";
    this.issue = issue;
  }
}

/** Options of {@link BadDataReport}. */
export interface BadDataReportOptions {
  /** Throw on the first issue (except {@link TOLERATED_KINDS}) instead of skipping and counting. */
  strict?: boolean;
  /** Where warnings go (default `console.warn`). */
  warn?: (message: string) => void;
  /** Warnings printed per kind before the rest are only counted (default 20). */
  maxWarningsPerKind?: number;
}

/** Collects the issues of one or more splits; see the module doc. */
export class BadDataReport {
  readonly strict: boolean;
  readonly issues: BadDataIssue[] = [];
  #warn: (message: string) => void;
  #maxWarnings: number;
  #counts = new Map<BadDataKind, number>();

  constructor(options: BadDataReportOptions = {}) {
    this.strict = options.strict ?? false;
    this.#warn = options.warn ?? ((m) => console.warn(m));
    this.#maxWarnings = options.maxWarningsPerKind ?? 20;
  }

  /** Records an issue; under `strict` a fatal kind throws a {@link BadDataError} instead. */
  add(issue: BadDataIssue): void {
    if (this.strict && !TOLERATED_KINDS.has(issue.kind)) throw new BadDataError(issue);
    this.issues.push(issue);
    const n = (this.#counts.get(issue.kind) ?? 0) + 1;
    this.#counts.set(issue.kind, n);
    if (n <= this.#maxWarnings) this.#warn(`bad data, skipped: ${formatIssue(issue)}`);
    else if (n === this.#maxWarnings + 1) {
      this.#warn(`bad data: more ${issue.kind} issues are counted but not printed`);
    }
  }

  /** How many issues of `kind` (or of all kinds) were recorded. */
  count(kind?: BadDataKind): number {
    if (kind === undefined) return this.issues.length;
    return this.#counts.get(kind) ?? 0;
  }

  /** `kind: count` pairs, e.g. `"missing_frame: 2, short_video: 1"`, or `"none"`. */
  summary(): string {
    if (this.#counts.size === 0) return "none";
    return [...this.#counts].sort(([a], [b]) => a < b ? -1 : 1).map(([k, n]) => `${k}: ${n}`).join(", ");
  }
}

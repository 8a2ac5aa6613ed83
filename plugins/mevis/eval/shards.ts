/**
 * Splitting an evaluation into `n` disjoint parts (`--shard k/n`) that can run on different machines.
 *
 * The rule depends only on the split's expressions file, never on the machine, the clock or which
 * records a machine could load: take every expression's key `<video>/<exp_id>`, sort the keys by their
 * UTF-16 code units, and give the key at position `i` to shard `i mod n`. Shards are numbered from 0, so
 * a SLURM array `--array=0-7` passes `--shard $SLURM_ARRAY_TASK_ID/8` and a Kubernetes indexed job
 * `--shard $JOB_COMPLETION_INDEX/8`. Shard sizes differ by at most one expression, and neighbouring
 * expressions of one video go to different shards, so long videos spread over all of them.
 *
 * @example
 * ```ts
 * import { parseShard, shardKeys } from "./shards.ts";
 * const shard = parseShard("1/2"); // { index: 1, count: 2 }
 * shardKeys(["b/0", "a/0", "a/1"], shard); // Set { "a/1" }
 * ```
 * @module
 */

/** One part of an evaluation: `index` in `0 .. count-1`. */
export interface Shard {
  index: number;
  count: number;
}

/** The whole evaluation as one shard. */
export const WHOLE: Shard = Object.freeze({ index: 0, count: 1 });

/**
 * Parses `k/n` (0 <= k < n). Throws a message naming the accepted form.
 *
 * @example
 * ```ts
 * import { parseShard } from "./shards.ts";
 * parseShard("3/8"); // { index: 3, count: 8 }
 * ```
 */
export function parseShard(text: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index >= count) {
    throw new Error(`--shard expects k/n with 0 <= k < n (shards count from 0), got "${text}"`);
  }
  return { index, count };
}

/**
 * The key of one expression, as used for sharding: `<video>/<exp_id>`.
 *
 * @example
 * ```ts
 * import { expressionKey } from "./shards.ts";
 * expressionKey("0a1b", "3"); // "0a1b/3"
 * ```
 */
export function expressionKey(video: string, expId: string): string {
  return `${video}/${expId}`;
}

/**
 * The keys among `all` that belong to `shard` (see the module doc for the rule).
 *
 * @example
 * ```ts
 * import { shardKeys } from "./shards.ts";
 * shardKeys(["v/0", "v/1", "v/2"], { index: 0, count: 2 }); // Set { "v/0", "v/2" }
 * ```
 */
export function shardKeys(all: Iterable<string>, shard: Shard): Set<string> {
  const sorted = [...new Set(all)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return new Set(sorted.filter((_, i) => i % shard.count === shard.index));
}

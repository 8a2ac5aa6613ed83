/**
 * A prefetching loader: maps the items of a (possibly endless) source with an async function, keeping up
 * to `prefetch` items started ahead of the consumer, and yields the results in source order. While the
 * consumer works on item `i` (a model step), items `i + 1 ... i + prefetch` are being read and decoded.
 *
 * Results do not depend on timing: item `i` gets its own {@link Generator} seeded from `(seed, i)` by
 * {@link itemSeed}, whatever order the maps finish in, so a run is the same with any `prefetch` or
 * `concurrency`, and item `i` can be rebuilt alone (to resume, or to debug one sample).
 *
 * Work overlaps where the mapping waits: file reads, libvips (sharp) decoding and anything else native run
 * on other threads; plain JavaScript in a map runs between the consumer's own awaits.
 *
 * A map that throws stops the loader with that error, unless `onError` returns `"skip"`: the item is
 * then left out (deterministically, since the failure depends only on the item and its seed).
 *
 * @example
 * ```ts
 * import { prefetchLoader } from "./prefetch_loader.ts";
 * const squares = prefetchLoader([1, 2, 3], async (x, { generator }) => x * x + generator.uniform() * 0, {
 *   seed: 0,
 *   prefetch: 2,
 * });
 * for await (const { index, value } of squares) console.log(index, value); // 0 1, 1 4, 2 9
 * ```
 * @module
 */
import { Generator } from "../random.ts";

/** What a map receives besides the item. */
export interface ItemContext {
  /** Position of the item in the source (0-based). */
  index: number;
  /** The item's seed, {@link itemSeed}`(seed, index)`. */
  seed: number;
  /** A generator seeded with `seed`, for this item only. */
  generator: Generator;
  /** Aborted when the consumer stops early; long maps may check it. */
  signal: AbortSignal;
}

/** One result, with its source position. */
export interface LoadedItem<O> {
  index: number;
  value: O;
}

/** Options of {@link prefetchLoader}. */
export interface PrefetchOptions {
  /** Base seed of the per-item generators. */
  seed: number;
  /** Items started but not yet consumed, at most (default 4). */
  prefetch?: number;
  /** Maps running at once, at most (default: `prefetch`). */
  concurrency?: number;
  /** Index (and seed position) of the source's first item, to resume a stream part way (default 0). */
  firstIndex?: number;
  /** Decides what a failed map does: `"throw"` (default) stops the loader, `"skip"` leaves the item out. */
  onError?: (error: unknown, index: number) => "skip" | "throw";
}

/**
 * The seed of item `index` of a run seeded with `seed`: a 32-bit mix of both, so neighbouring items and
 * neighbouring seeds get unrelated streams.
 *
 * @example
 * ```ts
 * import { itemSeed } from "./prefetch_loader.ts";
 * itemSeed(42, 0) === itemSeed(42, 0); // true
 * itemSeed(42, 0) === itemSeed(42, 1); // false
 * ```
 */
export function itemSeed(seed: number, index: number): number {
  if (!Number.isInteger(seed) || !Number.isInteger(index) || index < 0) {
    throw new RangeError(
      `itemSeed needs an integer seed and a non-negative integer index, got ${seed}, ${index}`,
    );
  }
  // Fold the high words in so that seeds and indices above 2^32 still differ.
  let h = mix32((seed >>> 0) ^ 0x9e3779b9);
  h = mix32(h ^ (Math.floor(seed / 0x100000000) >>> 0));
  h = mix32(h ^ (index >>> 0));
  return mix32(h ^ (Math.floor(index / 0x100000000) >>> 0) ^ 0x85ebca6b);
}

/** murmur3's 32-bit finaliser. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

type Settled<O> = { ok: true; value: O } | { ok: false; error: unknown };

function checkCount(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 1) {
    throw new RangeError(`prefetchLoader: ${what} must be a positive integer, got ${v}`);
  }
}

/**
 * Maps `source` with `map`, `prefetch` items ahead, yielding `{ index, value }` in source order; see the
 * module doc. Breaking out of the loop stops pulling from the source and waits for the maps in flight.
 *
 * @example
 * ```ts
 * import { prefetchLoader } from "./prefetch_loader.ts";
 * function* endless() { for (let i = 0;; i++) yield i; }
 * for await (const { value } of prefetchLoader(endless(), async (i, c) => i + c.generator.uniform(), { seed: 1 })) {
 *   if (value > 10) break;
 * }
 * ```
 */
export async function* prefetchLoader<I, O>(
  source: Iterable<I> | AsyncIterable<I>,
  map: (item: I, ctx: ItemContext) => Promise<O>,
  options: PrefetchOptions,
): AsyncGenerator<LoadedItem<O>, void, undefined> {
  const prefetch = options.prefetch ?? 4;
  const concurrency = options.concurrency ?? prefetch;
  checkCount(prefetch, "prefetch");
  checkCount(concurrency, "concurrency");
  const { seed } = options;
  let next = options.firstIndex ?? 0;
  itemSeed(seed, next); // validates the seed and first index before any work starts
  const onError = options.onError ?? (() => "throw" as const);
  const abort = new AbortController();
  const iterator: Iterator<I> | AsyncIterator<I> = Symbol.asyncIterator in source
    ? (source as AsyncIterable<I>)[Symbol.asyncIterator]()
    : (source as Iterable<I>)[Symbol.iterator]();

  // A small semaphore: maps beyond `concurrency` wait for a running one to finish.
  let running = 0;
  const waiting: (() => void)[] = [];
  const acquire = async () => {
    while (running >= concurrency) await new Promise<void>((r) => waiting.push(r));
    running++;
  };
  const release = () => {
    running--;
    waiting.shift()?.();
  };

  const queue: { index: number; result: Promise<Settled<O>> }[] = [];
  let exhausted = false;
  const start = async (): Promise<void> => {
    const step = await iterator.next();
    if (step.done) {
      exhausted = true;
      return;
    }
    const index = next++;
    const s = itemSeed(seed, index);
    const ctx: ItemContext = { index, seed: s, generator: new Generator(s), signal: abort.signal };
    const result = (async (): Promise<Settled<O>> => {
      await acquire();
      try {
        return { ok: true, value: await map(step.value, ctx) };
      } catch (error) {
        return { ok: false, error };
      } finally {
        release();
      }
    })();
    queue.push({ index, result });
  };

  try {
    while (true) {
      while (!exhausted && queue.length < prefetch) await start();
      const head = queue.shift();
      if (!head) return;
      const settled = await head.result;
      // Refill before handing the result over, so the next items load while the consumer works.
      while (!exhausted && queue.length < prefetch) await start();
      if (settled.ok) yield { index: head.index, value: settled.value };
      else if (onError(settled.error, head.index) === "throw") throw settled.error;
    }
  } finally {
    abort.abort();
    await Promise.allSettled(queue.map((q) => q.result));
    if (!exhausted) await iterator.return?.();
  }
}

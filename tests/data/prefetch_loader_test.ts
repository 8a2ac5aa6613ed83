/**
 * The prefetching loader: source order whatever the timing, per-item seeds, the bound on items ahead,
 * overlap of a slow producer with a slow consumer, skipping, early stop and resuming.
 * @module
 */
import { assert, assertEquals, assertNotEquals, assertRejects } from "../assert.ts";
import { itemSeed, prefetchLoader } from "../../core/data/prefetch_loader.ts";
import { Generator } from "../../core/random.ts";

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

Deno.test("itemSeed mixes seed and index; equal inputs give equal seeds", () => {
  assertEquals(itemSeed(3, 7), itemSeed(3, 7));
  const seeds = new Set<number>();
  for (let s = 0; s < 4; s++) for (let i = 0; i < 64; i++) seeds.add(itemSeed(s, i));
  assertEquals(seeds.size, 256);
  assertNotEquals(itemSeed(0, 2 ** 32), itemSeed(0, 0));
});

Deno.test("results come in source order and do not depend on timing, prefetch or concurrency", async () => {
  // Item delays come from a separate source so that maps finish out of order.
  const jitter = new Generator(99);
  const delays = Array.from({ length: 12 }, () => jitter.randint(0, 15));
  const run = (prefetch: number, concurrency?: number) =>
    collect(prefetchLoader(delays, async (ms, ctx) => {
      const a = ctx.generator.uniform();
      await delay(ms);
      return [ctx.index, ctx.seed, a + ctx.generator.uniform()];
    }, { seed: 5, prefetch, concurrency }));
  const serial = await run(1);
  assertEquals(serial.map((r) => r.index), [...Array(12).keys()]);
  assertEquals(serial.map((r) => r.value[1]), delays.map((_, i) => itemSeed(5, i)));
  assertEquals(await run(4), serial);
  assertEquals(await run(12, 3), serial);
  const other = await collect(
    prefetchLoader(delays, (_ms, ctx) => Promise.resolve(ctx.generator.uniform()), { seed: 6 }),
  );
  assertNotEquals(other.map((r) => r.value), serial.map((r) => r.value[2]));
});

Deno.test("at most `prefetch` items are started ahead and at most `concurrency` run at once", async () => {
  let started = 0;
  let consumed = 0;
  let running = 0;
  let maxAhead = 0;
  let maxRunning = 0;
  const it = prefetchLoader(Array.from({ length: 20 }, (_, i) => i), async (i) => {
    started++;
    running++;
    maxAhead = Math.max(maxAhead, started - consumed);
    maxRunning = Math.max(maxRunning, running);
    await delay(i % 3);
    running--;
    return i;
  }, { seed: 0, prefetch: 5, concurrency: 2 });
  for await (const { value } of it) {
    consumed++;
    assertEquals(value, consumed - 1);
    await delay(1);
  }
  assertEquals(consumed, 20);
  assert(maxAhead <= 5 + 1, `started ${maxAhead} ahead`); // the one being consumed plus five
  assertEquals(maxRunning, 2);
});

Deno.test("a slow consumer overlaps with a slow producer instead of serializing", async () => {
  const n = 8;
  const work = 40;
  const mapStarts: number[] = [];
  const consumeEnds: number[] = [];
  const t0 = performance.now();
  for await (
    const { index } of prefetchLoader(Array.from({ length: n }, (_, i) => i), async (i) => {
      mapStarts[i] = performance.now();
      await delay(work);
      return i;
    }, { seed: 0, prefetch: 2 })
  ) {
    await delay(work); // the model step
    consumeEnds[index] = performance.now();
  }
  const total = performance.now() - t0;
  // Item i + 1 was already loading before the consumer finished item i.
  for (let i = 0; i + 1 < n; i++) {
    assert(mapStarts[i + 1] < consumeEnds[i], `item ${i + 1} waited for the consumer`);
  }
  // Serial would take 2 * n * work = 640 ms; overlapped about (n + 1) * work = 360 ms.
  assert(total < 1.6 * n * work, `took ${total.toFixed(0)} ms`);
});

Deno.test("onError skips failed items or stops the loader with the error", async () => {
  const failOdd = async (i: number) => {
    await delay(1);
    if (i % 2) throw new Error(`item ${i} failed`);
    return i;
  };
  const skippedAt: number[] = [];
  const kept = await collect(prefetchLoader([0, 1, 2, 3, 4], failOdd, {
    seed: 0,
    onError: (_e, index) => (skippedAt.push(index), "skip"),
  }));
  assertEquals(kept.map((r) => r.value), [0, 2, 4]);
  assertEquals(kept.map((r) => r.index), [0, 2, 4]);
  assertEquals(skippedAt, [1, 3]);
  await assertRejects(() => collect(prefetchLoader([0, 1, 2], failOdd, { seed: 0 })), /item 1 failed/);
});

Deno.test("breaking out of an endless source stops it and waits for the maps in flight", async () => {
  let pulled = 0;
  let finished = 0;
  let closed = false;
  function* endless() {
    try {
      for (let i = 0;; i++) {
        pulled++;
        yield i;
      }
    } finally {
      closed = true;
    }
  }
  for await (
    const { value } of prefetchLoader(endless(), async (i, { signal }) => {
      await delay(5);
      finished++;
      return signal.aborted ? -1 : i;
    }, { seed: 0, prefetch: 3 })
  ) {
    if (value === 4) break;
  }
  assert(closed, "the source was not closed");
  assertEquals(finished, pulled); // nothing left running (the test sanitizers would also catch timers)
  assert(pulled <= 5 + 3 + 1, `pulled ${pulled}`);
});

Deno.test("firstIndex resumes a stream with the same per-item seeds", async () => {
  const items = Array.from({ length: 10 }, (_, i) => i);
  const map = (_i: number, ctx: { generator: Generator }) => Promise.resolve(ctx.generator.uniform());
  const full = await collect(prefetchLoader(items, map, { seed: 11 }));
  const tail = await collect(prefetchLoader(items.slice(6), map, { seed: 11, firstIndex: 6 }));
  assertEquals(tail, full.slice(6));
});

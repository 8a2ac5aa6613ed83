/**
 * The buffer-write rule of training iterations with several micro-batches (`core/engine/buffer_writes.ts`):
 * the writes found are exactly the changed elements (-0 and NaN included), undoing them restores only
 * the buffers written, and applied in order the later micro-batch's value wins where two wrote the same
 * element.
 */
import { assertEquals } from "../assert.ts";
import * as ops from "../../core/tensor/ops.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import {
  applyWrites,
  bufferWrites,
  loadValues,
  snapshot,
  undoWrites,
} from "../../core/engine/buffer_writes.ts";

Deno.test("bufferWrites finds the changed elements; applyWrites replays them in order", async () => {
  await useBackend("wasm");
  const bank = ops.variable(ops.tensor([1, 2, 3, 4, 5, 6], [3, 2]), false);
  const start = snapshot([bank]);
  const write = (values: number[]) => loadValues([bank], [Float32Array.from(values)]);
  write([1, 2, 7, 8, 5, 6]); // micro-batch 0 writes row 1
  const first = bufferWrites([bank], start);
  assertEquals(Array.from(first[0].indices), [2, 3]);
  assertEquals(Array.from(first[0].values), [7, 8]);
  // Undoing puts back only the written buffers: `other` keeps a value written outside the rule.
  const other = ops.variable(ops.tensor([0, 0], [2]), false);
  const both = [bank, other];
  const startBoth = [start[0], Float32Array.from([0, 0])];
  loadValues([other], [Float32Array.from([5, 5])]);
  undoWrites(both, first, startBoth);
  assertEquals(Array.from(ops.toArray(bank)), [1, 2, 3, 4, 5, 6]);
  assertEquals(Array.from(ops.toArray(other)), [5, 5]);
  other.dispose();
  write([1, -0, 9, 4, 5, NaN]); // micro-batch 1, from the same start: -0 and NaN count as writes
  const second = bufferWrites([bank], start);
  assertEquals(Array.from(second[0].indices), [1, 2, 5]);
  loadValues([bank], start);
  assertEquals(bufferWrites([bank], start), []);
  applyWrites([bank], first);
  applyWrites([bank], second);
  assertEquals(Array.from(ops.toArray(bank)), [1, -0, 9, 8, 5, NaN]);
  bank.dispose();
});

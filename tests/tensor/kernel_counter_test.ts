/** countKernels: outermost kernels and their time, one counter at a time, the engine restored. */
import { assert, assertEquals, assertThrows } from "../assert.ts";
import * as ops from "../../core/tensor/ops.ts";
import { countKernels } from "../../core/tensor/kernel_counter.ts";
import { onBackends } from "./_util.ts";

Deno.test("countKernels: counts each op's kernels, stops counting at stop(), refuses a second counter", async () => {
  await onBackends(() => {
    const a = ops.ones([4, 4]);
    const b = ops.ones([4, 4]);
    const counter = countKernels();
    assertThrows(() => countKernels(), "another counter");
    const y = ops.matmul(ops.add(a, b), b);
    const during = counter.count;
    counter.stop();
    assert(during >= 2, `add and matmul ran, counted ${during}`);
    assert(counter.ms >= 0);
    ops.dispose(ops.add(a, b));
    assertEquals(counter.count, during, "nothing counted after stop()");
    const again = countKernels();
    ops.dispose(ops.add(a, b));
    again.stop();
    assertEquals(again.count, 1, "one add is one kernel");
    ops.dispose([a, b, y]);
  });
});

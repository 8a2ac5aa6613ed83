/**
 * Counts the kernels the tensor engine runs, and the wall time spent in them. On a CPU backend a small
 * model's step is bound by the per-kernel cost of the engine (tens of microseconds each) more than by
 * arithmetic, so the count says where a step's time goes and whether a change cut it. Only outermost
 * kernels count (a kernel that runs others inside counts once). One counter at a time.
 *
 * @example
 * ```ts
 * import { countKernels } from "./kernel_counter.ts";
 * import * as ops from "./ops.ts";
 * const counter = countKernels();
 * ops.dispose(ops.add(ops.ones([2]), ops.ones([2])));
 * counter.stop();
 * counter.count; // 1: the add (making a tensor from values runs no kernel)
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** What {@link countKernels} returns; `count` and `ms` grow until `stop()`. */
export interface KernelCounter {
  /** Kernels run since the counter started. */
  readonly count: number;
  /** Milliseconds spent inside them (the engine's bookkeeping included). */
  readonly ms: number;
  /** Restores the engine; the figures stay readable. */
  stop(): void;
}

type RunKernel = (...args: unknown[]) => unknown;
let active = false;

/** Starts counting the engine's kernels (throws while another counter runs). */
export function countKernels(): KernelCounter {
  if (active) throw new Error("countKernels: another counter is running; stop it first");
  const engine = tf.engine() as unknown as { runKernel: RunKernel };
  const original = engine.runKernel;
  const state = { count: 0, ms: 0 };
  let depth = 0;
  engine.runKernel = function (this: unknown, ...args: unknown[]) {
    if (depth > 0) return original.apply(this, args);
    depth++;
    state.count++;
    const t0 = performance.now();
    try {
      return original.apply(this, args);
    } finally {
      state.ms += performance.now() - t0;
      depth--;
    }
  };
  active = true;
  let stopped = false;
  return {
    get count() {
      return state.count;
    },
    get ms() {
      return state.ms;
    },
    stop() {
      if (stopped) return;
      stopped = true;
      engine.runKernel = original;
      active = false;
    },
  };
}

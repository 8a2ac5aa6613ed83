/**
 * Buffers a forward writes (DsHmp's contrastive memory bank), under one rule for every micro-batch of an
 * iteration: each reads the buffers as they were when the iteration started, and their writes are
 * applied after the last one, in micro-batch order. With one micro-batch this is plain training; with
 * several it makes the numbers independent of where the micro-batches run (this process or replicas in
 * worker threads, `replicas.ts`), so a run on two cores equals one on sixteen.
 *
 * @example
 * ```ts ignore
 * const buffers = stateBuffers(model);
 * const start = snapshot(buffers);
 * // ... a forward ...
 * const writes = bufferWrites(buffers, start);
 * undoWrites(buffers, writes, start); // the next micro-batch reads `start` again
 * // ... after the last micro-batch, in order:
 * applyWrites(buffers, writes);
 * ```
 * @module
 */
import * as ops from "../tensor/ops.ts";
import type { DType, Variable } from "../tensor/ops.ts";
import type { Module } from "../tensor/nn/module.ts";

/** The values of a buffer. */
export type TypedArray = Float32Array | Int32Array | Uint8Array;

/** The elements of buffer `buffer` (an index into {@link stateBuffers}) one micro-batch changed. */
export interface BufferWrite {
  buffer: number;
  indices: Int32Array;
  values: TypedArray;
}

/** The module's persistent buffers (its state dict without the parameters), in state-dict order. */
export function stateBuffers(module: Module): Variable[] {
  const params = new Set(module.namedParameters().map(([, v]) => v));
  return [...module.stateDict().values()].filter((v) => !params.has(v));
}

/** Copies of the buffers' values. */
export function snapshot(buffers: readonly Variable[]): TypedArray[] {
  return buffers.map((b) => ops.toArray(b).slice());
}

/** Sets each variable (buffer or parameter) to its values in `values`. */
export function loadValues(vars: readonly Variable[], values: readonly TypedArray[]): void {
  vars.forEach((v, i) => assignValues(v, values[i]));
}

function assignValues(v: Variable, data: TypedArray): void {
  const t = ops.tensor(data, [...v.shape], v.dtype as DType);
  v.assign(t);
  ops.dispose(t);
}

/** The elements that differ from `before` (compared bitwise, so NaN and -0 count as written). */
export function bufferWrites(buffers: readonly Variable[], before: readonly TypedArray[]): BufferWrite[] {
  const writes: BufferWrite[] = [];
  buffers.forEach((b, i) => {
    const after = ops.toArray(b);
    const changed: number[] = [];
    for (let j = 0; j < after.length; j++) if (!Object.is(after[j], before[i][j])) changed.push(j);
    if (changed.length === 0) return;
    const values = after.slice(0, changed.length);
    changed.forEach((j, n) => (values[n] = after[j]));
    writes.push({ buffer: i, indices: Int32Array.from(changed), values });
  });
  return writes;
}

/** Writes the elements of `writes` into the buffers. */
export function applyWrites(buffers: readonly Variable[], writes: readonly BufferWrite[]): void {
  for (const w of writes) {
    const data = ops.toArray(buffers[w.buffer]).slice();
    w.indices.forEach((at, n) => (data[at] = w.values[n]));
    assignValues(buffers[w.buffer], data);
  }
}

/** Puts back the buffers `writes` changed to their values in `before` (the others are untouched). */
export function undoWrites(
  buffers: readonly Variable[],
  writes: readonly BufferWrite[],
  before: readonly TypedArray[],
): void {
  for (const b of new Set(writes.map((w) => w.buffer))) assignValues(buffers[b], before[b]);
}

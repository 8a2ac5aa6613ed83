/**
 * Data-parallel training on the CPU backends: model replicas in worker threads, each computing whole
 * micro-batches while the trainer's process computes another. TF.js's wasm kernels are too small to keep
 * two cores busy from one thread, so a replica per core is what makes a second core count.
 *
 * Micro-batches run in groups: the first of a group on the trainer's process, the others on the
 * replicas. Each replica gets the trainable weights, the buffers as the iteration started and one
 * micro-batch (its plain data, its index `k`); it loads them, re-seeds its generators for `k`
 * (`micro_batch.ts`), runs the loss terms and their gradients and sends back those and the buffer
 * elements its forward wrote (`buffer_writes.ts`). The trainer adds the gradients and applies the writes
 * in micro-batch order and steps the optimizer once: the run is the one-process run, bit for bit (the
 * wasm kernels give the same numbers on any thread count).
 *
 * The worker module is the task's: it calls {@link serveReplica} with a function that builds the same
 * model from the `init` data (a config's command line, typically). At start the trainer sends its whole
 * state dict, so frozen and loaded weights match too. A replica may also serve other work with the
 * current weights ({@link ReplicaPool.call}, {@link ReplicaModel.serve}): the train task has each one
 * predict a shard of the test set while evaluating.
 *
 * @example
 * ```ts ignore
 * // worker.ts
 * import { serveReplica } from "../core/engine/replicas.ts";
 * serveReplica(async (init) => {
 *   const net = await buildNet(init); // the same model as the trainer's
 *   return { module: net, model: lossModelOf(net), generators: { dropout: net.generator } };
 * });
 * // main
 * const pool = await ReplicaPool.start(1, { workerUrl: new URL("./worker.ts", import.meta.url), init }, module, params, seed);
 * const weights = { params: params.map((p) => ops.toArray(p)), buffers: snapshot(stateBuffers(module)) };
 * const result = await pool.microBatch(0, batch, iteration, k, weights, params);
 * pool.close();
 * ```
 * @module
 */
import * as ops from "../tensor/ops.ts";
import type { DType, Tensor, Variable } from "../tensor/ops.ts";
import type { Module } from "../tensor/nn/module.ts";
import type { Generator } from "../random.ts";
import {
  type LossModel,
  microBatchGrads,
  type MicroBatchResult,
  reseedForMicroBatch,
} from "./micro_batch.ts";
import {
  type BufferWrite,
  bufferWrites,
  loadValues,
  stateBuffers,
  type TypedArray,
} from "./buffer_writes.ts";

/** How to start replicas: the worker module (calling {@link serveReplica}) and what its builder gets. */
export interface ReplicaSpec {
  workerUrl: URL | string;
  /** Plain data (structured-cloneable) for the worker's build function. */
  init: unknown;
}

/**
 * Other work a replica does with the trainer's current weights (a shard of an evaluation): gets a
 * request and a function to send progress with, returns a structured-cloneable result.
 */
export type ReplicaService = (request: unknown, report: (progress: unknown) => void) => Promise<unknown>;

/** What a replica's build function returns. */
export interface ReplicaModel<B> {
  /** The root module (its state dict keys match the trainer's) and its loss terms. */
  module: Module;
  model: LossModel<B>;
  /** The generators the model draws from, re-seeded per micro-batch as on the trainer's process. */
  generators: Record<string, Generator>;
  /** Answers {@link ReplicaPool.call}, after the weights are loaded. */
  serve?: ReplicaService;
}

interface StateEntry {
  key: string;
  dtype: string;
  shape: number[];
  data: TypedArray;
}

/** Messages to a replica. */
type ToReplica =
  | { kind: "init"; init: unknown; seed: number; state: StateEntry[]; params: string[]; buffers: string[] }
  | { kind: "step"; id: number; batch: unknown; iteration: number; k: number; weights: StepWeights }
  | { kind: "call"; id: number; request: unknown; weights: StepWeights };

/** What a micro-batch starts from: the trainable parameters and the buffers, in the order sent at init. */
export interface StepWeights {
  params: Float32Array[];
  buffers: TypedArray[];
}

/** Messages from a replica. */
type FromReplica =
  | { kind: "ready" }
  | {
    kind: "result";
    id: number;
    names: string[];
    values: number[];
    grads: (Float32Array | null)[];
    writes: BufferWrite[];
  }
  | { kind: "called"; id: number; result: unknown }
  | { kind: "report"; id: number; progress: unknown }
  | { kind: "error"; id?: number; message: string };

type StepReply = Extract<FromReplica, { kind: "result" }>;
type CallReply = Extract<FromReplica, { kind: "called" }>;
type Reply = StepReply | CallReply;

interface Pending {
  resolve: (r: Reply) => void;
  reject: (e: Error) => void;
  onReport?: (progress: unknown) => void;
}

/** The trainer's side: started workers, each holding one replica. */
export class ReplicaPool {
  readonly #workers: Worker[];
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;
  #failure: Error | null = null;

  private constructor(workers: Worker[]) {
    this.#workers = workers;
  }

  /** Replicas in this pool. */
  get size(): number {
    return this.#workers.length;
  }

  /**
   * Starts `count` replicas of `module` and waits until each has built its model and loaded the
   * module's state. `params` are the variables the trainer optimizes (their gradients come back).
   */
  static async start(
    count: number,
    spec: ReplicaSpec,
    module: Module,
    params: readonly Variable[],
    seed: number,
  ): Promise<ReplicaPool> {
    const entries = [...module.stateDict()];
    const keyOf = new Map<Variable, string>(entries.map(([k, v]) => [v, k]));
    const keys = params.map((p) => {
      const key = keyOf.get(p);
      if (key === undefined) {
        throw new Error(`replicas: parameter ${p.name} is not in the module's state dict`);
      }
      return key;
    });
    const bufferSet = new Set(stateBuffers(module));
    const bufferKeys = entries.filter(([, v]) => bufferSet.has(v)).map(([k]) => k);
    const state: StateEntry[] = entries.map(([key, v]) => ({
      key,
      dtype: v.dtype,
      shape: [...v.shape],
      data: ops.toArray(v),
    }));
    const workers: Worker[] = [];
    const pool = new ReplicaPool(workers);
    try {
      await Promise.all(Array.from({ length: count }, async (_, r) => {
        const w = new Worker(new URL(spec.workerUrl).href, { type: "module" });
        workers.push(w);
        await new Promise<void>((resolve, reject) => {
          w.onerror = (ev) => {
            ev.preventDefault();
            reject(new Error(`replica ${r + 1}: ${ev.message}`));
          };
          w.onmessage = (ev: MessageEvent<FromReplica>) => {
            if (ev.data.kind === "ready") resolve();
            else if (ev.data.kind === "error") reject(new Error(`replica ${r + 1}: ${ev.data.message}`));
          };
          w.postMessage(
            {
              kind: "init",
              init: spec.init,
              seed,
              state,
              params: keys,
              buffers: bufferKeys,
            } satisfies ToReplica,
          );
        });
        pool.#listen(w, r);
      }));
    } catch (e) {
      pool.close();
      throw e;
    }
    return pool;
  }

  #listen(w: Worker, r: number): void {
    w.onmessage = (ev: MessageEvent<FromReplica>) => {
      const msg = ev.data;
      if (msg.kind === "ready") return;
      const pending = msg.id === undefined ? undefined : this.#pending.get(msg.id);
      if (msg.kind === "error") {
        const error = new Error(`replica ${r + 1}: ${msg.message}`);
        if (pending) {
          this.#pending.delete(msg.id!);
          pending.reject(error);
        } else this.#fail(error);
        return;
      }
      if (!pending) return;
      if (msg.kind === "report") {
        pending.onReport?.(msg.progress);
        return;
      }
      this.#pending.delete(msg.id);
      pending.resolve(msg);
    };
    w.onerror = (ev) => {
      ev.preventDefault();
      this.#fail(new Error(`replica ${r + 1} stopped: ${ev.message}`));
    };
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const p of this.#pending.values()) p.reject(error);
    this.#pending.clear();
  }

  /**
   * Runs micro-batch `k` on replica `r` from `weights` (buffers in {@link stateBuffers} order) and returns
   * its loss terms, its gradients as tensors keyed by the trainer's variable names (the caller owns
   * them) and its buffer writes.
   */
  async microBatch<B>(
    r: number,
    batch: B,
    iteration: number,
    k: number,
    weights: StepWeights,
    params: readonly Variable[],
  ): Promise<MicroBatchResult> {
    const reply = await this.#send(
      r,
      (id) => ({ kind: "step", id, batch, iteration, k, weights }),
    ) as StepReply;
    const grads: Record<string, Tensor> = {};
    reply.grads.forEach((g, i) => {
      if (g !== null) grads[params[i].name] = ops.tensor(g, [...params[i].shape]);
    });
    return { names: reply.names, values: reply.values, grads, writes: reply.writes };
  }

  /**
   * Loads `weights` into replica `r` and runs its {@link ReplicaModel.serve} on `request`; `onReport`
   * gets what the service reports as it goes. Returns the service's result.
   */
  async call(
    r: number,
    request: unknown,
    weights: StepWeights,
    onReport?: (progress: unknown) => void,
  ): Promise<unknown> {
    const reply = await this.#send(r, (id) => ({ kind: "call", id, request, weights }), onReport);
    return (reply as CallReply).result;
  }

  #send(r: number, message: (id: number) => ToReplica, onReport?: (p: unknown) => void): Promise<Reply> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    return new Promise<Reply>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, onReport });
      this.#workers[r].postMessage(message(id));
    });
  }

  /** Stops the workers (pending micro-batches are rejected). */
  close(): void {
    this.#fail(new Error("replicas closed"));
    for (const w of this.#workers) w.terminate();
  }
}

/**
 * The worker's side: builds the replica from the first message, then answers each step. Call it at the
 * top level of the worker module.
 */
export function serveReplica<B>(build: (init: unknown) => Promise<ReplicaModel<B>>): void {
  const scope = self as unknown as {
    onmessage: ((ev: MessageEvent<ToReplica>) => void) | null;
    postMessage(msg: FromReplica, transfer?: Transferable[]): void;
  };
  let replica: Replica<B> | null = null;
  // Messages are handled one at a time, in order: the build is awaited before the first step.
  let queue = Promise.resolve();
  scope.onmessage = (ev) => {
    const msg = ev.data;
    queue = queue.then(async () => {
      try {
        if (msg.kind === "init") {
          const built = await build(msg.init);
          const state = new Map(msg.state.map((e) => [e.key, ops.tensor(e.data, e.shape, e.dtype as DType)]));
          try {
            built.module.loadStateDict(state);
          } finally {
            ops.dispose([...state.values()]);
          }
          const own = built.module.stateDict();
          const find = (key: string) => {
            const v = own.get(key);
            if (v === undefined) throw new Error(`the replica's model has no ${key}`);
            return v;
          };
          built.module.train();
          replica = { built, params: msg.params.map(find), buffers: msg.buffers.map(find), seed: msg.seed };
          scope.postMessage({ kind: "ready" });
          return;
        }
        if (replica === null) throw new Error("a step came before the replica was built");
        if (msg.kind === "call") {
          const result = await call(replica, msg, (progress) => {
            scope.postMessage({ kind: "report", id: msg.id, progress });
          });
          scope.postMessage({ kind: "called", id: msg.id, result });
          return;
        }
        scope.postMessage(...step(replica, msg));
      } catch (e) {
        const id = msg.kind === "init" ? undefined : msg.id;
        scope.postMessage({ kind: "error", id, message: (e as Error).stack ?? String(e) });
      }
    });
  };
}

interface Replica<B> {
  built: ReplicaModel<B>;
  params: Variable[];
  buffers: Variable[];
  seed: number;
}

function call<B>(
  replica: Replica<B>,
  msg: Extract<ToReplica, { kind: "call" }>,
  report: (progress: unknown) => void,
): Promise<unknown> {
  const { built, params, buffers } = replica;
  if (!built.serve) throw new Error("this replica serves no calls (its build returned no serve)");
  loadValues(params, msg.weights.params);
  loadValues(buffers, msg.weights.buffers);
  return built.serve(msg.request, report);
}

function step<B>(
  replica: Replica<B>,
  msg: Extract<ToReplica, { kind: "step" }>,
): [FromReplica, Transferable[]] {
  const { built, params, buffers, seed } = replica;
  loadValues(params, msg.weights.params);
  loadValues(buffers, msg.weights.buffers);
  reseedForMicroBatch(built.generators, seed, msg.k);
  const { names, values, grads } = microBatchGrads(built.model, msg.batch as B, msg.iteration, params);
  const transfer: ArrayBuffer[] = [];
  const arrays = params.map((p) => {
    const g = grads[p.name];
    if (g === undefined) return null;
    const a = new Float32Array(ops.toArray(g));
    transfer.push(a.buffer);
    return a;
  });
  ops.dispose(Object.values(grads));
  const writes = bufferWrites(buffers, msg.weights.buffers);
  return [{ kind: "result", id: msg.id, names, values, grads: arrays, writes }, transfer];
}

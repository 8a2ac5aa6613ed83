/**
 * The tiny model the engine's tests train: a two-layer MLP with a LayerNorm and dropout, regressing a
 * fixed random linear map of synthetic inputs, with three loss terms (a main squared error, an
 * auxiliary per-layer term `loss_aux_0` and an L1 term) and a weight dict, like DsHmp's loss terms in
 * miniature. Everything random comes from seeded generators: the initialisation from `seed`, each
 * micro-batch from the trainer's per-item generator, the dropout masks from `generator` (which the
 * trainer re-seeds for each micro-batch).
 *
 * @example
 * ```ts ignore
 * import { tinySetup } from "./tiny_model.ts";
 * const { model, data, generators } = tinySetup({ seed: 7 });
 * ```
 * @module
 */
import * as ops from "../../core/tensor/ops.ts";
import { LayerNorm, Linear, Module } from "../../core/tensor/nn/mod.ts";
import { Generator } from "../../core/random.ts";
import { type BatchSource, type TrainableModel, Trainer } from "../../core/engine/trainer.ts";
import type { TrainerHook } from "../../core/engine/hooks.ts";
import { readMetrics } from "../../core/engine/metrics_log.ts";
import { activeBackend } from "../../core/tensor/backend.ts";
import type { SolverOptions } from "../../core/engine/optimizer.ts";

/** One micro-batch: inputs `[n, 4]` and targets `[n, 2]`, plain data. */
export interface TinyBatch {
  x: Float32Array;
  y: Float32Array;
  n: number;
}

/** The MLP: `linear2(dropout(gelu(norm(linear1(x)))))`, plus an auxiliary head on the hidden layer. */
export class TinyNet extends Module {
  readonly linear1: Linear;
  readonly norm: LayerNorm;
  readonly linear2: Linear;
  readonly aux: Linear;

  constructor(readonly generator: Generator, init: Generator) {
    super();
    this.linear1 = this.registerModule("linear1", new Linear(4, 8, { generator: init }));
    this.norm = this.registerModule("norm", new LayerNorm(8));
    this.linear2 = this.registerModule("linear2", new Linear(8, 2, { generator: init }));
    this.aux = this.registerModule("aux", new Linear(8, 2, { generator: init }));
  }

  forward(x: ops.Tensor): { out: ops.Tensor; aux: ops.Tensor } {
    const h = ops.gelu(this.norm.forward(this.linear1.forward(x)));
    const dropped = ops.dropout(h, 0.1, this.training, this.generator);
    return { out: this.linear2.forward(dropped), aux: this.aux.forward(h) };
  }
}

// The target map; fixed so that every test draws the same task.
const TARGET = [[0.5, -1.0], [1.5, 0.25], [-0.75, 0.8], [0.3, -0.4]];

/** The data: micro-batch `index` is `n` normal inputs from its generator and their targets plus noise. */
export function tinyData(n = 3): BatchSource<TinyBatch> {
  return (_index, generator) => {
    const x = generator.fillNormal(new Float32Array(n * 4)) as Float32Array;
    const y = new Float32Array(n * 2);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < 2; j++) {
        let s = 0.05 * generator.normal();
        for (let k = 0; k < 4; k++) s += x[i * 4 + k] * TARGET[k][j];
        y[i * 2 + j] = s;
      }
    }
    return { x, y, n };
  };
}

/** The tiny model as the trainer sees it; the weights imitate a `weight_dict` (one term is dropped). */
export function tinyModel(net: TinyNet): TrainableModel<TinyBatch> {
  return {
    module: net,
    lossWeights: { loss_mse: 2, loss_aux_0: 0.5, loss_l1: 1 },
    lossTerms(batch) {
      const x = ops.tensor(batch.x, [batch.n, 4]);
      const y = ops.tensor(batch.y, [batch.n, 2]);
      const { out, aux } = net.forward(x);
      return {
        loss_mse: ops.mean(ops.square(ops.sub(out, y))),
        loss_aux_0: ops.mean(ops.square(ops.sub(aux, y))),
        loss_l1: ops.mean(ops.abs(ops.sub(out, y))),
        loss_unweighted: ops.sum(out), // no weight: dropped, as DsHmp drops terms outside weight_dict
      };
    },
  };
}

/** The solver of the tests: the paper's settings scaled down (clipping on, a decay step, warm-up). */
export function tinySolver(maxIter: number, imsPerBatch = 2): SolverOptions {
  return {
    paramGroups: {
      baseLr: 0.01,
      weightDecay: 0.05,
      weightDecayNorm: 0,
      weightDecayEmbed: 0,
      backboneMultiplier: 0.1,
    },
    adamW: { clip: { type: "full_model", value: 0.5, normType: 2 } },
    schedule: {
      maxIter,
      steps: [Math.max(1, Math.floor(maxIter * 0.75))],
      gamma: 0.1,
      warmupFactor: 0.5,
      warmupIters: 2,
      warmupMethod: "linear",
      rescaleInterval: false,
    },
    imsPerBatch,
  };
}

/** A fresh model, its data and its dropout generator, all from `seed`. */
export function tinySetup({ seed = 7, n = 3 } = {}) {
  const dropoutGenerator = new Generator(seed + 1);
  const net = new TinyNet(dropoutGenerator, new Generator(seed));
  return { net, model: tinyModel(net), data: tinyData(n), generators: { dropout: dropoutGenerator } };
}

/** The model's weights as plain arrays, by state-dict key (to compare runs bitwise). */
export function weightsOf(net: Module): Record<string, number[]> {
  return Object.fromEntries([...net.stateDict()].map(([k, v]) => [k, Array.from(ops.toArray(v))]));
}

/** Options of {@link runTiny}. */
export interface TinyRunOptions {
  outputDir: string;
  maxIter: number;
  seed?: number;
  /** Seed of the initial weights (default: `seed`); a resumed run may start from other weights. */
  initSeed?: number;
  imsPerBatch?: number;
  microBatchSize?: number;
  checkpointPeriod?: number;
  prefetch?: number;
  resume?: boolean;
  /** Extra hooks (after the built-in ones). */
  hooks?: TrainerHook[];
  /** Records the micro-batch indices the data function is asked for. */
  seen?: number[];
  /** Replicas in worker threads (`tiny_replica.ts`); `failBuild` makes their build throw that message. */
  replicas?: number;
  failBuild?: string;
}

/** Trains the tiny model in `outputDir` and returns the network (the caller disposes it). */
export async function runTiny(opts: TinyRunOptions): Promise<{ net: TinyNet; trainer: Trainer<TinyBatch> }> {
  const seed = opts.seed ?? 7;
  const setup = tinySetup({ seed: opts.initSeed ?? seed });
  const data: BatchSource<TinyBatch> = (index, generator) => {
    opts.seen?.push(index);
    return setup.data(index, generator);
  };
  const trainer = new Trainer({
    model: setup.model,
    data,
    solver: tinySolver(opts.maxIter, opts.imsPerBatch ?? 2),
    microBatchSize: opts.microBatchSize ?? 1,
    outputDir: opts.outputDir,
    seed,
    checkpointPeriod: opts.checkpointPeriod ?? 4,
    generators: setup.generators,
    replicas: opts.replicas
      ? {
        count: opts.replicas,
        spec: {
          workerUrl: new URL("./tiny_replica.ts", import.meta.url),
          init: { seed: opts.initSeed ?? seed, backend: activeBackend()!.name, failBuild: opts.failBuild },
        },
      }
      : undefined,
    prefetch: opts.prefetch,
    progress: false,
    hooks: opts.hooks,
    log: () => {},
  });
  await trainer.resumeOrLoad({ resume: opts.resume ?? false });
  try {
    await trainer.train();
  } catch (e) {
    trainer.dispose();
    setup.net.dispose();
    throw e;
  }
  trainer.dispose();
  return { net: setup.net, trainer };
}

/** The loss rows of a run's `metrics.jsonl` without the timings (which differ between runs). */
export async function lossesOf(outputDir: string): Promise<Record<string, unknown>[]> {
  const rows = await readMetrics(`${outputDir}/metrics.jsonl`);
  return rows.filter((r) => "total_loss" in r).map(({ time: _t, data_time: _d, ...rest }) => rest);
}

/** SHA-256 of the weights' float32 bytes in state-dict order, hex. */
export async function weightsDigest(net: Module): Promise<string> {
  const parts = [...net.stateDict()].map(([k, v]) => [k, ops.toArray(v)] as const);
  const size = parts.reduce((s, [k, a]) => s + k.length + a.byteLength, 0);
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const [k, a] of parts) {
    bytes.set(new TextEncoder().encode(k), at); // state-dict keys are ASCII: one byte per character
    at += k.length;
    bytes.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at);
    at += a.byteLength;
  }
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The golden run: its settings are part of the golden file, so that a change shows in review. */
export const GOLDEN_RUN = {
  seed: 7,
  maxIter: 8,
  imsPerBatch: 2,
  microBatchSize: 1,
  checkpointPeriod: 4,
} as const;

/** What the golden file holds besides its header: the run's loss rows and final weights' digest. */
export interface GoldenRecord {
  run: typeof GOLDEN_RUN;
  losses: Record<string, unknown>[];
  weightsSha256: string;
}

/** Runs {@link GOLDEN_RUN} in `outputDir` and records it. */
export async function goldenRecord(outputDir: string): Promise<GoldenRecord> {
  const { net } = await runTiny({ outputDir, ...GOLDEN_RUN });
  const record = {
    run: GOLDEN_RUN,
    losses: await lossesOf(outputDir),
    weightsSha256: await weightsDigest(net),
  };
  net.dispose();
  return record;
}

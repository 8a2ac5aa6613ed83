/**
 * DsHmp's contrastive memory bank (`MemoryConstruct` in `vita_criterion.py`): one 256-wide feature per
 * training expression, indexed by the expression's `idx` (`refer_id` in the samples), in the buffer
 * `features` `[numSamples, numFeatures]` (23051 x 256 for MeViS train; initialised from a normal).
 *
 * An expression's positives are `idx2positive[idx]` (the expressions of the same referent, itself
 * included) and its hard negatives `idx2negative[idx]` (the other expressions of its video), both from
 * `deno task prepare`. {@link MemoryConstruct.getTrainingSamples} returns the positives' features and
 * `numContrastiveBatch - #positives` negatives: random other expressions (neither positive nor hard
 * negative) followed by all hard negatives, or only the first hard negatives when they alone are
 * enough. The random draw is {@link NegativeSampler} (a {@link Generator} by default; injectable).
 *
 * @example
 * ```ts
 * import * as ops from "../../../core/tensor/ops.ts";
 * import { Generator } from "../../../core/random.ts";
 * import { MemoryConstruct } from "./memory_bank.ts";
 * const bank = new MemoryConstruct({
 *   numFeatures: 4, numSamples: 10, numContrastiveBatch: 5,
 *   tables: { idx2positive: { "3": [3, 7] }, idx2negative: { "3": [1] } },
 *   generator: new Generator(0),
 * });
 * const s = bank.sampleIndices(3); // positives [3, 7]; negatives: 2 random others, then 1
 * bank.update(3, ops.ones([1, 4])); // features[3] = 0.1 * features[3] + 0.9
 * ```
 * @module
 */
import { join } from "node:path";
import * as ops from "../../../core/tensor/ops.ts";
import type { Tensor, Variable } from "../../../core/tensor/ops.ts";
import { Module } from "../../../core/tensor/nn/mod.ts";
import { defaultGenerator, type Generator } from "../../../core/random.ts";

/** `idx2positive.json` / `idx2negative.json`: expression idx (as a string) -> expression idxs. */
export interface ContrastiveTables {
  idx2positive: Record<string, number[]>;
  idx2negative: Record<string, number[]>;
}

/**
 * Draws `size` distinct elements of `candidates` (the original's `np.random.choice(candidates, size,
 * replace=False)`).
 */
export type NegativeSampler = (candidates: number[], size: number) => number[];

/** Reads `idx2positive.json` and `idx2negative.json` from a split folder (`datasets/mevis/train`). */
export function loadContrastiveTables(dir: string): ContrastiveTables {
  const read = (name: string) => {
    const file = join(dir, name);
    try {
      return JSON.parse(Deno.readTextFileSync(file));
    } catch (e) {
      throw new Error(`${file}: ${(e as Error).message} (run \`deno task prepare\` to write it)`);
    }
  };
  return { idx2positive: read("idx2positive.json"), idx2negative: read("idx2negative.json") };
}

/** A {@link NegativeSampler} drawing from `generator` (the process-wide one by default). */
export function generatorNegativeSampler(generator: Generator = defaultGenerator()): NegativeSampler {
  return (candidates, size) => {
    if (size < 0) throw new Error(`cannot draw a negative number (${size}) of negatives`);
    return generator.sampleWithoutReplacement(candidates.length, size).map((i) => candidates[i]);
  };
}

/** Constructor options of {@link MemoryConstruct}; the defaults are the original's hard-coded values. */
export interface MemoryConstructOptions {
  /** Feature width (256). */
  numFeatures?: number;
  /** Number of training expressions (23051, MeViS train). */
  numSamples?: number;
  /** Positives plus negatives per anchor (100). */
  numContrastiveBatch?: number;
  /** The idx2positive / idx2negative tables; needed only by {@link MemoryConstruct.getTrainingSamples}. */
  tables?: ContrastiveTables;
  /** Where the initial features come from. */
  generator?: Generator;
  /** The random negatives; by default drawn from `generator`. */
  negativeSampler?: NegativeSampler;
}

/** The indices {@link MemoryConstruct.sampleIndices} picks. */
export interface ContrastiveSampleIndices {
  positive: number[];
  negative: number[];
}

/** The contrastive memory bank. Buffer: `features` `[numSamples, numFeatures]`. */
export class MemoryConstruct extends Module {
  readonly numFeatures: number;
  readonly numSamples: number;
  numContrastiveBatch: number;
  tables: ContrastiveTables | undefined;
  negativeSampler: NegativeSampler;
  readonly features: Variable;

  constructor(o: MemoryConstructOptions = {}) {
    super();
    this.numFeatures = o.numFeatures ?? 256;
    this.numSamples = o.numSamples ?? 23051;
    this.numContrastiveBatch = o.numContrastiveBatch ?? 100;
    this.tables = o.tables;
    const generator = o.generator ?? defaultGenerator();
    this.negativeSampler = o.negativeSampler ?? generatorNegativeSampler(generator);
    this.features = this.registerBuffer(
      "features",
      ops.randn([this.numSamples, this.numFeatures], generator),
    );
  }

  /**
   * `features[idx] = 0.1 * features[idx] + 0.9 * embed` for an embedding `[1, numFeatures]`; no
   * gradient. (The original gathers ids and embeddings from every process first; one process here.)
   */
  update(idx: number, embed: Tensor): void {
    this.#checkIdx(idx);
    const next = ops.tidy(() => {
      const f = this.features;
      const row = ops.add(ops.mul(ops.slice(f, [idx, 0], [1, -1]), 0.1), ops.mul(ops.detach(embed), 0.9));
      return ops.cat([ops.slice(f, [0, 0], [idx, -1]), row, ops.slice(f, [idx + 1, 0], [-1, -1])], 0);
    });
    this.features.assign(next);
    ops.dispose(next);
  }

  /** The positive and negative expression idxs for anchor `idx` (one random draw). */
  sampleIndices(idx: number): ContrastiveSampleIndices {
    this.#checkIdx(idx);
    if (!this.tables) {
      throw new Error("MemoryConstruct: no idx2positive / idx2negative tables (pass `tables`)");
    }
    const positive = this.tables.idx2positive[String(idx)];
    const distractors = this.tables.idx2negative[String(idx)];
    if (!positive || !distractors) throw new Error(`MemoryConstruct: expression ${idx} is not in the tables`);
    const excluded = new Set(positive);
    let sizeNegative = this.numContrastiveBatch - positive.length;
    let negative: number[];
    if (distractors.length > 0) {
      for (const d of distractors) excluded.add(d);
      if (sizeNegative - distractors.length < 0) {
        // Python's `[:n]`: a negative n (more positives than the batch) counts from the back, as here.
        negative = distractors.slice(0, sizeNegative);
      } else {
        sizeNegative -= distractors.length;
        negative = [...this.negativeSampler(this.#others(excluded), sizeNegative), ...distractors];
      }
    } else {
      negative = this.negativeSampler(this.#others(excluded), sizeNegative);
    }
    return { positive: [...positive], negative };
  }

  /** Detached features of the positives `[P, C]` and negatives `[N, C]` for anchor `idx`. */
  getTrainingSamples(idx: number): { positive: Tensor; negative: Tensor } {
    const { positive, negative } = this.sampleIndices(idx);
    return ops.tidy(() => ({
      positive: ops.detach(ops.indexSelect(this.features, 0, positive)),
      negative: ops.detach(ops.indexSelect(this.features, 0, negative)),
    }));
  }

  #others(excluded: Set<number>): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.numSamples; i++) if (!excluded.has(i)) out.push(i);
    return out;
  }

  #checkIdx(idx: number): void {
    if (!Number.isInteger(idx) || idx < 0 || idx >= this.numSamples) {
      throw new Error(`MemoryConstruct: expression idx ${idx} outside [0, ${this.numSamples})`);
    }
  }
}

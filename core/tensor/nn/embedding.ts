/**
 * `Embedding`: PyTorch's lookup table, weight `[num, dim]` drawn from N(0, 1), with an optional
 * `paddingIdx` whose row starts at zero and receives no gradient.
 *
 * @example
 * ```ts
 * import { Embedding } from "./embedding.ts";
 * import * as ops from "../ops.ts";
 * const queries = new Embedding(100, 256); // nn.Embedding(num_queries, hidden_dim)
 * const rows = queries.forward(ops.tensor([0, 5], [2], "int32")); // [2, 256]
 * ```
 * @module
 */
import * as ops from "../ops.ts";
import type { Tensor, Variable } from "../ops.ts";
import type { Generator } from "../../random.ts";
import { Module } from "./module.ts";
import { normal } from "./init.ts";

/** Options of {@link Embedding}. */
export interface EmbeddingOptions {
  /** A row that starts at zero and is never updated (negative counts from the end). */
  paddingIdx?: number | null;
  generator?: Generator;
}

/** Rows of `weight` picked by integer ids. */
export class Embedding extends Module {
  readonly weight: Variable;
  readonly paddingIdx: number | null;

  constructor(readonly numEmbeddings: number, readonly embeddingDim: number, opts: EmbeddingOptions = {}) {
    super();
    const p = opts.paddingIdx ?? null;
    if (p !== null && (p >= numEmbeddings || p < -numEmbeddings)) {
      throw new Error(`Embedding: paddingIdx ${p} out of range for ${numEmbeddings} embeddings`);
    }
    this.paddingIdx = p === null ? null : p < 0 ? p + numEmbeddings : p;
    this.weight = normal(this.registerParameter("weight", ops.zeros([numEmbeddings, embeddingDim])), 0, 1, {
      generator: opts.generator,
    });
    if (this.paddingIdx !== null) {
      const w = ops.tidy(() => {
        const isPad = ops.equal(ops.arange(numEmbeddings, undefined, 1, "int32"), this.paddingIdx!);
        return ops.maskedFill(this.weight, ops.unsqueeze(isPad, 1), 0);
      });
      this.weight.assign(w);
      ops.dispose(w);
    }
  }

  /** The rows for `ids` (int32, any shape): `[...ids.shape, embeddingDim]`. */
  forward(ids: Tensor): Tensor {
    return ops.tidy(() => {
      const out = ops.embedding(this.weight, ids);
      if (this.paddingIdx === null) return out;
      // Same values, but the padding row's gradient is cut, as PyTorch does.
      const isPad = ops.unsqueeze(ops.equal(ids, this.paddingIdx), -1);
      return ops.where(isPad, ops.detach(out), out);
    });
  }
}

/**
 * Stochastic regularisers, active only in training mode and drawing from a {@link Generator}:
 * {@link Dropout} (per element) and {@link DropPath} (stochastic depth: per sample, timm's `DropPath`).
 * Both scale the kept values by 1/(1 - p) so that the expectation is unchanged.
 *
 * @example
 * ```ts
 * import { DropPath, Dropout } from "./dropout.ts";
 * import * as ops from "../ops.ts";
 * const drop = new Dropout(0.1);
 * drop.eval();
 * drop.forward(ops.ones([2, 3])); // identity in eval mode
 * new DropPath(0.2).forward(ops.ones([4, 5, 8])); // each of the 4 samples kept (×1.25) or zeroed
 * ```
 * @module
 */
import * as ops from "../ops.ts";
import type { Tensor } from "../ops.ts";
import { defaultGenerator, type Generator } from "../../random.ts";
import { Module } from "./module.ts";

/** Options of the stochastic layers. */
export interface StochasticOptions {
  /** Where the masks are drawn from (the process-wide generator by default). */
  generator?: Generator;
}

/** PyTorch's `nn.Dropout(p)`. */
export class Dropout extends Module {
  readonly #generator?: Generator;

  constructor(readonly p = 0.5, opts: StochasticOptions = {}) {
    super();
    if (!(p >= 0 && p <= 1)) throw new Error(`Dropout probability must be in [0, 1], got ${p}`);
    this.#generator = opts.generator;
  }

  /** Zeroes each element with probability `p` in training mode; identity in eval mode. */
  forward(x: Tensor): Tensor {
    return ops.dropout(x, this.p, this.training, this.#generator);
  }
}

/** Options of {@link DropPath}. */
export interface DropPathOptions extends StochasticOptions {
  /** Divide kept samples by the keep probability (default true, as timm). */
  scaleByKeep?: boolean;
}

/** timm's `DropPath(p)`: drops whole samples (axis 0) of a residual branch. */
export class DropPath extends Module {
  readonly #generator?: Generator;
  readonly #scaleByKeep: boolean;

  constructor(readonly p = 0, opts: DropPathOptions = {}) {
    super();
    if (!(p >= 0 && p <= 1)) throw new Error(`DropPath probability must be in [0, 1], got ${p}`);
    this.#generator = opts.generator;
    this.#scaleByKeep = opts.scaleByKeep ?? true;
  }

  /** In training mode, keeps each sample of `x` `[B, ...]` with probability 1 - p. */
  forward(x: Tensor): Tensor {
    return dropPath(x, this.p, this.training, { generator: this.#generator, scaleByKeep: this.#scaleByKeep });
  }
}

/**
 * Functional drop-path (timm's `drop_path`): one keep/drop draw per sample along axis 0.
 *
 * @example
 * ```ts
 * import { dropPath } from "./dropout.ts";
 * import * as ops from "../ops.ts";
 * dropPath(ops.ones([2, 3]), 0.5, true); // rows are 0 or 2
 * ```
 */
export function dropPath(x: Tensor, p: number, training: boolean, opts: DropPathOptions = {}): Tensor {
  if (p === 0 || !training) return x;
  const keep = 1 - p;
  const batch = x.shape[0];
  const g = opts.generator ?? defaultGenerator();
  const scale = keep > 0 && (opts.scaleByKeep ?? true) ? 1 / keep : 1;
  const m = new Float32Array(batch);
  for (let i = 0; i < batch; i++) m[i] = g.uniform() < keep ? scale : 0;
  return ops.tidy(() => ops.mul(x, ops.tensor(m, [batch, ...x.shape.slice(1).map(() => 1)])));
}

/**
 * Stateless layers and {@link Sequential}, for the places where the original builds an
 * `nn.Sequential(Linear, ReLU, Linear, Tanh)`: the parameter-free entries keep their index, so the
 * state-dict keys are the original's (`res_gate.0.weight`, `res_gate.2.weight`).
 *
 * @example
 * ```ts
 * import { Sequential, ReLU, Tanh } from "./container.ts";
 * import { Linear } from "./linear.ts";
 * const gate = new Sequential([new Linear(8, 8, { bias: false }), new ReLU(), new Linear(8, 8, { bias: false }), new Tanh()]);
 * [...gate.stateDict().keys()]; // ["0.weight", "2.weight"]
 * ```
 * @module
 */
import * as ops from "../ops.ts";
import type { Tensor } from "../ops.ts";
import { Module, type UnaryModule } from "./module.ts";

/** Returns its input (`nn.Identity`). */
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** `max(x, 0)` (`nn.ReLU`). */
export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return ops.relu(x);
  }
}

/** Exact (erf) GELU (`nn.GELU`). */
export class GELU extends Module {
  forward(x: Tensor): Tensor {
    return ops.gelu(x);
  }
}

/** `tanh` (`nn.Tanh`). */
export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return ops.tanh(x);
  }
}

/** Logistic sigmoid (`nn.Sigmoid`). */
export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return ops.sigmoid(x);
  }
}

/** Modules applied in order, named `"0"`, `"1"`, ... (`nn.Sequential`). An empty one is the identity. */
export class Sequential extends Module {
  readonly #items: UnaryModule[] = [];

  constructor(modules: Iterable<UnaryModule> = []) {
    super();
    for (const m of modules) this.#items.push(this.registerModule(String(this.#items.length), m));
  }

  /** The module at `index`. */
  at(index: number): UnaryModule {
    const m = this.#items[index < 0 ? this.#items.length + index : index];
    if (m === undefined) throw new Error(`Sequential index ${index} out of range (length ${this.length})`);
    return m;
  }

  /** Number of modules. */
  get length(): number {
    return this.#items.length;
  }

  /** Feeds `x` through every module in turn. */
  forward(x: Tensor): Tensor {
    return ops.tidy(() => this.#items.reduce((y, m) => m.forward(y), x));
  }
}

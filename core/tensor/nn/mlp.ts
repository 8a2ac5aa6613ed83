/**
 * `MLP`: Mask2Former's small feed-forward head, `numLayers` Linear layers with ReLU between them,
 * children `layers.0`, `layers.1`, ...
 *
 * @example
 * ```ts
 * import { MLP } from "./mlp.ts";
 * import * as ops from "../ops.ts";
 * const maskEmbed = new MLP(256, 256, 256, 3); // keys layers.0.weight ... layers.2.bias
 * maskEmbed.forward(ops.ones([10, 256])); // [10, 256]
 * ```
 * @module
 */
import * as ops from "../ops.ts";
import type { Tensor } from "../ops.ts";
import type { Generator } from "../../random.ts";
import { Module, ModuleList } from "./module.ts";
import { Linear } from "./linear.ts";

/** `Linear -> ReLU -> ... -> Linear` with hidden width `hiddenDim`. */
export class MLP extends Module {
  readonly layers: ModuleList<Linear>;

  constructor(
    inputDim: number,
    hiddenDim: number,
    outputDim: number,
    readonly numLayers: number,
    opts: { generator?: Generator } = {},
  ) {
    super();
    if (!(numLayers >= 1)) throw new Error(`MLP needs at least one layer, got ${numLayers}`);
    const dims = [inputDim, ...Array(numLayers - 1).fill(hiddenDim), outputDim];
    this.layers = this.registerModule(
      "layers",
      new ModuleList(dims.slice(0, -1).map((d, i) => new Linear(d, dims[i + 1], opts))),
    );
  }

  /** Applies the layers to `x` `[..., inputDim]`. */
  forward(x: Tensor): Tensor {
    return ops.tidy(() => {
      let y = x;
      for (let i = 0; i < this.numLayers; i++) {
        y = this.layers.at(i).forward(y);
        if (i < this.numLayers - 1) y = ops.relu(y);
      }
      return y;
    });
  }
}

/**
 * The masked-attention rule of Mask2Former as DsHmp's frame decoder applies it: each query of the
 * next decoder layer may only attend to the pixels its previous mask prediction covers.
 *
 * The mask logits `(B, Q, H, W)` are resized bilinearly (`align_corners=False`) to the size of the
 * feature level the next layer reads, a pixel is blocked where `sigmoid(logit) < 0.5`, and a query
 * whose every pixel is blocked is unblocked entirely (otherwise its softmax would be all `-inf`). The
 * mask is repeated over the heads, sample-major (row `b·heads + h`), the layout `MultiheadAttention`
 * expects.
 *
 * The mask carries no gradient, as in the original (`detach`). TF.js cannot even differentiate
 * through a comparison op that sits on the path from a parameter to the loss, so the threshold and
 * the row rule are written with `sign`, `relu` and `min`, whose gradients exist (and are zero here):
 * `0.5 - s` is exact for `s` in `[0.25, 1]` (Sterbenz), so `relu(sign(0.5 - s))` is exactly the
 * indicator of `s < 0.5`.
 *
 * @example
 * ```ts
 * import { attentionMaskFromPrediction } from "./attention_mask.ts";
 * import * as ops from "../../../../core/tensor/ops.ts";
 * const logits = ops.tensor([-1, 2, -3, 4, -1, -1, -1, -1], [1, 2, 2, 2]); // (B, Q, H, W)
 * const mask = attentionMaskFromPrediction(logits, [2, 2], 2); // bool (B·2, Q, 4)
 * // query 0 is blocked at its negative logits; query 1 is blocked everywhere, so it is unblocked
 * ```
 * @module
 */
import * as ops from "../../../../core/tensor/ops.ts";
import type { Tensor } from "../../../../core/tensor/ops.ts";

/**
 * The blocked pixels `(B, Q, h·w)` as 1/0 float32 from mask logits `(B, Q, H, W)` resized to
 * `[h, w]`, after the fully-blocked-row rule, before the repeat over heads.
 */
export function blockedPixels(maskLogits: Tensor, targetSize: [number, number]): Tensor {
  if (maskLogits.rank !== 4) {
    throw new Error(`attention mask: mask logits must be (B, Q, H, W), got [${maskLogits.shape}]`);
  }
  const [B, Q] = maskLogits.shape;
  return ops.tidy(() => {
    const resized = ops.interpolate(ops.detach(maskLogits), {
      size: targetSize,
      mode: "bilinear",
      alignCorners: false,
    });
    const probs = ops.reshape(ops.sigmoid(resized), [B, Q, targetSize[0] * targetSize[1]]);
    const blocked = ops.relu(ops.sign(ops.sub(0.5, probs))); // 1 where sigmoid < 0.5
    const allBlocked = ops.min(blocked, -1, true); // 1 for a row with nothing to attend to
    return ops.mul(blocked, ops.sub(1, allBlocked));
  });
}

/**
 * The bool attention mask `(B·numHeads, Q, h·w)` (true = may not attend) that the prediction
 * `maskLogits` `(B, Q, H, W)` sets for a layer reading a level of size `targetSize` `[h, w]`.
 */
export function attentionMaskFromPrediction(
  maskLogits: Tensor,
  targetSize: [number, number],
  numHeads: number,
): Tensor {
  const [B, Q] = maskLogits.shape;
  const hw = targetSize[0] * targetSize[1];
  return ops.tidy(() => {
    const blocked = ops.cast(blockedPixels(maskLogits, targetSize), "bool");
    return ops.reshape(ops.broadcastTo(ops.unsqueeze(blocked, 1), [B, numHeads, Q, hw]), [
      B * numHeads,
      Q,
      hw,
    ]);
  });
}

/**
 * {@link multiPosCrossEntropy}: the contrastive loss with several positives (`contrastive_loss.py`).
 * Over each row with at least one positive, the log-softmax of the logits where each positive's
 * exponential is divided by the number of positives, averaged over the positives and negated; twice
 * its mean plus the mean squared distance of `auxPred` (cosine similarities) from the 0/1 labels.
 *
 * @example
 * ```ts
 * import * as ops from "../../../core/tensor/ops.ts";
 * import { multiPosCrossEntropy } from "./contrastive_loss.ts";
 * const pred = ops.tensor([[2, 1, -1]]);
 * const cos = ops.tensor([[0.9, 0.5, -0.2]]);
 * const loss = multiPosCrossEntropy(pred, cos, [[1, 1, 0]]); // scalar
 * ```
 * @module
 */
import * as ops from "../../../core/tensor/ops.ts";
import type { Tensor } from "../../../core/tensor/ops.ts";

/**
 * The loss for logits `pred` `[R, K]`, cosine similarities `auxPred` `[R, K]` and 0/1 `label` rows.
 * `posNormalize` (default true) scales the positives' exponentials by 1 / (number of positives).
 */
export function multiPosCrossEntropy(
  pred: Tensor,
  auxPred: Tensor,
  label: number[][],
  posNormalize = true,
): Tensor {
  const k = (pred.shape as number[])[1];
  const valid = label.map((row, i) => (row.some((v) => v !== 0) ? i : -1)).filter((i) => i >= 0);
  const rows = valid.map((i) => label[i]);
  return ops.tidy(() => {
    const lab = ops.tensor(rows.flat(), [rows.length, k]);
    const allLab = ops.tensor(label.flat(), [label.length, k]);
    let logits = ops.indexSelect(pred, 0, valid);
    // A max over an empty axis does not exist; the original skips the shift then.
    if (rows.length > 0 && k > 0) logits = ops.sub(logits, ops.detach(ops.max(logits, 1, true)));
    const labelSum = ops.sum(lab, 1, true);
    const e = ops.exp(logits);
    const expLogits = posNormalize
      ? ops.add(ops.mul(e, ops.div(lab, labelSum)), ops.mul(e, ops.sub(1, lab)))
      : e;
    const logProb = ops.sub(logits, ops.log(ops.sum(expLogits, 1, true)));
    const meanLogProbPos = ops.div(ops.sum(ops.mul(lab, logProb), 1), ops.squeeze(labelSum, [1]));
    const auxLoss = ops.mean(ops.square(ops.sub(auxPred, allLab)));
    return ops.add(ops.mul(ops.mean(ops.neg(meanLogProbPos)), 2), auxLoss);
  });
}

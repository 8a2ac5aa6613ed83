/**
 * Parity with `scipy.optimize.linear_sum_assignment` (SciPy 1.10.1) on the stored cases: every
 * `input.cost.K` must give exactly `output.row_ind.K` / `output.col_ind.K`, ties included.
 * @module
 */
import { casesFor, loadCase } from "./harness.ts";
import { assert } from "../assert.ts";
import { linearSumAssignment } from "../../core/math/linear_sum_assignment.ts";

const cases = casesFor("linear_sum_assignment");

Deno.test("linear_sum_assignment parity: the fixtures hold at least one case", () => {
  assert(cases.length > 0, "no linear_sum_assignment case in the parity folder");
});

for (const name of cases) {
  Deno.test(`linear_sum_assignment parity: ${name}`, () => {
    const c = loadCase(name);
    const keys = [...c.tensors.keys()].filter((k) => k.startsWith("input.cost.")).sort();
    assert(keys.length > 0, `${name}: no input.cost.* tensors`);
    const labels: string[] = c.spec.matrices ?? [];
    for (const key of keys) {
      const k = key.slice("input.cost.".length);
      const t = c.input(`cost.${k}`);
      assert.deepStrictEqual(t.shape.length, 2, `${name} ${key}: expected a matrix, got shape ${t.shape}`);
      const [rows, cols] = t.shape;
      const got = linearSumAssignment({ rows, cols, data: t.data as Float32Array });
      const label = `${name} ${key} (${labels[Number(k)] ?? "?"})`;
      const rowInd = Array.from(c.output(`row_ind.${k}`).data as BigInt64Array, Number);
      const colInd = Array.from(c.output(`col_ind.${k}`).data as BigInt64Array, Number);
      assert.deepStrictEqual(Array.from(got.rowInd), rowInd, `${label}: row_ind`);
      assert.deepStrictEqual(Array.from(got.colInd), colInd, `${label}: col_ind`);
    }
  });
}

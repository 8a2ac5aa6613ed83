import { assert, assertThrows } from "../assert.ts";
import { Generator } from "../../core/random.ts";
import { type Assignment, linearSumAssignment } from "../../core/math/linear_sum_assignment.ts";

function pairs(a: Assignment): [number[], number[]] {
  return [Array.from(a.rowInd), Array.from(a.colInd)];
}

function expectPairs(cost: number[][], rows: number[], cols: number[], maximize = false): void {
  assert.deepStrictEqual(pairs(linearSumAssignment(cost, maximize)), [rows, cols], JSON.stringify(cost));
}

/** The best total over every injective map of the shorter side into the longer one. */
function bruteForce(cost: number[][], maximize: boolean): number {
  const nr = cost.length;
  const nc = cost[0].length;
  const tall = nr > nc;
  const short = tall ? nc : nr;
  const long = tall ? nr : nc;
  const at = (s: number, l: number) => (tall ? cost[l][s] : cost[s][l]);
  let best = maximize ? -Infinity : Infinity;
  const used = new Array(long).fill(false);
  const walk = (s: number, total: number): void => {
    if (s === short) {
      best = maximize ? Math.max(best, total) : Math.min(best, total);
      return;
    }
    for (let l = 0; l < long; l++) {
      if (used[l]) continue;
      used[l] = true;
      walk(s + 1, total + at(s, l));
      used[l] = false;
    }
  };
  walk(0, 0);
  return best;
}

Deno.test("linearSumAssignment: SciPy's documented example", () => {
  expectPairs([[4, 1, 3], [2, 0, 5], [3, 2, 2]], [0, 1, 2], [1, 0, 2]);
});

Deno.test("linearSumAssignment: a constant matrix gives the identity, rectangular both ways", () => {
  expectPairs([[7, 7, 7], [7, 7, 7], [7, 7, 7]], [0, 1, 2], [0, 1, 2]);
  expectPairs([[0, 0, 0, 0], [0, 0, 0, 0]], [0, 1], [0, 1]);
  expectPairs([[0, 0], [0, 0], [0, 0], [0, 0]], [0, 1], [0, 1]);
});

Deno.test("linearSumAssignment: ties go to the free column met last in SciPy's scan order", () => {
  // Row 0 takes column 1; row 1 ties between columns 0 and 2 and takes the lower one.
  expectPairs([[1, 0, 1], [0, 5, 0]], [0, 1], [1, 0]);
  // Both assignments total 5 when maximizing; SciPy re-routes row 0 and keeps [1, 0].
  expectPairs([[1, 2], [3, 4]], [0, 1], [1, 0], true);
  // Identical rows (like padded frames). Row 1 reaches columns 0 and 1 at the same cost 0.5 through
  // row 0; with column 2 swapped out of the list the scan order is [0, 1], and the later free column wins.
  expectPairs([[0.5, 0.5, 0.25], [0.5, 0.5, 0.25], [0.5, 0.5, 0.25]], [0, 1, 2], [2, 1, 0]);
  // With 0.2 the path through row 0 costs (0.2 + 0.5) - 0.2 = 0.49999999999999994 < 0.5 in float64, so
  // the tie is gone and row 0 moves to column 1: SciPy's order of additions matters.
  expectPairs([[0.5, 0.5, 0.2], [0.5, 0.5, 0.2], [0.5, 0.5, 0.2]], [0, 1, 2], [1, 2, 0]);
});

Deno.test("linearSumAssignment: tall matrices are solved transposed and returned sorted by row", () => {
  expectPairs([[1, 2], [0, 5], [3, 0]], [1, 2], [0, 1]);
  expectPairs([[9, 9], [9, 1], [1, 9], [9, 9]], [1, 2], [1, 0]);
  const flat = linearSumAssignment({ rows: 3, cols: 2, data: new Float32Array([1, 2, 0, 5, 3, 0]) });
  assert.deepStrictEqual(pairs(flat), [[1, 2], [0, 1]]);
});

Deno.test("linearSumAssignment: maximize finds the largest total", () => {
  expectPairs([[1, 9, 3], [8, 2, 7]], [0, 1], [1, 0], true);
});

Deno.test("linearSumAssignment: float32 data is compared in float64 after widening", () => {
  // Widened, 0.2f makes (0.2f + 0.5) - 0.2f exactly 0.5: the tie survives, unlike with the double 0.2.
  const f = new Float32Array([0.5, 0.5, 0.2, 0.5, 0.5, 0.2, 0.5, 0.5, 0.2]);
  const a = linearSumAssignment({ rows: 3, cols: 3, data: f });
  assert.deepStrictEqual(pairs(a), [[0, 1, 2], [2, 1, 0]]);
  const widened = [0, 1, 2].map((r) => Array.from(f.subarray(3 * r, 3 * r + 3)));
  assert.deepStrictEqual(pairs(linearSumAssignment(widened)), pairs(a));
});

Deno.test("linearSumAssignment: +Infinity entries are allowed while a finite matching exists", () => {
  expectPairs([[Infinity, 1], [1, Infinity]], [0, 1], [1, 0]);
});

Deno.test("linearSumAssignment: empty matrices give empty results", () => {
  assert.deepStrictEqual(pairs(linearSumAssignment([])), [[], []]);
  assert.deepStrictEqual(pairs(linearSumAssignment({ rows: 0, cols: 3, data: [] })), [[], []]);
  assert.deepStrictEqual(pairs(linearSumAssignment([[], []])), [[], []]);
});

Deno.test("linearSumAssignment: invalid and infeasible matrices are errors like SciPy's", () => {
  assertThrows(() => linearSumAssignment([[0, NaN], [1, 2]]), "matrix contains invalid numeric entries");
  assertThrows(() => linearSumAssignment([[0, -Infinity], [1, 2]]), "invalid numeric entries");
  // +Infinity becomes -Infinity when maximizing.
  assertThrows(() => linearSumAssignment([[0, Infinity], [1, 2]], true), "invalid numeric entries");
  assertThrows(() => linearSumAssignment([[Infinity, Infinity], [1, 2]]), "cost matrix is infeasible");
  // Rows 0 and 1 can only use column 1.
  const inf = Infinity;
  assertThrows(() => linearSumAssignment([[inf, 1, inf], [inf, 3, inf], [0, inf, inf]]), "infeasible");
  assertThrows(() => linearSumAssignment([[1, 2], [3]]), "row 1 has 1 entries");
  assertThrows(() => linearSumAssignment({ rows: 2, cols: 2, data: [1, 2, 3] }), "needs 4 values, got 3");
});

Deno.test("linearSumAssignment: random small matrices match brute-force optima", () => {
  const g = new Generator(1234);
  for (let trial = 0; trial < 400; trial++) {
    const nr = g.randint(1, 6);
    const nc = g.randint(1, 6);
    // Half the trials use a few integer levels, so ties are everywhere.
    const ints = trial % 2 === 0;
    const cost = Array.from(
      { length: nr },
      () => Array.from({ length: nc }, () => (ints ? g.randint(0, 3) : g.uniform() * 10 - 5)),
    );
    for (const maximize of [false, true]) {
      const { rowInd, colInd } = linearSumAssignment(cost, maximize);
      const label = `${JSON.stringify(cost)} maximize=${maximize}`;
      assert.strictEqual(rowInd.length, Math.min(nr, nc), label);
      for (let k = 1; k < rowInd.length; k++) assert(rowInd[k - 1] < rowInd[k], `rows ascend: ${label}`);
      assert.strictEqual(new Set(colInd).size, colInd.length, `distinct columns: ${label}`);
      let total = 0;
      rowInd.forEach((r, k) => total += cost[r][colInd[k]]);
      const best = bruteForce(cost, maximize);
      assert(Math.abs(total - best) <= 1e-9, `total ${total} vs optimum ${best}: ${label}`);
    }
  }
});

/**
 * The linear sum assignment problem (minimum-cost bipartite matching), solved exactly the way
 * `scipy.optimize.linear_sum_assignment` (SciPy >= 1.10) solves it, ties included.
 *
 * DsHmp re-orders frame queries by Hungarian matching, and padded frames produce cost rows that tie
 * exactly; any optimal assignment is not enough there, it has to be the one SciPy picks. SciPy uses
 * Crouse's shortest augmenting path method (IEEE TAES 2016) with these tie-relevant details, all
 * reproduced here:
 *
 * - a matrix with more rows than columns is transposed first, and the result is re-sorted by row;
 * - rows are augmented one at a time in index order;
 * - each search starts with the unvisited columns listed from the last column down to the first, and
 *   a visited column is removed by moving the last listed column into its slot;
 * - among columns with the same smallest path cost, the first one met in that list wins, unless a
 *   later one is unassigned and the current pick is not (a free column ends the search at once);
 * - every cost is compared in float64, with SciPy's order of additions for the reduced costs.
 *
 * @example
 * ```ts
 * import { linearSumAssignment } from "./linear_sum_assignment.ts";
 * const { rowInd, colInd } = linearSumAssignment([[4, 1, 3], [2, 0, 5], [3, 2, 2]]);
 * // rowInd: [0, 1, 2], colInd: [1, 0, 2]
 * ```
 * @module
 */

/** A dense row-major cost matrix. Float32 values are widened to float64 before any comparison. */
export interface CostMatrix {
  rows: number;
  cols: number;
  data: Float32Array | Float64Array | ArrayLike<number>;
}

/** An assignment: `colInd[k]` is the column given to row `rowInd[k]`; rows ascend. */
export interface Assignment {
  rowInd: Int32Array;
  colInd: Int32Array;
}

/**
 * Solves the (rectangular) linear sum assignment problem like SciPy.
 *
 * Every row is matched when rows <= cols, every column otherwise; the output has min(rows, cols)
 * pairs sorted by row. Throws on NaN or -Infinity entries ("matrix contains invalid numeric
 * entries") and when no finite-cost complete matching exists ("cost matrix is infeasible").
 *
 * @param cost nested arrays (one per row, all the same length) or a dense row-major matrix
 * @param maximize find the maximum-weight matching instead (SciPy negates the costs)
 *
 * @example
 * ```ts
 * import { linearSumAssignment } from "./linear_sum_assignment.ts";
 * const tall = { rows: 3, cols: 2, data: new Float32Array([1, 2, 0, 5, 3, 0]) };
 * const { rowInd, colInd } = linearSumAssignment(tall);
 * // rowInd: [1, 2], colInd: [0, 1]
 * ```
 */
export function linearSumAssignment(cost: number[][] | CostMatrix, maximize = false): Assignment {
  const m = toMatrix(cost);
  let nr = m.rows;
  let nc = m.cols;
  const k = Math.min(nr, nc);
  if (k === 0) return { rowInd: new Int32Array(0), colInd: new Int32Array(0) };

  // Solve on a wide (or square) matrix; SciPy transposes tall ones.
  const transpose = nc < nr;
  const c = new Float64Array(nr * nc);
  for (let i = 0; i < nr; i++) {
    for (let j = 0; j < nc; j++) {
      const x = Number(m.data[i * nc + j]);
      c[transpose ? j * nr + i : i * nc + j] = maximize ? -x : x;
    }
  }
  if (transpose) [nr, nc] = [nc, nr];
  for (let i = 0; i < c.length; i++) {
    if (Number.isNaN(c[i]) || c[i] === -Infinity) {
      throw new Error("linearSumAssignment: matrix contains invalid numeric entries");
    }
  }

  const col4row = solveWide(nr, nc, c);

  const rowInd = new Int32Array(k);
  const colInd = new Int32Array(k);
  if (transpose) {
    // Back in the caller's orientation: original row = assigned column, sorted ascending.
    const order = Array.from(col4row.keys()).sort((a, b) => col4row[a] - col4row[b]);
    order.forEach((v, n) => {
      rowInd[n] = col4row[v];
      colInd[n] = v;
    });
  } else {
    for (let i = 0; i < nr; i++) {
      rowInd[i] = i;
      colInd[i] = col4row[i];
    }
  }
  return { rowInd, colInd };
}

/** Validates the input and exposes it as rows, cols and a flat row-major view. */
function toMatrix(cost: number[][] | CostMatrix): CostMatrix {
  if (Array.isArray(cost)) {
    const rows = cost.length;
    const cols = rows > 0 ? cost[0].length : 0;
    const data = new Float64Array(rows * cols);
    cost.forEach((row, i) => {
      if (!Array.isArray(row) || row.length !== cols) {
        throw new Error(
          `linearSumAssignment: expected a matrix (2-D array); row ${i} has ${
            Array.isArray(row) ? row.length : "no"
          } entries, row 0 has ${cols}`,
        );
      }
      data.set(row, i * cols);
    });
    return { rows, cols, data };
  }
  const { rows, cols, data } = cost;
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0) {
    throw new Error(`linearSumAssignment: rows and cols must be non-negative integers, got ${rows}x${cols}`);
  }
  if (data.length !== rows * cols) {
    throw new Error(
      `linearSumAssignment: a ${rows}x${cols} matrix needs ${rows * cols} values, got ${data.length}`,
    );
  }
  return cost;
}

/** Shortest augmenting path on an nr x nc matrix with nr <= nc; returns the column of each row. */
function solveWide(nr: number, nc: number, cost: Float64Array): Int32Array {
  const u = new Float64Array(nr);
  const v = new Float64Array(nc);
  const shortest = new Float64Array(nc);
  const path = new Int32Array(nc).fill(-1);
  const col4row = new Int32Array(nr).fill(-1);
  const row4col = new Int32Array(nc).fill(-1);
  const sr = new Uint8Array(nr);
  const sc = new Uint8Array(nc);
  const remaining = new Int32Array(nc);

  for (let curRow = 0; curRow < nr; curRow++) {
    // Dijkstra-like search from curRow for the nearest unassigned column.
    let minVal = 0;
    let numRemaining = nc;
    // Listed last-to-first: this is what makes a constant matrix come out as the identity.
    for (let it = 0; it < nc; it++) remaining[it] = nc - it - 1;
    sr.fill(0);
    sc.fill(0);
    shortest.fill(Infinity);

    let i = curRow;
    let sink = -1;
    while (sink === -1) {
      let index = -1;
      let lowest = Infinity;
      sr[i] = 1;
      const base = i * nc;
      for (let it = 0; it < numRemaining; it++) {
        const j = remaining[it];
        // Same association order as SciPy: ((minVal + c) - u) - v.
        const r = minVal + cost[base + j] - u[i] - v[j];
        if (r < shortest[j]) {
          path[j] = i;
          shortest[j] = r;
        }
        // On a tie, a free column is preferred because it ends the search.
        if (shortest[j] < lowest || (shortest[j] === lowest && row4col[j] === -1)) {
          lowest = shortest[j];
          index = it;
        }
      }
      minVal = lowest;
      if (minVal === Infinity) throw new Error("linearSumAssignment: cost matrix is infeasible");

      const j = remaining[index];
      if (row4col[j] === -1) sink = j;
      else i = row4col[j];
      sc[j] = 1;
      remaining[index] = remaining[--numRemaining];
    }

    // Dual updates, then flip the alternating path.
    u[curRow] += minVal;
    for (let r = 0; r < nr; r++) {
      if (sr[r] && r !== curRow) u[r] += minVal - shortest[col4row[r]];
    }
    for (let j = 0; j < nc; j++) {
      if (sc[j]) v[j] -= minVal - shortest[j];
    }
    let j = sink;
    while (true) {
      const r = path[j];
      row4col[j] = r;
      const prev = col4row[r];
      col4row[r] = j;
      j = prev;
      if (r === curRow) break;
    }
  }
  return col4row;
}

/**
 * Dropout and DropPath: identity in eval mode, PyTorch / timm scaling in training, masks drawn from
 * the given generator (the same seed gives the same mask), and train/eval reaching nested modules.
 * The drop fractions are checked on 40,000 draws against 4.5 binomial standard deviations.
 * @module
 */
import { assert, assertEquals, assertThrows } from "../assert.ts";
import * as ops from "../../core/tensor/ops.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import { Generator } from "../../core/random.ts";
import { Dropout, DropPath, dropPath, Module } from "../../core/tensor/nn/mod.ts";

await useBackend("wasm");

function checkFraction(zeros: number, n: number, p: number, what: string): void {
  const sd = Math.sqrt(n * p * (1 - p));
  assert(Math.abs(zeros - n * p) <= 4.5 * sd, `${what}: ${zeros} of ${n} dropped, expected ~${n * p}`);
}

Deno.test("Dropout: eval identity; training zeroes ~p and scales the rest by 1/(1-p)", () => {
  const x = ops.full([200, 200], 3);
  const drop = new Dropout(0.3, { generator: new Generator(40) });
  drop.eval();
  assertEquals(Array.from(ops.toArray(drop.forward(x))), Array.from(ops.toArray(x)));
  drop.train();
  const y = ops.toArray(drop.forward(x));
  const kept = 3 / 0.7;
  let zeros = 0;
  for (const v of y) {
    if (v === 0) zeros++;
    else assert(Math.abs(v - kept) < 1e-6, `kept value ${v}, expected ${kept}`);
  }
  checkFraction(zeros, y.length, 0.3, "Dropout(0.3)");
  const again = new Dropout(0.3, { generator: new Generator(40) });
  assertEquals(Array.from(ops.toArray(again.forward(x))), Array.from(y), "same seed, same mask");
  assert(ops.toArray(new Dropout(1).forward(x)).every((v) => v === 0));
  assertEquals(Array.from(ops.toArray(new Dropout(0).forward(x))), Array.from(ops.toArray(x)));
  assertThrows(() => new Dropout(1.5), "must be in [0, 1]");
});

Deno.test("DropPath: whole samples dropped along axis 0, kept ones scaled by 1/keep", () => {
  const B = 40000;
  const x = ops.full([B, 2, 3], 2);
  const dp = new DropPath(0.25, { generator: new Generator(41) });
  const y = ops.toArray(dp.forward(x));
  let dropped = 0;
  for (let b = 0; b < B; b++) {
    const row = Array.from(y.subarray(b * 6, b * 6 + 6));
    const first = row[0];
    assert(row.every((v) => v === first), `sample ${b} is not dropped as a whole: ${row}`);
    if (first === 0) dropped++;
    else assert(Math.abs(first - 2 / 0.75) < 1e-6, `kept sample scaled to ${first}`);
  }
  checkFraction(dropped, B, 0.25, "DropPath(0.25)");
  dp.eval();
  assertEquals(Array.from(ops.toArray(dp.forward(x))), Array.from(ops.toArray(x)));
  // Without scale_by_keep the kept samples keep their value.
  const raw = ops.toArray(dropPath(x, 0.25, true, { generator: new Generator(41), scaleByKeep: false }));
  assert(raw.every((v) => v === 0 || v === 2));
  assertEquals(Array.from(raw, (v) => v === 0), Array.from(y, (v) => v === 0), "same seed, same samples");
});

Deno.test("train/eval on a parent switches nested Dropout and DropPath", () => {
  class Branch extends Module {
    readonly drop;
    readonly path;
    constructor() {
      super();
      this.drop = this.registerModule("drop", new Dropout(0.5, { generator: new Generator(42) }));
      this.path = this.registerModule("path", new DropPath(0.5, { generator: new Generator(43) }));
    }
    forward(x: ops.Tensor): ops.Tensor {
      return ops.tidy(() => this.path.forward(this.drop.forward(x)));
    }
  }
  const m = new Branch();
  const x = ops.ones([64, 16]);
  m.eval();
  assertEquals(Array.from(ops.toArray(m.forward(x))), Array.from(ops.toArray(x)));
  m.train();
  const y = ops.toArray(m.forward(x));
  assert(y.some((v) => v === 0) && y.some((v) => v === 4), "training mode drops and rescales");
});

/**
 * Run by backend_test.ts in a fresh process (wasm's thread count is fixed per process): initialises
 * wasm with `DSHMP_THREADS` and prints the thread count and the bits of a matmul and a conv2d.
 * @module
 */
import { Generator } from "../../core/random.ts";
import { activeBackend, useBackend } from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";

await useBackend("wasm");
const g = new Generator(3);
const a = ops.randn([256, 300], g);
const b = ops.randn([300, 200], g);
const x = ops.randn([1, 8, 32, 32], g);
const w = ops.randn([16, 8, 3, 3], g);
const outs = [ops.matmul(a, b), ops.conv2d(x, w, null, { padding: 1 })];
const bits = outs.map((o) => Array.from(new Uint32Array((ops.toArray(o) as Float32Array).slice().buffer)));
console.log(JSON.stringify({ info: activeBackend(), bits }));

/**
 * The Module contract: PyTorch state-dict names and order, round trips, strict loading that reports
 * every problem at once, freezing, train/eval, containers, disposal.
 * @module
 */
import { assert, assertEquals, assertThrows } from "../assert.ts";
import * as ops from "../../core/tensor/ops.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import { Generator } from "../../core/random.ts";
import type { NamedTensor } from "../../core/io/safetensors.ts";
import {
  Conv2d,
  Dropout,
  GroupNorm,
  LayerNorm,
  Linear,
  Module,
  ModuleList,
  MultiheadAttention,
  ReLU,
  Sequential,
  StateDictError,
  Tanh,
} from "../../core/tensor/nn/mod.ts";

await useBackend("wasm");

/** A module shaped like the original's layers: own params, buffers, nested children and a list. */
class Toy extends Module {
  readonly scale;
  readonly index;
  readonly cache;
  readonly proj;
  readonly blocks;
  readonly drop;
  constructor(g: Generator) {
    super();
    this.proj = this.registerModule("proj", new Linear(3, 4, { generator: g }));
    this.scale = this.registerParameter("scale", ops.ones([4]));
    this.index = this.registerBuffer("index", ops.tensor([0, 1, 2], [3], "int32"));
    this.cache = this.registerBuffer("cache", ops.zeros([2]), { persistent: false });
    this.blocks = this.registerModule(
      "blocks",
      new ModuleList([new LayerNorm(4), new Linear(4, 2, { bias: false, generator: g })]),
    );
    this.drop = this.registerModule("drop", new Dropout(0.5, { generator: g }));
  }
}

const EXPECTED_KEYS = [
  "scale", // own parameters first, then own buffers, then children: PyTorch's order
  "index",
  "proj.weight",
  "proj.bias",
  "blocks.0.weight",
  "blocks.0.bias",
  "blocks.1.weight",
];

function values(t: ops.Tensor): number[] {
  return Array.from(ops.toArray(t));
}

Deno.test("stateDict: PyTorch names and order, persistent buffers only", () => {
  const m = new Toy(new Generator(1));
  assertEquals([...m.stateDict().keys()], EXPECTED_KEYS);
  assertEquals(m.namedParameters().map(([n]) => n), [
    "scale",
    "proj.weight",
    "proj.bias",
    "blocks.0.weight",
    "blocks.0.bias",
    "blocks.1.weight",
  ]);
  assertEquals(m.namedBuffers().map(([n, , o]) => [n, o.persistent]), [["index", true], ["cache", false]]);
  assertEquals(m.namedModules().map(([n]) => n), ["", "proj", "blocks", "blocks.0", "blocks.1", "drop"]);
  assertEquals(m.stateDict().get("proj.weight")!.shape, [4, 3]); // Linear is [out, in]
  m.dispose();
});

Deno.test("loadStateDict: round trip from tensors and from safetensors records (F64, I64)", () => {
  const a = new Toy(new Generator(1));
  const b = new Toy(new Generator(2));
  assert(values(a.proj.weight).some((x, i) => x !== values(b.proj.weight)[i]), "seeds should differ");
  const report = b.loadStateDict(a.stateDict());
  assertEquals(report, { missing: [], unexpected: [], mismatched: [] });
  for (const [k, t] of a.stateDict()) assertEquals(values(b.stateDict().get(k)!), values(t), k);

  // Raw records: float64 narrowed to float32, int64 to int32.
  const raw = new Map<string, NamedTensor>();
  for (const [k, t] of a.stateDict()) {
    raw.set(
      k,
      t.dtype === "int32"
        ? { dtype: "I64", shape: t.shape, data: BigInt64Array.from(values(t), (x) => BigInt(x + 7)) }
        : { dtype: "F64", shape: t.shape, data: Float64Array.from(values(t), (x) => x * 2) },
    );
  }
  const c = new Toy(new Generator(3));
  c.loadStateDict(raw);
  assertEquals(values(c.index), [7, 8, 9]);
  assertEquals(c.index.dtype, "int32");
  assertEquals(values(c.proj.weight), values(a.proj.weight).map((x) => Math.fround(x * 2)));
  for (const m of [a, b, c]) m.dispose();
});

Deno.test("loadStateDict strict: one error lists missing, unexpected and mis-shaped keys; nothing loaded", () => {
  const m = new Toy(new Generator(1));
  const before = values(m.proj.weight);
  const sd = new Map<string, ops.Tensor>(m.stateDict());
  sd.delete("blocks.1.weight");
  sd.delete("index");
  const extra = ops.zeros([2]);
  const wrong = ops.zeros([3, 4]);
  const bias = ops.zeros([4]);
  sd.set("head.bias", extra);
  sd.set("proj.weight", wrong); // transposed layout: must be [4, 3]
  sd.set("proj.bias", bias);
  const err = assertThrows(() => m.loadStateDict(sd), "state dict does not match") as StateDictError;
  assert(err instanceof StateDictError);
  assertEquals(err.report.missing, ["index", "blocks.1.weight"]);
  assertEquals(err.report.unexpected, ["head.bias"]);
  assertEquals(err.report.mismatched, [{ key: "proj.weight", expected: [4, 3], got: [3, 4] }]);
  for (
    const s of [
      "missing (2): index, blocks.1.weight",
      "unexpected (1): head.bias",
      "proj.weight module [4,3] vs state dict [3,4]",
    ]
  ) {
    assert(err.message.includes(s), `message lacks "${s}":\n${err.message}`);
  }
  assertEquals(values(m.proj.weight), before, "a failed strict load must not change the module");
  assert(values(m.proj.bias!).some((x) => x !== 0), "proj.bias must not be loaded either");

  // Non-strict: the same report, the good keys loaded.
  const report = m.loadStateDict(sd, { strict: false });
  assertEquals(report, err.report);
  assertEquals(values(m.proj.bias!), [0, 0, 0, 0]);
  assertEquals(values(m.proj.weight), before);
  ops.dispose([extra, wrong, bias]);
  m.dispose();
});

Deno.test("loadStateDict: an int64 outside int32 names the key and loads nothing", () => {
  const m = new Toy(new Generator(1));
  const sd = new Map<string, ops.Tensor | NamedTensor>(m.stateDict());
  sd.set("index", { dtype: "I64", shape: [3], data: BigInt64Array.from([0n, 1n, 1n << 40n]) });
  const scale = ops.full([4], 3);
  sd.set("scale", scale);
  assertThrows(() => m.loadStateDict(sd), /"index": value 1099511627776 at 2 does not fit int32/);
  assertEquals(values(m.scale), [1, 1, 1, 1]);
  scale.dispose();
  m.dispose();
});

Deno.test("registration: duplicate and dotted names are rejected", () => {
  class Bad extends Module {
    constructor(name: string, twice: boolean) {
      super();
      this.registerParameter(name, ops.zeros([1]));
      if (twice) this.registerBuffer(name, ops.zeros([1]));
    }
  }
  assertThrows(() => new Bad("w", true), '"w" is already registered');
  assertThrows(() => new Bad("a.b", false), 'invalid name "a.b"');
});

Deno.test("freezing: frozen parameters are not trainable and get no gradient", () => {
  const m = new Toy(new Generator(4));
  m.proj.requiresGrad(false);
  assertEquals(m.trainableParameters().length, m.parameters().length - 2);
  assert(m.trainableParameters().every((p) => p !== m.proj.weight && p !== m.proj.bias));
  const x = ops.ones([2, 3]);
  const head = m.blocks.at(1) as Linear;
  const { value, grads } = ops.valueAndGrads(() =>
    ops.sum(head.forward(ops.mul(m.proj.forward(x), m.scale)))
  );
  const names = Object.keys(grads).sort();
  assertEquals(names, [m.scale.name, head.weight.name].sort());
  m.requiresGrad(true);
  assertEquals(m.trainableParameters().length, m.parameters().length);
  ops.dispose([x, value, ...Object.values(grads)]);
  m.dispose();
});

Deno.test("train/eval: recursive", () => {
  const m = new Toy(new Generator(5));
  assert(m.training && m.drop.training);
  m.eval();
  assert(m.namedModules().every(([, c]) => !c.training));
  m.train();
  assert(m.namedModules().every(([, c]) => c.training));
  m.dispose();
});

Deno.test("ModuleList and Sequential: numbered children, stateless entries keep their index", () => {
  const g = new Generator(6);
  const gate = new Sequential([
    new Linear(4, 4, { bias: false, generator: g }),
    new ReLU(),
    new Linear(4, 4, { bias: false, generator: g }),
    new Tanh(),
  ]);
  assertEquals([...gate.stateDict().keys()], ["0.weight", "2.weight"]);
  const x = ops.tensor([0.5, -1, 2, 0.25], [1, 4]);
  const y = gate.forward(x);
  const expected = ops.tanh(gate.at(2).forward(ops.relu(gate.at(0).forward(x))));
  assertEquals(values(y), values(expected));
  const list = new ModuleList([new Linear(2, 2, { generator: g })]).append(
    new Linear(2, 3, { generator: g }),
  );
  assertEquals(list.length, 2);
  assertEquals(list.at(-1).outFeatures, 3);
  assertEquals([...list].length, 2);
  assertThrows(() => list.at(2), "ModuleList index 2 out of range (length 2)");
  ops.dispose([x, y, expected]);
  gate.dispose();
  list.dispose();
});

Deno.test("memory: forward leaves no tensor behind; dispose frees every parameter and buffer", () => {
  const start = ops.numTensors();
  const g = new Generator(7);
  const layers = {
    linear: [new Linear(8, 4, { generator: g }), [3, 8]],
    conv: [
      new Conv2d(8, 4, 3, { padding: 1, norm: new GroupNorm(2, 4), activation: ops.relu, generator: g }),
      [1, 8, 5, 5],
    ],
    layerNorm: [new LayerNorm(8), [2, 8]],
  } as const;
  for (const [name, [layer, shape]] of Object.entries(layers)) {
    const x = ops.ones([...shape]);
    const before = ops.numTensors();
    const y = layer.forward(x);
    y.dispose();
    assertEquals(ops.numTensors(), before, `${name} forward leaked`);
    x.dispose();
  }
  const mha = new MultiheadAttention(8, 2, { generator: g });
  const q = ops.ones([3, 2, 8]);
  const kpm = ops.tensor([0, 0, 1, 0, 0, 0], [2, 3], "bool");
  const before = ops.numTensors();
  const [o, w] = mha.forward(q, q, q, { keyPaddingMask: kpm });
  ops.dispose([o, w!]);
  assertEquals(ops.numTensors(), before, "MultiheadAttention forward leaked");
  ops.dispose([q, kpm]);
  for (const [layer] of Object.values(layers)) layer.dispose();
  mha.dispose();
  assertEquals(ops.numTensors(), start, "dispose left tensors behind");
});

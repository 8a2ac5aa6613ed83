/**
 * Unit checks of the language-fused Swin backbone: window partition/reverse, the relative position
 * index, the shifted-window mask, patch merging's neighbour order, PWAM's word mask, and the paper
 * configuration's parameter names and shapes against `reference_keys.json`.
 * @module
 */
import { fileURLToPath } from "node:url";
import { assert, assertClose, assertEquals, assertThrows } from "../assert.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";
import { Generator } from "../../core/random.ts";
import { loadCase } from "../parity/harness.ts";
import {
  relativePositionIndex,
  shiftedWindowMask,
  windowPartition,
  windowReverse,
} from "../../plugins/mask2former/modeling/backbone/window.ts";
import { PWAM } from "../../plugins/mask2former/modeling/backbone/pwam.ts";
import {
  D2SwinTransformer,
  parseFusionGateInit,
  PatchMerging,
} from "../../plugins/mask2former/modeling/backbone/swin.ts";
import { d2SwinTransformerFactory } from "../../plugins/mask2former/modeling/backbone/mod.ts";
import { createRegistries } from "../../core/registries.ts";
import { values } from "../tensor/_util.ts";

await useBackend("wasm");

Deno.test("windowPartition: window k holds the k-th ws x ws tile, row-major; windowReverse undoes it", () => {
  const [b, h, w, c, ws] = [2, 14, 21, 3, 7];
  const x = ops.randn([b, h, w, c], new Generator(1));
  const windows = windowPartition(x, ws);
  assertEquals(windows.shape, [b * 2 * 3, ws, ws, c]);
  const xs = ops.toArray(x);
  const got = ops.toArray(windows);
  for (let k = 0; k < windows.shape[0]; k++) {
    const [n, row, col] = [Math.floor(k / 6), Math.floor((k % 6) / 3), k % 3];
    for (let i = 0; i < ws; i++) {
      for (let j = 0; j < ws; j++) {
        for (let ch = 0; ch < c; ch++) {
          const src = ((n * h + row * ws + i) * w + col * ws + j) * c + ch;
          assert.strictEqual(got[((k * ws + i) * ws + j) * c + ch], xs[src]);
        }
      }
    }
  }
  const back = windowReverse(windows, ws, h, w);
  assertEquals(back.shape, x.shape);
  assertEquals([...ops.toArray(back)], [...xs]);
  assertThrows(() => windowPartition(ops.zeros([1, 10, 14, 1]), ws), "multiples of 7");
  ops.dispose([x, windows, back]);
});

Deno.test("relativePositionIndex: equals the original's buffer and an offset-table lookup", () => {
  const idx = relativePositionIndex(7, 7);
  // The original's persistent buffer, as stored in the parity case (a torch computation).
  const stored = loadCase("backbone").stateDict().get("layers.0.blocks.0.attn.relative_position_index")!;
  assertEquals(stored.shape, [49, 49]);
  assertEquals([...idx], Array.from(stored.data as ArrayLike<number | bigint>, Number));
  // Independently: number the offsets (dy, dx) row-major from (-(wh-1), -(ww-1)), then look them up.
  for (const [wh, ww] of [[7, 7], [2, 3], [3, 5]]) {
    const table = new Map<string, number>();
    for (let dy = -(wh - 1); dy <= wh - 1; dy++) {
      for (let dx = -(ww - 1); dx <= ww - 1; dx++) table.set(`${dy},${dx}`, table.size);
    }
    const got = relativePositionIndex(wh, ww);
    const n = wh * ww;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const dy = Math.floor(i / ww) - Math.floor(j / ww);
        const dx = (i % ww) - (j % ww);
        assert.strictEqual(got[i * n + j], table.get(`${dy},${dx}`), `${wh}x${ww} (${i}, ${j})`);
      }
    }
  }
});

/** The shifted-window mask by brute force: label each padded pixel by its (row band, column band). */
function bruteForceMask(hp: number, wp: number, ws: number, shift: number): Float32Array {
  const band = (v: number, n: number) => (v < n - ws ? 0 : v < n - shift ? 1 : 2);
  const n = ws * ws;
  const out: number[] = [];
  for (let a = 0; a < hp / ws; a++) {
    for (let b = 0; b < wp / ws; b++) {
      const lab = (t: number) => band(a * ws + Math.floor(t / ws), hp) * 3 + band(b * ws + (t % ws), wp);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out.push(lab(i) === lab(j) ? 0 : -100);
    }
  }
  return Float32Array.from(out);
}

Deno.test("shiftedWindowMask: -100 between regions of the rolled map, 0 within; shape [nW, N, N]", () => {
  for (const [hp, wp] of [[14, 14], [7, 7], [21, 28], [7, 14]]) {
    const m = shiftedWindowMask(hp, wp, 7, 3);
    assertEquals([...m], [...bruteForceMask(hp, wp, 7, 3)], `${hp}x${wp}`);
  }
  // 14x14: the top-left window is one region; the bottom-right one has four (4x4, 4x3, 3x4, 3x3).
  const m = shiftedWindowMask(14, 14, 7, 3);
  const n2 = 49 * 49;
  const masked = (w: number) => m.subarray(w * n2, (w + 1) * n2).filter((v) => v === -100).length;
  assert.strictEqual(masked(0), 0);
  assert.strictEqual(masked(1), 2 * 28 * 21);
  assert.strictEqual(masked(3), n2 - (16 * 16 + 12 * 12 + 12 * 12 + 9 * 9));
  assert(m.every((v) => v === 0 || v === -100));
  // A map of one window: the first band is empty, rows/columns split 4 | 3.
  const single = shiftedWindowMask(7, 7, 7, 3);
  assert.strictEqual(single.filter((v) => v === -100).length, n2 - (16 * 16 + 12 * 12 + 12 * 12 + 9 * 9));
});

Deno.test("PatchMerging: neighbours concatenated as (0,0), (1,0), (0,1), (1,1); odd maps padded", () => {
  const pm = new PatchMerging(1);
  // reduction [2, 4]: output 0 reads channel block 1 (the (1,0) neighbour), output 1 block 2 ((0,1)).
  pm.loadStateDict({
    "reduction.weight": ops.tensor([0, 1, 0, 0, 0, 0, 1, 0], [2, 4]),
    "norm.weight": ops.ones([4]),
    "norm.bias": ops.zeros([4]),
  });
  // A 2x2 map, row-major values 0 1 / 2 3: the blocks are [0, 2, 1, 3].
  const y = pm.forward(ops.tensor([0, 1, 2, 3], [1, 4, 1]), 2, 2);
  const s = Math.sqrt(1.25 + 1e-5); // LayerNorm of [0, 2, 1, 3]: mean 1.5, variance 1.25
  assertClose(ops.toArray(y), [(2 - 1.5) / s, (1 - 1.5) / s], { atol: 1e-6, rtol: 1e-6 });
  // 3x3 -> 2x2 tokens of 2 channels.
  assertEquals(ops.tidy(() => pm.forward(ops.ones([2, 9, 1]), 3, 3)).shape, [2, 4, 2]);
  ops.dispose(y);
  pm.dispose();
});

Deno.test("PWAM: padding words do not change the output; the mask is used as a multiplier", () => {
  const pwam = new PWAM({
    dim: 8,
    vInChannels: 8,
    lInChannels: 768,
    keyChannels: 8,
    valueChannels: 8,
    generator: new Generator(3),
  }).eval();
  ops.tidy(() => {
    const g = new Generator(4);
    const x = ops.randn([2, 12, 8], g);
    const l1 = ops.randn([2, 768, 5], g);
    const mask = ops.tensor([1, 1, 1, 0, 0, 1, 1, 1, 1, 1], [2, 5, 1]);
    // Change only the padding words of sample 0 (positions 3 and 4).
    const keep = ops.tensor([1, 1, 1, 0, 0, 1, 1, 1, 1, 1], [2, 1, 5]);
    const l2 = ops.add(ops.mul(l1, keep), ops.mul(ops.randn([2, 768, 5], g), ops.sub(1, keep)));
    const y1 = ops.toArray(pwam.forward(x, l1, mask));
    const y2 = ops.toArray(pwam.forward(x, l2, mask));
    assertEquals([...y2], [...y1]);
    const y3 = ops.toArray(pwam.forward(x, l2, ops.ones([2, 5, 1])));
    assert(y3.some((v, i) => v !== y1[i]), "with every word valid the changed words must matter");
    assertEquals(pwam.forward(x, l1, mask).shape, [2, 12, 8]);
  });
  pwam.dispose();
});

Deno.test("D2SwinTransformer: the paper config has the original's backbone.* names and shapes", () => {
  const refPath = fileURLToPath(new URL("../../../shared/fixtures/reference_keys.json", import.meta.url));
  const ref = JSON.parse(Deno.readTextFileSync(refPath));
  const expected = Object.entries(ref.keys as Record<string, { shape: number[]; kind: string }>)
    .filter(([k]) => k.startsWith("backbone."))
    .map(([k, v]) => [k.slice("backbone.".length), v.shape, v.kind]);
  // Built through the registry factory from the paper's merged config (33.3M parameters, ~0.3 s).
  const model = d2SwinTransformerFactory(ref.config, {
    registries: createRegistries(),
    generator: new Generator(0),
  });
  const buffers = new Set(model.namedBuffers().map(([name]) => name));
  const got = [...model.stateDict()].map(([k, v]) => [k, v.shape, buffers.has(k) ? "buffer" : "parameter"]);
  assertEquals(got, expected);
  const params = model.parameters().reduce((n, p) => n + p.size, 0);
  assert.strictEqual(params, ref.totals_per_prefix.backbone.parameters);
  assertEquals(model.outputShape(), {
    res2: { channels: 96, stride: 4 },
    res3: { channels: 192, stride: 8 },
    res4: { channels: 384, stride: 16 },
    res5: { channels: 768, stride: 32 },
  });
  model.dispose();
});

Deno.test("D2SwinTransformer: returns only OUT_FEATURES, drop modules follow eval()", () => {
  const model = new D2SwinTransformer({
    embedDim: 4,
    depths: [1, 1, 1, 1],
    numHeads: [1, 1, 1, 1],
    outFeatures: ["res3", "res5"],
    generator: new Generator(0),
  });
  model.eval();
  assert(model.namedModules().every(([, m]) => !m.training));
  const inputs = [ops.ones([1, 3, 32, 32]), ops.ones([1, 768, 2]), ops.ones([1, 2, 1])] as const;
  const before = ops.numTensors();
  const outs = model.forward(...inputs);
  assertEquals(Object.keys(outs), ["res3", "res5"]);
  assertEquals(outs.res3.shape, [1, 8, 4, 4]);
  assertEquals(outs.res5.shape, [1, 32, 1, 1]);
  ops.dispose(outs);
  assert.strictEqual(ops.numTensors(), before, "forward leaked tensors");
  ops.dispose([...inputs]);
  model.dispose();
});

Deno.test("D2SwinTransformer APE: the original's absolute_pos_embed, resized bicubically and added to the patches", () => {
  const opts = { embedDim: 4, depths: [1, 1, 1, 1], numHeads: [1, 1, 1, 1], generator: new Generator(0) };
  const plain = new D2SwinTransformer(opts).eval();
  const ape = new D2SwinTransformer({ ...opts, ape: true, pretrainImgSize: 48, patchSize: 4 }).eval();
  // PyTorch lists a module's own parameters before its children's.
  const names = [...ape.stateDict().keys()];
  assertEquals(names[0], "absolute_pos_embed");
  assertEquals(ape.stateDict().get("absolute_pos_embed")!.shape, [1, 4, 12, 12]);
  assertEquals(names.slice(1), [...plain.stateDict().keys()]);
  const init = values(ape.absolutePosEmbed!);
  const std = Math.sqrt(init.reduce((a, v) => a + v * v, 0) / init.length);
  assert(std > 0.015 && std < 0.025, `trunc_normal_(std=0.02) init, got std ${std}`);

  ape.loadStateDict(new Map([...plain.stateDict(), ["absolute_pos_embed", ops.zeros([1, 4, 12, 12])]]));
  const x = ops.randn([2, 3, 32, 64], new Generator(1));
  const l = ops.randn([2, 768, 3], new Generator(2));
  const lMask = ops.ones([2, 3, 1]);
  const res = (m: D2SwinTransformer) => {
    const outs = m.forward(x, l, lMask);
    const v = values(outs.res2);
    ops.dispose(outs);
    return v;
  };
  assertClose(res(ape), res(plain), { label: "a zero embedding adds nothing" });

  // A constant embedding is a shift of the patches after their LayerNorm: the norm's bias plus k.
  const k = [0.3, -0.2, 0.1, 0.5];
  const constant = Float32Array.from({ length: 4 * 144 }, (_, i) => k[Math.floor(i / 144)]);
  ape.loadStateDict(new Map([["absolute_pos_embed", ops.tensor(constant, [1, 4, 12, 12])]]), {
    strict: false,
  });
  const bias = values(plain.stateDict().get("patch_embed.norm.bias")!);
  plain.loadStateDict(new Map([["patch_embed.norm.bias", ops.tensor(bias.map((b, c) => b + k[c]), [4])]]), {
    strict: false,
  });
  assertClose(res(ape), res(plain), {
    atol: 1e-5,
    rtol: 1e-4,
    label: "constant embedding = shifted patches",
  });
  // A ramp along x makes the features depend on where a patch is.
  const ramp = Float32Array.from({ length: 4 * 144 }, (_, i) => (i % 12) / 11);
  ape.loadStateDict(new Map([["absolute_pos_embed", ops.tensor(ramp, [1, 4, 12, 12])]]), { strict: false });
  const shifted = res(plain);
  const diff = res(ape).reduce((a, v, i) => Math.max(a, Math.abs(v - shifted[i])), 0);
  assert(diff > 0.05, `a ramp changes the features (max difference ${diff})`);

  const { value, grads } = ops.valueAndGrads(
    () => ops.sum(ape.forward(x, l, lMask).res3),
    [ape.absolutePosEmbed!],
  );
  const g = values(Object.values(grads)[0]);
  assertEquals(Object.values(grads)[0].shape, [1, 4, 12, 12]);
  assert(g.some((v) => v !== 0), "the embedding is learnt");
  ops.dispose([value, ...Object.values(grads), x, l, lMask]);
  plain.dispose();
  ape.dispose();
});

Deno.test("D2SwinTransformer: the language width follows languageChannels (a small text encoder)", () => {
  const model = new D2SwinTransformer({
    embedDim: 4,
    depths: [1, 1, 1, 1],
    numHeads: [1, 1, 1, 1],
    languageChannels: 16,
    generator: new Generator(0),
  });
  model.eval();
  const sd = model.stateDict();
  // PWAM's key/value 1x1 convolutions take the words' channels as their input channels.
  const wordConvs = [...sd].filter(([n]) => /fusion\.image_lang_att\.f_(key|value)\.0\.weight$/.test(n));
  assertEquals(wordConvs.length, 8, "a key and a value convolution per stage");
  for (const [name, t] of wordConvs) assertEquals(t.shape[1], 16, name);
  const inputs = [ops.ones([1, 3, 32, 32]), ops.ones([1, 16, 3]), ops.ones([1, 3, 1])] as const;
  const outs = model.forward(...inputs);
  assertEquals(outs.res2.shape, [1, 4, 8, 8]);
  ops.dispose([outs, ...inputs]);
  assertThrows(() => model.forward(ops.ones([1, 3, 32, 32]), ops.ones([1, 768, 3]), ops.ones([1, 3, 1])));
  model.dispose();
});

/** Loss and gradients of a small Swin built with `gateInit`, on fixed inputs. */
function swinGradients(gateInit: "zeros" | "trainable") {
  const model = new D2SwinTransformer({
    embedDim: 4,
    depths: [2, 2, 2, 2],
    numHeads: [1, 1, 2, 2],
    dropPathRate: 0,
    gateInit,
    generator: new Generator(0),
  });
  const g = new Generator(1);
  const x = ops.randn([1, 3, 32, 64], g);
  const l = ops.randn([1, 768, 3], g);
  const mask = ops.tensor([1, 1, 0], [1, 3, 1]);
  const named = model.namedParameters();
  const { value, grads } = ops.valueAndGrads(() => {
    const o = model.forward(x, l, mask);
    return ops.add(
      ops.add(ops.sum(ops.square(o.res2)), ops.sum(ops.square(o.res3))),
      ops.add(ops.sum(ops.square(o.res4)), ops.sum(ops.square(o.res5))),
    );
  }, named.map(([, p]) => p));
  const loss = ops.toArray(value)[0];
  const out = named.map(([name, p]) => ({ name, grad: Array.from(ops.toArray(grads[p.name])) }));
  ops.dispose([value, x, l, mask, ...Object.values(grads)]);
  model.dispose();
  return { loss, grads: out };
}

Deno.test("D2SwinTransformer: gradients reach every parameter except the zero-initialised gates", () => {
  const { loss, grads } = swinGradients("zeros");
  assert(Number.isFinite(loss));
  for (const { name, grad } of grads) {
    assert(grad.every(Number.isFinite), `${name}: non-finite gradient`);
    const nonzero = grad.some((v) => v !== 0);
    if (name.includes(".res_gate.")) {
      // Both gate Linears start at zero, so each one's gradient (through the other) is exactly zero,
      // as in the original: the gate opens only with weights loaded from a checkpoint.
      assert(!nonzero, `${name}: expected an exactly zero gradient`);
    } else if (!/f_(query|key)\.0\.bias$/.test(name)) {
      // (The query bias is removed by the instance norm, the key bias by the softmax: not asserted.)
      assert(nonzero, `${name}: no gradient`);
    }
  }
});

Deno.test("D2SwinTransformer: FUSION_GATE_INIT trainable starts closed but gives the gate a gradient", () => {
  const zeros = swinGradients("zeros");
  const trainable = swinGradients("trainable");
  // Same draws and a closed gate either way: the same forward pass.
  assertEquals(trainable.loss, zeros.loss);
  const gates = trainable.grads.filter(({ name }) => name.includes(".res_gate."));
  assertEquals(gates.length, 6, "two Linears in each of the three gated stages");
  for (const { name, grad } of gates) {
    const nonzero = grad.some((v) => v !== 0);
    // The second Linear (zero) learns from the first's ReLU features; the first gets a gradient once
    // the second is no longer zero.
    if (name.endsWith("res_gate.2.weight")) assert(nonzero, `${name}: no gradient`);
    else assert(!nonzero, `${name}: expected zero at the start`);
  }
  assertThrows(
    () => parseFusionGateInit("open"),
    'MODEL.SWIN.FUSION_GATE_INIT: expected "zeros" or "trainable"',
  );
  assertEquals(parseFusionGateInit(undefined), "zeros");
});

Deno.test("D2SwinTransformer: drop-path draws from the given generator in training mode only", () => {
  const make = () =>
    new D2SwinTransformer({
      embedDim: 4,
      depths: [2, 2, 2, 2],
      numHeads: [1, 1, 1, 1],
      dropPathRate: 0.5,
      generator: new Generator(7),
    });
  const g = new Generator(8);
  const x = ops.randn([4, 3, 32, 32], g);
  const l = ops.randn([4, 768, 2], g);
  const mask = ops.ones([4, 2, 1]);
  // res3 (4x4 here), not res5: on a 1x1 map the instance norms make PWAM's output input-independent.
  const run = (m: D2SwinTransformer) => ops.tidy(() => ops.toArray(m.forward(x, l, mask).res3));
  const [a, b] = [make(), make()];
  const trainA = run(a);
  assertEquals([...run(b)], [...trainA]); // same seed: same initialisation and same drops
  const evalA = run(a.eval());
  assert(evalA.some((v, i) => v !== trainA[i]), "training-mode drop-path must change the output");
  assertEquals([...run(a)], [...evalA]); // eval is deterministic
  ops.dispose([x, l, mask]);
  a.dispose();
  b.dispose();
});

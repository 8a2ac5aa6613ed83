/**
 * Tests of the RoBERTa port: the forward pass of the tiny fixture against an independent float64
 * re-computation written out in loops below (embeddings, masked multi-head attention, LayerNorm,
 * erf GELU, pooler), position ids, masking, freezing, the state-dict layout against
 * `reference_keys.json`, and the loaders (HF folder, DsHmp checkpoint entries) with their errors.
 * @module
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { assert, assertClose, assertEquals, assertRejects, assertThrows } from "../assert.ts";
import { useBackend } from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";
import { Generator } from "../../core/random.ts";
import {
  loadSafetensors,
  type NamedTensor,
  type TensorInput,
  writeSafetensors,
} from "../../core/io/safetensors.ts";
import { loadHfTokenizer } from "../../core/text/hf_tokenizer.ts";
import { encodeSentence } from "../../plugins/dshmp/text/decoupling.ts";
import {
  createPositionIds,
  loadRobertaFromHfFolder,
  loadTextEncoderFromCheckpoint,
  ROBERTA_BASE_CONFIG,
  type RobertaConfig,
  RobertaModel,
  robertaStateDictEntries,
} from "../../plugins/dshmp/text_encoder/mod.ts";
import { makeRobertaTinyFiles, ROBERTA_TINY_DIR } from "../fixtures/roberta_tiny/make_fixture.ts";

const REFERENCE_KEYS = fileURLToPath(
  new URL("../../../shared/fixtures/reference_keys.json", import.meta.url),
);

const TINY: RobertaConfig = {
  vocabSize: 50,
  hiddenSize: 16,
  numHiddenLayers: 2,
  numAttentionHeads: 2,
  intermediateSize: 32,
  maxPositionEmbeddings: 48,
};

// ---- float64 reference ------------------------------------------------------------------------

type Weights = Map<string, Float64Array>;

function weightsOf(tensors: Map<string, NamedTensor>, prefix: string): Weights {
  const out: Weights = new Map();
  for (const [k, v] of tensors) {
    if (k.startsWith(prefix)) out.set(k.slice(prefix.length), Float64Array.from(v.data as Float32Array));
  }
  return out;
}

/** erf by its everywhere-convergent series `2/sqrt(pi) e^{-x^2} sum 2^n x^{2n+1} / (2n+1)!!` (no cancellation). */
function erf64(x: number): number {
  const ax = Math.abs(x);
  if (ax > 6) return Math.sign(x);
  let term = ax;
  let sum = ax;
  for (let n = 1; n < 400 && term > 1e-17 * sum; n++) {
    term *= (2 * ax * ax) / (2 * n + 1);
    sum += term;
  }
  return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * Math.exp(-ax * ax) * sum;
}

/** `x` `[n, in]` times `W` `[out, in]` transposed plus `b`. */
function dense(x: number[][], w: Float64Array, b: Float64Array): number[][] {
  const out = b.length;
  return x.map((row) => {
    const y = new Array<number>(out);
    for (let o = 0; o < out; o++) {
      let s = b[o];
      for (let i = 0; i < row.length; i++) s += row[i] * w[o * row.length + i];
      y[o] = s;
    }
    return y;
  });
}

function layerNorm64(x: number[][], g: Float64Array, b: Float64Array, eps: number): number[][] {
  return x.map((row) => {
    const mu = row.reduce((a, v) => a + v, 0) / row.length;
    const v = row.reduce((a, t) => a + (t - mu) ** 2, 0) / row.length;
    return row.map((t, i) => ((t - mu) / Math.sqrt(v + eps)) * g[i] + b[i]);
  });
}

const add2 = (a: number[][], b: number[][]) => a.map((r, i) => r.map((v, j) => v + b[i][j]));

/**
 * RoBERTa on one sequence in float64: masked keys are left out of the softmax entirely (what
 * adding float32_min amounts to), position ids counted directly from the HF rule.
 */
function referenceForward(
  w: Weights,
  c: Required<RobertaConfig>,
  ids: number[],
  mask: number[],
): { hidden: number[][]; pooled: number[] } {
  const h = c.hiddenSize;
  const pad = c.padTokenId;
  let seen = 0;
  const positions = ids.map((id) => (id === pad ? pad : pad + ++seen));
  const row = (table: string, r: number) => Array.from(w.get(table)!.subarray(r * h, (r + 1) * h));
  let x = ids.map((id, i) => {
    const word = row("embeddings.word_embeddings.weight", id);
    const pos = row("embeddings.position_embeddings.weight", positions[i]);
    const type = row("embeddings.token_type_embeddings.weight", 0);
    return word.map((v, j) => v + pos[j] + type[j]);
  });
  x = layerNorm64(
    x,
    w.get("embeddings.LayerNorm.weight")!,
    w.get("embeddings.LayerNorm.bias")!,
    c.layerNormEps,
  );
  const nh = c.numAttentionHeads;
  const hd = h / nh;
  for (let l = 0; l < c.numHiddenLayers; l++) {
    const p = `encoder.layer.${l}.`;
    const lin = (name: string, input: number[][]) =>
      dense(input, w.get(`${p}${name}.weight`)!, w.get(`${p}${name}.bias`)!);
    const q = lin("attention.self.query", x);
    const k = lin("attention.self.key", x);
    const v = lin("attention.self.value", x);
    const ctx = x.map(() => new Array<number>(h).fill(0));
    for (let head = 0; head < nh; head++) {
      for (let i = 0; i < x.length; i++) {
        const scores: number[] = [];
        for (let j = 0; j < x.length; j++) {
          if (!mask[j]) continue;
          let s = 0;
          for (let d = 0; d < hd; d++) s += q[i][head * hd + d] * k[j][head * hd + d];
          scores.push(s / Math.sqrt(hd));
        }
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m));
        const z = e.reduce((a, t) => a + t, 0);
        let n = 0;
        for (let j = 0; j < x.length; j++) {
          if (!mask[j]) continue;
          const pr = e[n++] / z;
          for (let d = 0; d < hd; d++) ctx[i][head * hd + d] += pr * v[j][head * hd + d];
        }
      }
    }
    const ln = (name: string, input: number[][]) =>
      layerNorm64(
        input,
        w.get(`${p}${name}.LayerNorm.weight`)!,
        w.get(`${p}${name}.LayerNorm.bias`)!,
        c.layerNormEps,
      );
    const a = ln("attention.output", add2(lin("attention.output.dense", ctx), x));
    const inter = lin("intermediate.dense", a).map((r) =>
      r.map((t) => 0.5 * t * (1 + erf64(t / Math.SQRT2)))
    );
    x = ln("output", add2(lin("output.dense", inter), a));
  }
  const pooled = dense([x[0]], w.get("pooler.dense.weight")!, w.get("pooler.dense.bias")!)[0].map(Math.tanh);
  return { hidden: x, pooled };
}

function tinyFixtureConfig(): Required<RobertaConfig> {
  const j = JSON.parse(Deno.readTextFileSync(join(ROBERTA_TINY_DIR, "config.json")));
  return {
    vocabSize: j.vocab_size,
    hiddenSize: j.hidden_size,
    numHiddenLayers: j.num_hidden_layers,
    numAttentionHeads: j.num_attention_heads,
    intermediateSize: j.intermediate_size,
    maxPositionEmbeddings: j.max_position_embeddings,
    typeVocabSize: j.type_vocab_size,
    hiddenDropoutProb: j.hidden_dropout_prob,
    attentionProbsDropoutProb: j.attention_probs_dropout_prob,
    initializerRange: j.initializer_range,
    layerNormEps: j.layer_norm_eps,
    padTokenId: j.pad_token_id,
    addPoolingLayer: true,
  };
}

// ---- tests ------------------------------------------------------------------------------------

Deno.test("createPositionIds follows HF's rule for pad id 1 and keeps counting over DsHmp's 0 padding", async () => {
  await useBackend("wasm");
  const hfPadded = createPositionIds(
    ops.tensor([[0, 9, 8, 2, 1, 1], [0, 1, 7, 2, 1, 1]], [2, 6], "int32"),
    1,
  );
  assertEquals(Array.from(ops.toArray(hfPadded)), [2, 3, 4, 5, 1, 1, 2, 1, 3, 4, 1, 1]);
  const dshmpPadded = createPositionIds(ops.tensor([[0, 9, 2, 0, 0, 0]], [1, 6], "int32"), 1);
  assertEquals(Array.from(ops.toArray(dshmpPadded)), [2, 3, 4, 5, 6, 7]);
  ops.dispose([hfPadded, dshmpPadded]);
});

Deno.test("the committed roberta_tiny fixture is exactly what make_fixture.ts writes", async () => {
  const files = makeRobertaTinyFiles();
  assertEquals(await Deno.readTextFile(join(ROBERTA_TINY_DIR, "config.json")), files.config);
  assertEquals(await Deno.readTextFile(join(ROBERTA_TINY_DIR, "tokenizer.json")), files.tokenizer);
  const bytes = await Deno.readFile(join(ROBERTA_TINY_DIR, "model.safetensors"));
  assertEquals(bytes.length, files.weights.length);
  assert(bytes.every((b, i) => b === files.weights[i]), "model.safetensors differs from the script's output");
});

for (const backend of ["wasm", "cpu"] as const) {
  Deno.test(`RoBERTa forward on the tiny fixture matches a float64 loop re-computation (${backend})`, async () => {
    await useBackend(backend);
    const { model } = await loadRobertaFromHfFolder(ROBERTA_TINY_DIR);
    model.eval();
    const c = tinyFixtureConfig();
    const weights = weightsOf(
      (await loadSafetensors(join(ROBERTA_TINY_DIR, "model.safetensors"))).tensors,
      "roberta.",
    );
    const tok = await loadHfTokenizer(ROBERTA_TINY_DIR);
    // Row 0: DsHmp's encoding (40 tokens padded with id 0); row 1: HF-style padding with id 1.
    const dsh = encodeSentence(tok, "the red car turning left slowly");
    const hfIds = Array.from(dsh.ids, (id, i) => (dsh.attentionMask[i] ? id : 1));
    const ids = [Array.from(dsh.ids), hfIds];
    const mask = [Array.from(dsh.attentionMask), Array.from(dsh.attentionMask)];
    const idsT = ops.tensor(ids, [2, 40], "int32");
    const maskT = ops.tensor(mask, [2, 40], "int32");
    const before = ops.numTensors();
    const out = model.forward(idsT, maskT);
    assertEquals(out.lastHiddenState.shape, [2, 40, 16]);
    assertEquals(out.poolerOutput!.shape, [2, 16]);
    const hidden = ops.toArray(out.lastHiddenState);
    const pooled = ops.toArray(out.poolerOutput!);
    // float32 against float64: dot products of <= 32 terms and LayerNorm statistics over 16 values
    // lose a few ulps per layer (measured max |err| ~7e-7 after 2 layers); 1e-5 leaves room without
    // hiding a wrong op (a missing scale, mask or bias moves values by > 1e-2).
    const tol = { atol: 1e-5, rtol: 1e-5 };
    for (let b = 0; b < 2; b++) {
      const ref = referenceForward(weights, c, ids[b], mask[b]);
      // Every position, padded ones included: their values depend on the position rule.
      assertClose(hidden.subarray(b * 40 * 16, (b + 1) * 40 * 16), ref.hidden.flat(), {
        ...tol,
        label: `hidden ${b}`,
      });
      assertClose(pooled.subarray(b * 16, (b + 1) * 16), ref.pooled, { ...tol, label: `pooled ${b}` });
    }
    // Valid tokens see the same inputs in both rows; padded rows differ (positions 1 vs 5..).
    const valid = dsh.attentionMask.reduce((a, v) => a + v, 0);
    assertClose(hidden.subarray(40 * 16, (40 + valid) * 16), hidden.subarray(0, valid * 16), {
      atol: 1e-6,
      rtol: 1e-6,
    });
    assert(Math.abs(hidden[(40 + valid) * 16] - hidden[valid * 16]) > 1e-3, "padded slots should differ");
    ops.dispose([out.lastHiddenState, out.poolerOutput!]);
    assertEquals(ops.numTensors(), before, "forward leaked tensors");
    ops.dispose([idsT, maskT]);
    model.dispose();
  });
}

Deno.test("masked keys do not reach the valid tokens' outputs", async () => {
  await useBackend("wasm");
  const model = new RobertaModel(TINY, { generator: new Generator(3) }).eval();
  const mask = ops.tensor([[1, 1, 1, 1, 0, 0, 0]], [1, 7], "int32");
  const a = model.forward(ops.tensor([[0, 11, 12, 2, 0, 0, 0]], [1, 7], "int32"), mask).lastHiddenState;
  const b = model.forward(ops.tensor([[0, 11, 12, 2, 30, 31, 32]], [1, 7], "int32"), mask).lastHiddenState;
  assertClose(
    ops.toArray(ops.slice(b, [0, 0, 0], [1, 4, 16])),
    ops.toArray(ops.slice(a, [0, 0, 0], [1, 4, 16])),
    {
      atol: 1e-6,
      rtol: 1e-6,
    },
  );
  const open = model.forward(ops.tensor([[0, 11, 12, 2, 30, 31, 32]], [1, 7], "int32")).lastHiddenState;
  const diff = ops.toArray(
    ops.abs(ops.sub(ops.slice(open, [0, 0, 0], [1, 4, 16]), ops.slice(a, [0, 0, 0], [1, 4, 16]))),
  );
  assert(Math.max(...diff) > 1e-3, "without the mask the extra tokens should change the outputs");
  model.dispose();
});

Deno.test("a frozen RoBERTa gets no gradients and offers nothing to an optimiser", async () => {
  await useBackend("wasm");
  const ids = ops.tensor([[0, 5, 6, 2]], [1, 4], "int32");
  const frozen = new RobertaModel(TINY, { frozen: true, generator: new Generator(1) });
  assertEquals(frozen.trainableParameters().length, 0);
  const head = ops.variable(ops.ones([16]), true);
  const loss = (m: RobertaModel) => () => ops.sum(ops.mul(m.forward(ids).poolerOutput!, head));
  const { grads } = ops.valueAndGrads(loss(frozen));
  assertEquals(Object.keys(grads), [head.name]);
  const live = new RobertaModel(TINY, { generator: new Generator(1) });
  assertEquals(live.trainableParameters().length, live.parameters().length);
  const liveGrads = ops.valueAndGrads(loss(live)).grads;
  assert(liveGrads[live.pooler!.dense.weight.name] !== undefined, "unfrozen pooler should get a gradient");
  frozen.dispose();
  live.dispose();
});

Deno.test("state-dict names and shapes: module = layout function, roberta-base layout = reference_keys.json", async () => {
  await useBackend("wasm");
  const model = new RobertaModel(TINY, { initialise: "none" });
  const fromModule = [...model.stateDict()].map(([k, v]) => ({ name: k, shape: [...v.shape] }));
  const fromLayout = robertaStateDictEntries(TINY).map(({ name, shape }) => ({ name, shape }));
  assertEquals(fromModule, fromLayout);
  const kinds = new Map(model.namedBuffers().map(([k]) => [k, "buffer"]));
  assertEquals(robertaStateDictEntries(TINY).filter((e) => e.kind === "buffer").map((e) => e.name), [
    ...kinds.keys(),
  ]);
  model.dispose();

  const ref = JSON.parse(await Deno.readTextFile(REFERENCE_KEYS));
  const expected = Object.entries(
    ref.keys as Record<string, { shape: number[]; kind: string; dtype: string }>,
  )
    .filter(([k]) => k.startsWith("text_encoder."))
    .map(([name, v]) => ({ name, shape: v.shape, kind: v.kind, dtype: v.dtype }));
  const got = robertaStateDictEntries(ROBERTA_BASE_CONFIG, "text_encoder.");
  assertEquals(got, expected);
  const params = got.filter((e) => e.kind === "parameter").reduce(
    (a, e) => a + e.shape.reduce((p, d) => p * d, 1),
    0,
  );
  assertEquals(params, ref.totals_per_prefix.text_encoder.parameters);
});

Deno.test("loading the tiny HF folder copies every encoder tensor and reports what it skipped or filled", async () => {
  await useBackend("wasm");
  const { model, report, config } = await loadRobertaFromHfFolder(ROBERTA_TINY_DIR, { frozen: true });
  assertEquals(config.hiddenSize, 16);
  assertEquals(report.ignored.sort(), ["lm_head.bias", "lm_head.dense.bias", "lm_head.dense.weight"]);
  assertEquals(report.filled, ["embeddings.position_ids"]);
  assertEquals(report.initialised, []);
  assertEquals(model.trainableParameters().length, 0);
  const file = (await loadSafetensors(join(ROBERTA_TINY_DIR, "model.safetensors"))).tensors;
  for (const [k, v] of model.stateDict()) {
    if (k === "embeddings.position_ids") {
      assertEquals(Array.from(ops.toArray(v)), Array.from({ length: 48 }, (_, i) => i));
      continue;
    }
    const stored = file.get(`roberta.${k}`)!;
    assertEquals(Array.from(ops.toArray(v)), Array.from(stored.data as Float32Array), k);
  }
  model.dispose();
});

/** A copy of the tiny folder with `edit` applied to its weights (and config), in a temp dir. */
async function editedFolder(
  edit: (t: Map<string, TensorInput>) => void,
  config?: (c: Record<string, unknown>) => void,
): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "roberta_tiny_" });
  const tensors = new Map<string, TensorInput>(
    (await loadSafetensors(join(ROBERTA_TINY_DIR, "model.safetensors"))).tensors,
  );
  edit(tensors);
  await Deno.writeFile(join(dir, "model.safetensors"), writeSafetensors(tensors));
  const c = JSON.parse(await Deno.readTextFile(join(ROBERTA_TINY_DIR, "config.json")));
  config?.(c);
  await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(c));
  return dir;
}

Deno.test("a folder without a pooler (like roberta-base) gets HF's initialisation for it, seeded", async () => {
  await useBackend("wasm");
  const dir = await editedFolder((t) => {
    t.delete("roberta.pooler.dense.weight");
    t.delete("roberta.pooler.dense.bias");
  });
  try {
    const a = await loadRobertaFromHfFolder(dir, { generator: new Generator(7) });
    const b = await loadRobertaFromHfFolder(dir, { generator: new Generator(7) });
    assertEquals(a.report.initialised, ["pooler.dense.weight", "pooler.dense.bias"]);
    const w = Array.from(ops.toArray(a.model.pooler!.dense.weight));
    assertEquals(w, Array.from(ops.toArray(b.model.pooler!.dense.weight)));
    assert(ops.toArray(a.model.pooler!.dense.bias!).every((v) => v === 0), "pooler bias should start at 0");
    const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
    assert(std > 0.015 && std < 0.025, `pooler weight std ${std} should be near initializer_range 0.02`);
    a.model.dispose();
    b.model.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("folder errors name the file and the key", async () => {
  await useBackend("wasm");
  const empty = await Deno.makeTempDir({ prefix: "roberta_none_" });
  const misShaped = await editedFolder((t) => {
    t.set("roberta.encoder.layer.1.intermediate.dense.bias", {
      dtype: "F32",
      shape: [31],
      data: new Float32Array(31),
    });
  });
  const missingLayer = await editedFolder((t) => {
    for (const k of [...t.keys()]) if (k.startsWith("roberta.encoder.layer.1.output.")) t.delete(k);
  });
  const noHidden = await editedFolder(() => {}, (c) => delete c.hidden_size);
  const badAct = await editedFolder(() => {}, (c) => (c.hidden_act = "relu"));
  try {
    await assertRejects(
      () => loadRobertaFromHfFolder(empty),
      new RegExp(`${empty}/config\\.json: cannot read`),
    );
    await Deno.writeTextFile(
      join(empty, "config.json"),
      Deno.readTextFileSync(join(ROBERTA_TINY_DIR, "config.json")),
    );
    await assertRejects(
      () => loadRobertaFromHfFolder(empty),
      /no weights found \(looked for model\.safetensors/,
    );
    await assertRejects(
      () => loadRobertaFromHfFolder(misShaped),
      /model\.safetensors: .*mis-shaped \(1\): encoder\.layer\.1\.intermediate\.dense\.bias module \[32\] vs state dict \[31\]/s,
    );
    await assertRejects(
      () => loadRobertaFromHfFolder(missingLayer),
      /model\.safetensors: .*missing \(4\): encoder\.layer\.1\.output\.dense\.weight/s,
    );
    await assertRejects(() => loadRobertaFromHfFolder(noHidden), /config\.json: missing key "hidden_size"/);
    await assertRejects(() => loadRobertaFromHfFolder(badAct), /config\.json: key "hidden_act" is "relu"/);
  } finally {
    for (const d of [empty, misShaped, missingLayer, noHidden, badAct]) {
      await Deno.remove(d, { recursive: true });
    }
  }
});

Deno.test("text_encoder.* entries of a DsHmp checkpoint load strictly; other prefixes are not looked at", async () => {
  await useBackend("wasm");
  const source = new RobertaModel(TINY, { generator: new Generator(11) });
  const ckpt = new Map<string, NamedTensor>();
  for (const [k, v] of source.stateDict()) {
    const data = ops.toArray(v);
    ckpt.set(`text_encoder.${k}`, {
      dtype: v.dtype === "int32" ? "I64" : "F32",
      shape: [...v.shape],
      data: v.dtype === "int32" ? BigInt64Array.from(data, (x) => BigInt(x)) : Float32Array.from(data),
    });
  }
  ckpt.set("resizer.fc.weight", { dtype: "F32", shape: [2, 16], data: new Float32Array(32) });
  const target = new RobertaModel(TINY, { generator: new Generator(12) });
  const report = loadTextEncoderFromCheckpoint(target, ckpt, { source: "model_final.pth" });
  assertEquals(report.filled, []);
  const a = target.stateDict();
  for (const [k, v] of source.stateDict()) {
    assertEquals(Array.from(ops.toArray(a.get(k)!)), Array.from(ops.toArray(v)), k);
  }

  ckpt.set("text_encoder.encoder.layer.2.output.dense.bias", {
    dtype: "F32",
    shape: [16],
    data: new Float32Array(16),
  });
  ckpt.delete("text_encoder.pooler.dense.bias");
  assertThrows(
    () => loadTextEncoderFromCheckpoint(target, ckpt, { source: "model_final.pth" }),
    /model_final\.pth \(entries "text_encoder\.\*"\): .*missing \(1\): pooler\.dense\.bias.*unexpected \(1\): encoder\.layer\.2\.output\.dense\.bias/s,
  );
  source.dispose();
  target.dispose();
});

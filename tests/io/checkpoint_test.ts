import { unzipSync, zipSync } from "fflate";
import { parseCheckpoint, readCheckpoint, sniffCheckpointFormat } from "../../core/io/checkpoint.ts";
import { splitCheckpoint, toPlain } from "../../core/io/detectron2_checkpoint.ts";
import { BUILTIN_GLOBALS, type PickleGlobals, unpickle } from "../../core/io/pickle.ts";
import { loadSafetensors, type NamedTensor } from "../../core/io/safetensors.ts";
import { readTorchLegacy } from "../../core/io/torch_checkpoint.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "../assert.ts";
import { bu, le, p } from "./pickle_bytes.ts";

const FIXTURES = Deno.env.get("DSHMP_CHECKPOINT_FIXTURES") ??
  new URL("../../../shared/fixtures/checkpoints", import.meta.url).pathname;
const fixture = (name: string) => Deno.readFile(`${FIXTURES}/${name}`);

function assertSameTensors(
  got: Map<string, NamedTensor>,
  want: Map<string, NamedTensor>,
  label: string,
): void {
  assertEquals([...got.keys()].sort(), [...want.keys()].sort(), `${label}: names`);
  for (const [name, w] of want) {
    const g = got.get(name)!;
    assertEquals([g.dtype, g.shape], [w.dtype, w.shape], `${label}: ${name}`);
    assertEquals(g.data, w.data, `${label}: ${name} values`);
  }
}

Deno.test("detectron2 pickles (protocol 2 and 4) give the expected tensors exactly, extras kept", async () => {
  const want = (await loadSafetensors(`${FIXTURES}/detectron2_style.expected.safetensors`)).tensors;
  assert(want.size > 0);
  for (const name of ["detectron2_style_p2.pkl", "detectron2_style_p4.pkl"]) {
    const ckpt = await readCheckpoint(`${FIXTURES}/${name}`);
    assertEquals(ckpt.format, "pickle");
    assertSameTensors(ckpt.tensors, want, name);
    assertEquals(ckpt.extra, { __author__: "Detectron2 Model Zoo", matching_heuristics: true });
  }
});

Deno.test("PyTorch zip and legacy checkpoints give the expected tensors exactly, extras kept", async () => {
  const want = (await loadSafetensors(`${FIXTURES}/torch.expected.safetensors`)).tensors;
  for (const [name, format] of [["torch_zip.pth", "torch-zip"], ["torch_legacy.pth", "torch-legacy"]]) {
    const ckpt = await readCheckpoint(`${FIXTURES}/${name}`);
    assertEquals(ckpt.format, format);
    assertSameTensors(ckpt.tensors, want, name);
    assertEquals(ckpt.extra, { iteration: 54999, scheduler: { last_epoch: 54999 } });
  }
});

Deno.test("readCheckpoint reads safetensors too, with metadata as extra", async () => {
  const ckpt = await readCheckpoint(`${FIXTURES}/torch.expected.safetensors`);
  assertEquals(ckpt.format, "safetensors");
  assertEquals(ckpt.tensors.get("backbone.layers.0.blocks.0.attn_mask_flag")?.dtype, "BOOL");
  assertEquals(ckpt.extra, {});
});

/** Storage key → storage class name, read from a data.pkl without building tensors. */
function storageClasses(dataPkl: Uint8Array): Map<string, string> {
  const classes = new Map<string, string>();
  const globals: PickleGlobals = {
    ...BUILTIN_GLOBALS,
    "torch._utils._rebuild_tensor_v2": { call: () => null },
    "torch.FloatStorage": {},
    "torch.HalfStorage": {},
    "torch.LongStorage": {},
    "torch.BoolStorage": {},
  };
  unpickle(dataPkl, {
    globals,
    persistentLoad: (pid) => {
      const [, type, key] = pid as [string, { name: string }, string];
      classes.set(key, type.name);
      return null;
    },
  });
  return classes;
}

Deno.test("zip checkpoints: any archive prefix, big-endian storages via the byteorder record", async () => {
  const want = (await loadSafetensors(`${FIXTURES}/torch.expected.safetensors`)).tensors;
  const entries = unzipSync(await fixture("torch_zip.pth"));
  const oldPrefix = Object.keys(entries).find((n) => n.endsWith("/data.pkl"))!.slice(0, -"data.pkl".length);
  const size: Record<string, number> = { FloatStorage: 4, HalfStorage: 2, LongStorage: 8, BoolStorage: 1 };
  const classes = storageClasses(entries[`${oldPrefix}data.pkl`]);
  const renamed: Record<string, Uint8Array> = {};
  for (const [name, data] of Object.entries(entries)) {
    let bytes = data;
    const key = name.startsWith(`${oldPrefix}data/`) ? name.slice(`${oldPrefix}data/`.length) : undefined;
    if (key !== undefined) {
      const s = size[classes.get(key)!];
      bytes = data.map((_, i) => data[i - (i % s) + (s - 1 - (i % s))]); // swap each element's bytes
    }
    renamed[`my_checkpoint-v2/${name.slice(oldPrefix.length)}`] = bytes;
  }
  renamed["my_checkpoint-v2/byteorder"] = new TextEncoder().encode("big");
  const zip = zipSync(renamed, { level: 0 });
  const ckpt = parseCheckpoint(zip, "swapped.pth");
  assertEquals(ckpt.format, "torch-zip");
  assertSameTensors(ckpt.tensors, want, "big-endian");
});

Deno.test("malformed checkpoints fail with a clear error", async () => {
  const zip = await fixture("torch_zip.pth");
  const entries = unzipSync(zip);
  const noPkl = zipSync({ "archive/version": new TextEncoder().encode("3\n") });
  assertThrows(
    () => parseCheckpoint(noPkl, "x.pth"),
    /x\.pth: zip has no <prefix>\/data\.pkl.*archive\/version/,
  );
  const noStorage = Object.fromEntries(Object.entries(entries).filter(([n]) => !n.endsWith("/data/2")));
  assertThrows(() => parseCheckpoint(zipSync(noStorage), "y.pth"), /storage torch_zip\/data\/2 is missing/);
  assertThrows(
    () => parseCheckpoint(zip.subarray(0, zip.length - 40), "cut.pth"),
    /cut\.pth: not a readable zip/,
  );
  // Legacy: cut inside the raw storages, and inside the main pickle.
  const legacy = await fixture("torch_legacy.pth");
  assertThrows(
    () => parseCheckpoint(legacy.subarray(0, legacy.length - 2), "l.pth"),
    /l\.pth: is truncated: storage \d+ needs \d+ bytes at offset \d+, \d+ remain/,
  );
  assertThrows(() => readTorchLegacy(legacy.subarray(0, 600), "l.pth"), /l\.pth: pickle is truncated/);
  // A pickle cut short.
  const pkl = await fixture("detectron2_style_p4.pkl");
  const e = assertThrows(
    () => parseCheckpoint(pkl.subarray(0, 5000), "cut.pkl"),
    /cut\.pkl: pickle is truncated/,
  );
  assertEquals(e.name, "PickleError");
  assertThrows(
    () => parseCheckpoint(new Uint8Array([1, 2, 3]), "junk.bin"),
    /junk\.bin: unrecognised checkpoint format/,
  );
  assertThrows(
    () => parseCheckpoint(p(0x80, 2, "]", "."), "list.pkl"),
    /list\.pkl: the saved object is a list or tuple, not a dict/,
  );
  await assertRejects(
    () => readCheckpoint(`${FIXTURES}/does_not_exist.pth`),
    /does_not_exist\.pth: cannot read/,
  );
});

Deno.test("a checkpoint naming a non-allowed global is refused and nothing runs", () => {
  const marker = `${Deno.makeTempDirSync()}/pwned`;
  const evil = p(0x80, 2, "c", "os\nsystem\n", bu(`touch ${marker}`), 0x85, "R", ".");
  assertThrows(
    () => parseCheckpoint(evil, "evil.pkl"),
    /evil\.pkl: pickle global os\.system is not in the allow-list.*offset 2/,
  );
  const zip = zipSync({ "archive/data.pkl": evil });
  assertThrows(
    () => parseCheckpoint(zip, "evil.pth"),
    /evil\.pth:archive\/data\.pkl: pickle global os\.system/,
  );
  // A torch global is not allowed in a detectron2 pickle either: each format has its own list.
  const torchInPkl = p(0x80, 2, "c", "torch._utils\n_rebuild_tensor_v2\n", ")", "R", ".");
  assertThrows(
    () => parseCheckpoint(torchInPkl, "t.pkl"),
    /torch\._utils\._rebuild_tensor_v2 is not in the allow-list/,
  );
  assertThrows(() => Deno.statSync(marker), /No such file|not found/i);
});

/** A legacy torch.save file built by hand: one float storage of 4 elements, a tensor on a view of it. */
function legacyWithView(): Uint8Array {
  // LONG1 of the magic number 0x1950a86a20f9469cfc6c, little-endian.
  const magic = p(0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, ".");
  const version = p(0x80, 2, "M", le(1001, 2), ".");
  const sysInfo = p(0x80, 2, "}", "(", bu("little_endian"), 0x88, "u", ".");
  const main = p(
    0x80,
    2,
    "}",
    "(",
    bu("model"),
    "}",
    "(",
    bu("w"),
    "c",
    "torch._utils\n_rebuild_tensor_v2\n",
    "(",
    "(",
    bu("storage"),
    "c",
    "torch\nFloatStorage\n",
    bu("root"),
    bu("cpu"),
    "K",
    4,
    bu("view"),
    "K",
    1,
    "K",
    3,
    0x87,
    "t",
    "Q", // view: elements 1..3 of the root storage
    "K",
    1,
    "K",
    2,
    "K",
    1,
    0x86,
    "K",
    1,
    "K",
    2,
    0x86,
    0x89,
    "c",
    "collections\nOrderedDict\n",
    ")",
    "R",
    "t",
    "R",
    "u",
    bu("epoch"),
    "K",
    3,
    "u",
    ".",
  );
  const keys = p(0x80, 2, "]", "(", bu("root"), "e", ".");
  const data = p(le(4, 8), new Uint8Array(new Float32Array([10, 11, 12, 13]).buffer));
  return p(magic, version, sysInfo, main, keys, data);
}

Deno.test("legacy format: persistent ids with view metadata and a storage offset", () => {
  const bytes = legacyWithView();
  assertEquals(sniffCheckpointFormat(bytes), "torch-legacy");
  const ckpt = parseCheckpoint(bytes, "view.pth");
  // view offset 1 + storage offset 1, shape [2, 1] with strides [1, 2]: elements 2 and 3 of the root.
  const w = ckpt.tensors.get("w")!;
  assertEquals([w.dtype, w.shape, [...w.data]], ["F32", [2, 1], [12, 13]]);
  assertEquals(ckpt.extra, { epoch: 3 });
});

Deno.test("splitCheckpoint: bare state dicts, non-tensor entries in the model, plain extras", () => {
  const t: NamedTensor = { dtype: "F32", shape: [1], data: new Float32Array([1]) };
  const bare = splitCheckpoint(new Map<unknown, unknown>([["a", t], ["version", 2]]), ["model"]);
  assertEquals([...bare.tensors.keys()], ["a"]);
  assertEquals(bare.extra, { version: 2 });
  const wrapped = splitCheckpoint(
    new Map<unknown, unknown>([
      ["state_dict", new Map<unknown, unknown>([["b", t], ["_note", "x"]])],
      ["optimizer", new Map<unknown, unknown>([["state", new Map([[0, new Map([["exp_avg", t]])]])]])],
      ["__proto__", "kept"],
    ]),
    ["model", "state_dict"],
  );
  assertEquals([...wrapped.tensors.keys()], ["b"]);
  assertEquals(wrapped.extra.state_dict, { _note: "x" });
  assertEquals(wrapped.extra.optimizer, { state: { 0: { exp_avg: t } } });
  assertEquals(Object.getOwnPropertyDescriptor(wrapped.extra, "__proto__")?.value, "kept");
  // Cycles and non-string keys survive toPlain.
  const cyclic: unknown[] = [];
  cyclic.push(cyclic);
  const plain = toPlain(cyclic) as unknown[];
  assert(plain[0] === plain);
  assert(toPlain(new Map([[[1, 2], "tuple key"]])) instanceof Map);
});

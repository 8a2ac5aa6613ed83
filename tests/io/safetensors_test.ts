import {
  floatToBFloat16,
  floatToHalf,
  halfToFloat,
  loadSafetensors,
  readSafetensors,
  type SafeDType,
  saveSafetensors,
  type TensorInput,
  writeSafetensors,
} from "../../core/io/safetensors.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "../assert.ts";

const enc = new TextEncoder();

/** A safetensors file from a raw header string and data bytes (no validation: for malformed cases). */
function rawFile(header: string, data: Uint8Array | number = 0): Uint8Array {
  const h = enc.encode(header);
  const d = typeof data === "number" ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + h.length + d.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(d, 8 + h.length);
  return out;
}

Deno.test("writeSafetensors matches the reference implementation's byte-exact test vectors", () => {
  // huggingface/safetensors tensor.rs: test_serialization_forced_alignement, test_empty.
  const attn0 = writeSafetensors({ attn0: { dtype: "F32", shape: [1, 1, 2, 3], data: [0, 1, 2, 3, 4, 5] } });
  assertEquals(
    [...attn0],
    [
      72,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      123,
      34,
      97,
      116,
      116,
      110,
      48,
      34,
      58,
      123,
      34,
      100,
      116,
      121,
      112,
      101,
      34,
      58,
      34,
      70,
      51,
      50,
      34,
      44,
      34,
      115,
      104,
      97,
      112,
      101,
      34,
      58,
      91,
      49,
      44,
      49,
      44,
      50,
      44,
      51,
      93,
      44,
      34,
      100,
      97,
      116,
      97,
      95,
      111,
      102,
      102,
      115,
      101,
      116,
      115,
      34,
      58,
      91,
      48,
      44,
      50,
      52,
      93,
      125,
      125,
      32,
      32,
      32,
      32,
      32,
      32,
      32,
      0,
      0,
      0,
      0,
      0,
      0,
      128,
      63,
      0,
      0,
      0,
      64,
      0,
      0,
      64,
      64,
      0,
      0,
      128,
      64,
      0,
      0,
      160,
      64,
    ],
  );
  assertEquals([...writeSafetensors({})], [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
  assertEquals(
    [...writeSafetensors({}, { framework: "pt" })],
    [
      40,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      123,
      34,
      95,
      95,
      109,
      101,
      116,
      97,
      100,
      97,
      116,
      97,
      95,
      95,
      34,
      58,
      123,
      34,
      102,
      114,
      97,
      109,
      101,
      119,
      111,
      114,
      107,
      34,
      58,
      34,
      112,
      116,
      34,
      125,
      125,
      32,
      32,
      32,
      32,
      32,
    ],
  );
});

const SAMPLE: Record<string, TensorInput> = {
  "f32": { dtype: "F32", shape: [2, 3], data: new Float32Array([1.5, -2, 3.25, 0, -0, 1e-30]) },
  "f16": { dtype: "F16", shape: [5], data: [1, -65504, 2 ** -24, Infinity, -0] },
  "bf16": { dtype: "BF16", shape: [3], data: [1, -3.5, 2 ** 100] },
  "f64": { dtype: "F64", shape: [2], data: new Float64Array([Math.PI, -1e300]) },
  "i64": { dtype: "I64", shape: [3], data: new BigInt64Array([-(2n ** 63n), 0n, 2n ** 62n + 7n]) },
  "i64n": { dtype: "I64", shape: [2], data: [-5, 2 ** 53 - 1] },
  "i32": { dtype: "I32", shape: [2, 1], data: new Int32Array([-(2 ** 31), 2 ** 31 - 1]) },
  "u8": { dtype: "U8", shape: [3], data: new Uint8Array([0, 128, 255]) },
  "bool": { dtype: "BOOL", shape: [1, 3], data: new Uint8Array([1, 0, 1]) },
  "i16": { dtype: "I16", shape: [1], data: [-300] },
  "i8": { dtype: "I8", shape: [1], data: [-7] },
  "scalar": { dtype: "F32", shape: [], data: [42] },
  "empty": { dtype: "F32", shape: [0, 4], data: [] },
};

Deno.test("safetensors round-trips every dtype, in the reference layout", () => {
  const bytes = writeSafetensors(SAMPLE, { format: "pt", note: "x" });
  const file = readSafetensors(bytes);
  assertEquals(file.metadata, { format: "pt", note: "x" });
  assertEquals([...file.tensors.keys()].sort(), Object.keys(SAMPLE).sort());
  for (const [name, t] of Object.entries(SAMPLE)) {
    const got = file.tensors.get(name)!;
    assertEquals(got.dtype, t.dtype, name);
    assertEquals(got.shape, [...t.shape], name);
    const values = Array.from(t.data as ArrayLike<number | bigint>);
    const want = t.dtype === "I64" ? values.map((v) => BigInt(v)) : values.map(Number);
    assertEquals([...got.data], want, name);
  }
  // Header: __metadata__ first, then tensors by descending dtype alignment, then by name; every
  // tensor starts at an offset aligned to its element size; the header is padded to 8 bytes.
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assertEquals(headerLen % 8, 0);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  assertEquals(Object.keys(header), [
    "__metadata__",
    "i64",
    "i64n",
    "f64",
    "empty",
    "f32",
    "scalar",
    "i32",
    "bf16",
    "f16",
    "i16",
    "i8",
    "u8",
    "bool",
  ]);
  const size: Record<SafeDType, number> = {
    F64: 8,
    I64: 8,
    F32: 4,
    I32: 4,
    F16: 2,
    BF16: 2,
    I16: 2,
    I8: 1,
    U8: 1,
    BOOL: 1,
  };
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const { dtype, data_offsets } = info as { dtype: SafeDType; data_offsets: number[] };
    assertEquals((8 + headerLen + data_offsets[0]) % size[dtype], 0, name);
  }
  // Writing what was read gives the same bytes.
  assertEquals(writeSafetensors(file.tensors, file.metadata), bytes);
});

Deno.test("floatToHalf rounds to nearest even exactly like Math.f16round", () => {
  for (let h = 0; h < 0x10000; h++) {
    const x = halfToFloat(h);
    if (!Number.isNaN(x)) assertEquals(floatToHalf(x), h, `bits ${h.toString(16)}`);
  }
  const special = [
    65504,
    65519.99,
    65520,
    2 ** -24,
    2 ** -25,
    3 * 2 ** -25,
    1 + 2 ** -11,
    1 + 3 * 2 ** -11,
    2 ** -14 - 2 ** -26,
  ];
  const rng = mulberry32(7);
  const values = [
    ...special,
    ...Array.from({ length: 20000 }, () => (rng() - 0.5) * 2 ** Math.floor(rng() * 60 - 30)),
  ];
  for (const x of values) assertEquals(halfToFloat(floatToHalf(x)), Math.f16round(x), `x=${x}`);
  assertEquals(floatToHalf(NaN), 0x7e00);
  assertEquals(floatToHalf(-0), 0x8000);
});

Deno.test("floatToBFloat16 round-trips all bf16 values and rounds ties to even", () => {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let h = 0; h < 0x10000; h++) {
    u[0] = h << 16;
    if (!Number.isNaN(f[0])) assertEquals(floatToBFloat16(f[0]), h, `bits ${h.toString(16)}`);
  }
  assertEquals(floatToBFloat16(1 + 2 ** -8), 0x3f80); // tie → even mantissa 0
  assertEquals(floatToBFloat16(1 + 3 * 2 ** -8), 0x3f82); // tie → even mantissa 2
  assertEquals(floatToBFloat16(1 + 2 ** -8 + 2 ** -30), 0x3f81); // just above the tie
});

function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("readSafetensors accepts offsets listed out of order (the spec sorts them)", () => {
  const file = readSafetensors(rawFile(
    '{"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}',
    new Uint8Array([7, 9]),
  ));
  assertEquals([...file.tensors.get("a")!.data], [7]);
  assertEquals([...file.tensors.get("b")!.data], [9]);
});

Deno.test("readSafetensors rejects malformed files with a clear message", () => {
  const good = writeSafetensors({ w: { dtype: "F32", shape: [2], data: [1, 2] } });
  const u8 = (offsets: string, n: number) =>
    `{"a":{"dtype":"U8","shape":[2],"data_offsets":${offsets}}}${" ".repeat(n)}`;
  const cases: [string, Uint8Array, RegExp][] = [
    ["shorter than the size field", new Uint8Array(5), /shorter than the 8-byte header length/],
    ["truncated data", good.subarray(0, good.length - 3), /point past the data section|truncated/],
    ["truncated header", good.subarray(0, 20), /header length \d+ runs past the end/],
    [
      "header past the end",
      (() => {
        const b = good.slice();
        new DataView(b.buffer).setBigUint64(0, 1000n, true);
        return b;
      })(),
      /header length 1000 runs past the end/,
    ],
    [
      "huge header length",
      (() => {
        const b = good.slice();
        new DataView(b.buffer).setBigUint64(0, 2n ** 40n, true);
        return b;
      })(),
      /exceeds 100000000 bytes/,
    ],
    [
      "offsets past the end",
      rawFile(u8("[0,2]", 0), 1),
      /data_offsets \[0, 2\] point past the data section \(1 bytes\)/,
    ],
    [
      "wrong byte count",
      rawFile('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', 4),
      /has 4 bytes but shape \[2\] of F32 needs 8/,
    ],
    [
      "overlap",
      rawFile(u8("[0,2]", 0).replace("}}", '},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}'), 3),
      /overlap the previous tensor/,
    ],
    ["gap", rawFile(u8("[1,3]", 0), 3), /leave a gap after byte 0/],
    ["trailing bytes", rawFile(u8("[0,2]", 0), 5), /cover 2 bytes but the data section has 5/],
    ["reversed offsets", rawFile(u8("[2,0]", 0), 2), /point past the data section/],
    [
      "bad dtype",
      rawFile('{"a":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}}', 1),
      /unsupported dtype "F8"/,
    ],
    ["missing dtype", rawFile('{"a":{"shape":[1],"data_offsets":[0,1]}}', 1), /unsupported dtype undefined/],
    [
      "bad shape",
      rawFile('{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}', 1),
      /invalid shape \[-1\]/,
    ],
    [
      "bad offsets",
      rawFile('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0]}}', 1),
      /invalid data_offsets \[0\]/,
    ],
    ["non-JSON header", rawFile("{not json}", 0), /header is not valid UTF-8 JSON/],
    ["invalid UTF-8", rawFile('{"\xff"}', 0).map((b, i) => (i === 10 ? 0xff : b)), /not valid UTF-8 JSON/],
    ["not an object", rawFile("[1,2]", 0), /does not start with "\{"/],
    ["null entry", rawFile('{"a":null}', 0), /unsupported dtype undefined/],
    [
      "metadata not strings",
      rawFile('{"__metadata__":{"epoch":3}}', 0),
      /__metadata__ value of "epoch" is not a string/,
    ],
  ];
  for (const [what, bytes, pattern] of cases) {
    const e = assertThrows(() => readSafetensors(bytes, "bad.safetensors"), pattern);
    assertEquals(e.name, "SafetensorsError", what);
    assert(e.message.startsWith("bad.safetensors: "), what);
  }
});

Deno.test("writeSafetensors rejects data that does not fit its dtype or shape", () => {
  const cases: [Record<string, TensorInput>, RegExp][] = [
    [{ a: { dtype: "F32", shape: [2, 2], data: [1, 2, 3] } }, /3 values but shape \[2,2\] holds 4/],
    [{ a: { dtype: "U8", shape: [1], data: [256] } }, /element 0 \(256\) is out of range for U8/],
    [{ a: { dtype: "I32", shape: [1], data: [1.5] } }, /out of range for I32/],
    [{ a: { dtype: "BOOL", shape: [2], data: [0, 2] } }, /element 1 \(2\) is out of range for BOOL/],
    [{ a: { dtype: "I64", shape: [1], data: [2 ** 60] } }, /not an exact I64 integer/],
    [{ a: { dtype: "F32", shape: [1], data: new BigInt64Array(1) } }, /BigInt64Array data for dtype F32/],
    [{ a: { dtype: "X" as SafeDType, shape: [1], data: [1] } }, /unsupported dtype "X"/],
    [{ __metadata__: { dtype: "U8", shape: [1], data: [1] } }, /reserved/],
  ];
  for (const [tensors, pattern] of cases) assertThrows(() => writeSafetensors(tensors), pattern);
});

Deno.test("saveSafetensors writes atomically and loadSafetensors reads it back", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/w.safetensors`;
    await saveSafetensors(path, new Map([["x", { dtype: "F16" as const, shape: [2], data: [0.5, -2] }]]));
    await saveSafetensors(path, { y: { dtype: "I32", shape: [1], data: [3] } }); // overwrite
    const file = await loadSafetensors(path);
    assertEquals([...file.tensors.keys()], ["y"]);
    assertEquals([...file.tensors.get("y")!.data], [3]);
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["w.safetensors"]);
    await assertRejects(
      () => loadSafetensors(`${dir}/missing.safetensors`),
      /missing\.safetensors: cannot read/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

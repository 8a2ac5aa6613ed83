import {
  BUILTIN_GLOBALS,
  gatherStrided,
  NUMPY_GLOBALS,
  NumpyArray,
  opaqueGlobal,
  pickleAttributes,
  type PickleGlobals,
  PyObject,
  unpickle,
  unpickleAt,
} from "../../core/io/pickle.ts";
import { assert, assertEquals, assertThrows } from "../assert.ts";
import { bu, dtypeState, f64be, le, ndarrayReduce, p, su, utf8 } from "./pickle_bytes.ts";

const ALL: PickleGlobals = { ...BUILTIN_GLOBALS, ...NUMPY_GLOBALS };

Deno.test("protocol 0 text opcodes: dict, list, ints, longs, floats, quoted strings, memo, cycles", () => {
  const bytes = p(
    "(dp0\n",
    "Vkey\\u00e9\np1\n",
    "I42\n",
    "s",
    "S'a\\x41\\n\\'q'\np2\n",
    "I01\n",
    "s",
    "Vlist\np3\n",
    "(lp4\n",
    "L123456789012345678901234567890L\n",
    "aF-1.5e-3\n",
    "aI00\n",
    "ag4\n", // the list appended to itself
    "aNas",
    "Vf\n",
    "Finf\n",
    "s.",
  );
  const v = unpickle(bytes) as Map<string, unknown>;
  assertEquals(v.get("keyé"), 42);
  assertEquals(v.get("aA\n'q"), true);
  const list = v.get("list") as unknown[];
  assertEquals(list.slice(0, 3), [123456789012345678901234567890n, -1.5e-3, false]);
  assert(list[3] === list, "GET returns the memoized object itself");
  assertEquals(list[4], null);
  assertEquals(v.get("f"), Infinity);
});

Deno.test("protocol 2 binary opcodes: BININT*, LONG1, BINFLOAT, tuples, SHORT_BINSTRING, NEWTRUE", () => {
  const bytes = p(
    0x80,
    2,
    "]q",
    0,
    "(",
    "K",
    255,
    "M",
    le(65535, 2),
    "J",
    le(-2, 4), // 255, 65535, -2
    0x8a,
    2,
    0x00,
    0x80, // LONG1 -32768
    0x8a,
    0, // LONG1 0
    0x8a,
    9,
    le(0, 8),
    1, // LONG1 2^64
    "G",
    f64be(-0.1),
    "U",
    3,
    "a\xe9b", // py2 str as latin-1
    "N",
    0x88,
    0x89,
    0x85,
    0x86, // (False,), then (True, (False,))
    ")",
    "T",
    le(2, 4),
    "xy",
    0x87, // ((...), (), 'xy')
    "e.",
  );
  assertEquals(unpickle(bytes), [255, 65535, -2, -32768, 0, 2n ** 64n, -0.1, "aéb", null, [
    [true, [false]],
    [],
    "xy",
  ]]);
});

Deno.test("protocol 4 and 5: FRAME, MEMOIZE, STACK_GLOBAL, sets, bytes, BINUNICODE8, LONG4, buffers", () => {
  const body = p(
    "}",
    0x94,
    "(",
    su("naïve→"),
    0x94,
    "C",
    3,
    "\x00\x01\xff", // SHORT_BINBYTES
    su("big"),
    0x8e,
    le(2, 8),
    "hi", // BINBYTES8
    su("text"),
    0x8d,
    le(2, 8),
    "ok", // BINUNICODE8
    su("long4"),
    0x8b,
    le(1, 4),
    0xff, // LONG4 -1
    su("set"),
    0x8f,
    "(",
    "K",
    1,
    "K",
    2,
    0x90, // EMPTY_SET + ADDITEMS
    su("fs"),
    "(",
    "K",
    3,
    0x91, // FROZENSET
    su("od"),
    su("collections"),
    su("OrderedDict"),
    0x93,
    ")",
    "R",
    "]",
    "(",
    su("a"),
    "K",
    1,
    0x86,
    "e",
    "b", // BUILD on a dict: attributes
    su("ba"),
    0x96,
    le(2, 8),
    "\x05\x06", // BYTEARRAY8
    su("oob"),
    0x97,
    0x98, // NEXT_BUFFER + READONLY_BUFFER
    su("again"),
    "h",
    0, // BINGET 0 → the dict itself
    "u.",
  );
  const bytes = p(0x80, 4, 0x95, le(body.length, 8), body);
  const buffer = new Uint8Array([9, 8, 7]);
  const v = unpickle(bytes, { globals: ALL, buffers: [buffer] }) as Map<string, unknown>;
  assertEquals(v.get("naïve→"), new Uint8Array([0, 1, 255]));
  assertEquals(v.get("big"), utf8("hi"));
  assertEquals(v.get("text"), "ok");
  assertEquals(v.get("long4"), -1);
  assertEquals(v.get("set"), new Set([1, 2]));
  assertEquals(v.get("fs"), new Set([3]));
  const od = v.get("od") as Map<unknown, unknown>;
  assertEquals(od.size, 0);
  assertEquals(pickleAttributes(od), [["a", 1]]);
  assertEquals(v.get("ba"), new Uint8Array([5, 6]));
  assert(v.get("oob") === buffer);
  assert(v.get("again") === v);
});

Deno.test("unpickleAt reads pickles back to back and reports where each ended", () => {
  const bytes = p(0x80, 2, "K", 7, ".", 0x80, 2, "X", le(1, 4), "z", ".", "trailing");
  const first = unpickleAt(bytes);
  assertEquals(first, { value: 7, end: 5 });
  assertEquals(unpickleAt(bytes, { offset: first.end }), { value: "z", end: 14 });
});

Deno.test("persistent ids go to persistentLoad (PERSID and BINPERSID)", () => {
  const seen: unknown[] = [];
  const persistentLoad = (pid: unknown) => {
    seen.push(pid);
    return `loaded:${JSON.stringify(pid)}`;
  };
  const bytes = p(0x80, 2, "(", "Pabc\n", "(", bu("storage"), "K", 5, "t", "Q", "l.");
  assertEquals(unpickle(bytes, { persistentLoad }), ['loaded:"abc"', 'loaded:["storage",5]']);
  assertEquals(seen, ["abc", ["storage", 5]]);
});

Deno.test("NEWOBJ, NEWOBJ_EX, INST, OBJ and BUILD go through the allow-list", () => {
  const globals: PickleGlobals = { "argparse.Namespace": opaqueGlobal("argparse.Namespace") };
  const bytes = p(
    0x80,
    4,
    "(",
    su("argparse"),
    su("Namespace"),
    0x93,
    0x94,
    "K",
    1,
    0x85,
    0x81,
    "}",
    su("lr"),
    "G",
    f64be(0.5),
    "s",
    "b", // NEWOBJ + BUILD
    "h",
    0,
    ")",
    "}",
    su("k"),
    "K",
    2,
    "s",
    0x92, // NEWOBJ_EX
    "(",
    "K",
    3,
    "iargparse\nNamespace\n", // INST
    "(",
    "h",
    0,
    "K",
    4,
    "o", // OBJ
    "l.",
  );
  const [a, b, c, d] = unpickle(bytes, { globals }) as PyObject[];
  assert(a instanceof PyObject && a.className === "argparse.Namespace");
  assertEquals(a.args, [1]);
  assertEquals(a.state, new Map([["lr", 0.5]]));
  assertEquals([b.args, c.args, d.args], [[], [3], [4]]);
});

/** The numpy 1 reduce form of an array, as pickle protocol 2 writes it (data through _codecs.encode). */
function numpyProto2(
  module: string,
  dtype: string,
  order: string,
  shape: number[],
  fortran: boolean,
  raw: Uint8Array,
): Uint8Array {
  const latin1 = String.fromCharCode(...raw);
  const data = p("c", "_codecs\nencode\n", bu(latin1), bu("latin1"), 0x86, "R");
  return p(0x80, 2, ndarrayReduce({ module, dtype, order, shape, fortran, data }), ".");
}

Deno.test("numpy arrays: C and Fortran order, byte order, numpy 1 and 2 module names, scalars", () => {
  const c = unpickle(
    numpyProto2(
      "numpy.core.multiarray",
      "i2",
      "<",
      [2, 3],
      false,
      p(1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 0xff, 0xff),
    ),
    { globals: ALL },
  );
  assert(c instanceof NumpyArray);
  assertEquals([c.dtype, c.shape, [...c.data]], ["I16", [2, 3], [1, 2, 3, 4, 5, -1]]);
  // The same 2x3 matrix stored column-major: [[1,2,3],[4,5,6]] → memory 1 4 2 5 3 6.
  const fBytes = new Uint8Array(new Float32Array([1, 4, 2, 5, 3, 6]).buffer);
  const f = unpickle(numpyProto2("numpy._core.multiarray", "f4", "<", [2, 3], true, fBytes), {
    globals: ALL,
  }) as NumpyArray;
  assertEquals([f.dtype, f.shape, [...f.data]], ["F32", [2, 3], [1, 2, 3, 4, 5, 6]]);
  const be = unpickle(numpyProto2("numpy.core.multiarray", "f8", ">", [1], false, f64be(2.5)), {
    globals: ALL,
  }) as NumpyArray;
  assertEquals([be.dtype, [...be.data]], ["F64", [2.5]]);
  const b = unpickle(numpyProto2("numpy.core.multiarray", "b1", "|", [3], false, p(1, 0, 1)), {
    globals: ALL,
  }) as NumpyArray;
  assertEquals([b.dtype, [...b.data]], ["BOOL", [1, 0, 1]]);
  // numpy.core.multiarray.scalar(dtype('i8'), bytes) → a plain number.
  const scalar = p(
    0x80,
    2,
    "c",
    "numpy.core.multiarray\nscalar\n",
    "c",
    "numpy\ndtype\n",
    bu("i8"),
    0x89,
    0x88,
    0x87,
    "R",
    "C",
    8,
    le(-3, 8),
    0x86,
    "R",
    ".",
  );
  assertEquals(unpickle(scalar, { globals: ALL }), -3);
  const unsupported = numpyProto2("numpy.core.multiarray", "c8", "<", [1], false, new Uint8Array(8));
  assertThrows(() => unpickle(unsupported, { globals: ALL }), /numpy dtype c8 is not supported/);
  const short = numpyProto2("numpy.core.multiarray", "f4", "<", [2], false, new Uint8Array(7));
  assertThrows(() => unpickle(short, { globals: ALL }), /needs 8 bytes, has 7/);
});

Deno.test("numpy protocol 5 form: _frombuffer with a Fortran-ordered bytearray", () => {
  const raw = new Uint8Array(new Int32Array([1, 4, 2, 5, 3, 6]).buffer);
  const bytes = p(
    0x80,
    5,
    su("numpy.core.numeric"),
    su("_frombuffer"),
    0x93,
    "(",
    0x96,
    le(raw.length, 8),
    raw,
    su("numpy"),
    su("dtype"),
    0x93,
    su("i4"),
    0x89,
    0x88,
    0x87,
    "R",
    dtypeState(su("<")),
    "K",
    2,
    "K",
    3,
    0x86,
    su("F"),
    "t",
    "R",
    ".",
  );
  const a = unpickle(bytes, { globals: ALL }) as NumpyArray;
  assertEquals([a.dtype, a.shape, [...a.data]], ["I32", [2, 3], [1, 2, 3, 4, 5, 6]]);
});

Deno.test("a global outside the allow-list is refused, named, and never run", () => {
  // pickle.dumps of os.system("echo pwned") at protocol 0 and 4.
  const p0 = p("cos\nsystem\n(S'echo pwned'\ntR.");
  const e = assertThrows(
    () => unpickle(p0, { globals: ALL, source: "evil.pkl" }),
    /global os\.system is not in the allow-list/,
  );
  assert(e.message.includes("evil.pkl") && e.message.includes("opcode GLOBAL at byte offset 0"), e.message);
  const frame = p(su("builtins"), su("eval"), 0x93, su("1+1"), 0x85, "R", ".");
  const p4 = p(0x80, 4, 0x95, le(frame.length, 8), frame);
  assertThrows(
    () => unpickle(p4, { globals: ALL }),
    /global builtins\.eval .*STACK_GLOBAL at byte offset 27/,
  );
  // Python 2 module names are mapped as Python 3 does, and still checked.
  assertThrows(
    () => unpickle(p("c__builtin__\ngetattr\n.")),
    /global builtins\.getattr is not in the allow-list \(0 names\)/,
  );
  // An inherited property name is not an allow-list entry.
  assertThrows(
    () => unpickle(p("cObject\nconstructor\n."), { globals: ALL }),
    /Object\.constructor is not in the allow-list/,
  );
});

Deno.test("malformed pickles fail with the problem and the byte offset", () => {
  const cases: [Uint8Array, RegExp, PickleGlobals?][] = [
    [p(0x80, 2, "K", 1, 0xff, "."), /unknown opcode 0xff at byte offset 4/],
    [p(0x80, 2, "K", 1, "z", "."), /unknown opcode 0x7a \('z'\) at byte offset 4/],
    [
      p(0x80, 2, "X", le(10, 4), "abc"),
      /truncated: needs 10 more bytes at offset 7 but 3 remain \(opcode BINUNICODE at byte offset 2\)/,
    ],
    [p(0x80, 2, "K", 1), /truncated: ended at offset 4 without a STOP opcode/],
    [p(0x80, 2, "K"), /truncated: needs 1 more bytes/],
    [p("I12"), /truncated: no end of line/],
    [p(0x80, 4, 0x95, le(100, 8), "K", 1, "."), /truncated: a frame of 100 bytes but 3 remain/],
    [p(0x80, 6, "N", "."), /protocol 6 is not supported/],
    [p(0x80, 2, "."), /stack underflow \(opcode STOP at byte offset 2\)/],
    [p(0x80, 2, "t", "."), /no MARK to pop to/],
    [p(0x80, 2, "h", 3, "."), /memo key 3 was never stored \(opcode BINGET/],
    [p(0x80, 2, "(", "K", 1, "d", "."), /odd number of dict items/],
    [p(0x80, 2, "K", 1, "K", 2, "a", "."), /cannot append to number 1/],
    [p(0x80, 2, "K", 1, "K", 2, "K", 3, "s", "."), /cannot set items on number 1/],
    [p(0x80, 2, "K", 1, ")", "R", "."), /cannot call number 1/],
    [p(0x80, 2, "N", "K", 1, "b", "."), /cannot BUILD None/],
    [p(0x80, 2, "Pid\n", "."), /persistent id but no persistentLoad/],
    [p(0x80, 2, 0x82, 7, "."), /extension code 7/],
    [p("Iabc\n."), /invalid integer "abc"/],
    [p("Fx\n."), /invalid float "x"/],
    [p("Sabc\n."), /not a quoted string/],
    [p(0x80, 2, "c", "numpy\nndarray\n", ")", "R", "."), /numpy\.ndarray cannot be called/, ALL],
    [
      p(0x80, 2, "c", "_codecs\nencode\n", bu("x"), bu("rot13"), 0x86, "R", "."),
      /_codecs\.encode: codec rot13 is not supported .*\(opcode REDUCE at byte offset 35\)/,
      ALL,
    ],
    [p(0x80, 5, 0x97, "."), /needs an out-of-band buffer/],
  ];
  for (const [bytes, pattern, globals] of cases) {
    const e = assertThrows(() => unpickle(bytes, { globals }), pattern);
    assertEquals(e.name, "PickleError");
  }
});

Deno.test("gatherStrided copies strided views into C order and bounds-checks them", () => {
  const src = new Float32Array([0, 1, 2, 3, 4, 5, 6, 7]);
  assertEquals([...gatherStrided(src, [3, 2], [1, 3], 1)], [1, 4, 2, 5, 3, 6]); // transposed, offset 1
  assertEquals([...gatherStrided(src, [2, 2], [4, 1], 2)], [2, 3, 6, 7]); // rows of a wider matrix
  assertEquals([...gatherStrided(src, [3], [0], 5)], [5, 5, 5]); // broadcast (stride 0)
  assertEquals([...gatherStrided(src, [], [], 7)], [7]); // 0-d
  assertEquals(gatherStrided(src, [0, 5], [5, 1], 9).length, 0); // empty views need no storage
  const big = gatherStrided(new BigInt64Array([1n, 2n, 3n, 4n]), [2, 2], [1, 2], 0);
  assert(big instanceof BigInt64Array);
  assertEquals([...big], [1n, 3n, 2n, 4n]);
  assertThrows(() => gatherStrided(src, [2, 4], [4, 1], 1), /needs 9 elements; the storage has 8/);
  assertThrows(() => gatherStrided(src, [2], [1, 1], 0), /differ in length/);
});

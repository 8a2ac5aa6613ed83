import { join } from "node:path";
import { assert, assertEquals as eq, assertRejects, assertThrows } from "../assert.ts";
import { buildReferTables, prepareReferIds, prepareSplit } from "../../plugins/mevis/prepare/get_refer_id.ts";
import {
  dumpPythonJson,
  parsePythonJson,
  PyFloat,
  type PyObject,
  pythonFloatRepr,
} from "../../plugins/mevis/prepare/python_json.ts";

// Three videos in a deliberate file order: "10" is integer-like (JSON.parse would move it first) and
// its expression keys are out of numeric order. Referent keys: vb_1, vb_12, 10_0, 10_3, va_123 (twice:
// [1, 23] and [12, 3] collide), va_21, va_12, va_4.
const TRAIN_META = `{
  "videos": {
    "vb": {"frames": ["00001", "00000"], "expressions": {
      "0": {"exp": "the cat", "obj_id": [1], "anno_id": [5]},
      "1": {"exp": "two cats", "obj_id": [1, 2], "anno_id": [5, 6]},
      "2": {"exp": "the cat moving", "obj_id": [1], "anno_id": [5]}}},
    "10": {"frames": ["00000"], "expressions": {
      "2": {"exp": "a dog", "obj_id": [0]},
      "0": {"exp": "dog running", "obj_id": [0]},
      "1": {"exp": "a bird", "obj_id": [3]}}},
    "va": {"frames": [], "expressions": {
      "0": {"exp": "x", "obj_id": [1, 23]},
      "1": {"exp": "y", "obj_id": [12, 3]},
      "2": {"exp": "z", "obj_id": [2, 1]},
      "3": {"exp": "w", "obj_id": [1, 2]},
      "4": {"exp": "v", "obj_id": [4]}}}
  }
}`;

// idx: vb -> 0, 1, 2; "10" -> 3 (key "2"), 4 (key "0"), 5 (key "1"); va -> 6..10.
const IDX2REFER = [0, 1, 0, 2, 2, 3, 4, 4, 5, 6, 7];
const IDX2POSITIVE = [[0, 2], [1], [0, 2], [3, 4], [3, 4], [5], [6, 7], [6, 7], [8], [9], [10]];
// Negatives: the other expressions of the same video, minus the positives.
const IDX2NEGATIVE = [
  ...[[1], [0, 2], [1]], // vb
  ...[[5], [5], [3, 4]], // "10"
  ...[[8, 9, 10], [8, 9, 10], [6, 7, 9, 10], [6, 7, 8, 10], [6, 7, 8, 9]], // va
];

// One video; non-ASCII text, a float, an existing "idx" and an extra top-level key that is dropped.
const VALID_META = `{"extra": 1, "videos": {"v1": {"frames": ["00000"], "expressions": {
  "0": {"exp": "caf\\u00e9 \\"cup\\"", "obj_id": [2], "idx": 99, "score": 1.0},
  "1": {"exp": "tiny", "obj_id": [2], "score": 1e-05}}}}}`;

// What Python's json.dump(..., indent=4) writes for VALID_META's meta_expressions_idx.json.
const VALID_IDX_TEXT = [
  "{",
  '    "videos": {',
  '        "v1": {',
  '            "frames": [',
  '                "00000"',
  "            ],",
  '            "expressions": {',
  '                "0": {',
  '                    "exp": "caf\\u00e9 \\"cup\\"",',
  '                    "obj_id": [',
  "                        2",
  "                    ],",
  '                    "idx": 0,',
  '                    "score": 1.0',
  "                },",
  '                "1": {',
  '                    "exp": "tiny",',
  '                    "obj_id": [',
  "                        2",
  "                    ],",
  '                    "score": 1e-05,',
  '                    "idx": 1',
  "                }",
  "            }",
  "        }",
  "    }",
  "}",
].join("\n");

async function makeRoot(): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "dshmp_prepare_" });
  await Deno.mkdir(join(root, "train"));
  await Deno.mkdir(join(root, "valid_u"));
  await Deno.writeTextFile(join(root, "train", "meta_expressions.json"), TRAIN_META);
  await Deno.writeTextFile(join(root, "valid_u", "meta_expressions.json"), VALID_META);
  return root;
}

/** Parses an idx-keyed output file into [keys, values] in file order. */
function idxTable(text: string): [string[], unknown[]] {
  const v = parsePythonJson(text, "out") as PyObject;
  return [[...v.keys()], [...v.values()]];
}

Deno.test("prepare: train split tables match the hand-worked referents", async () => {
  const root = await makeRoot();
  try {
    const [s] = await prepareReferIds({ root, splits: ["train"] });
    eq([s.videos, s.expressions, s.referents], [3, 11, 8]);
    const dir = join(root, "train");
    const keys = IDX2REFER.map((_, i) => String(i));
    eq(idxTable(await Deno.readTextFile(join(dir, "idx2refer.json"))), [keys, IDX2REFER]);
    eq(idxTable(await Deno.readTextFile(join(dir, "idx2positive.json"))), [keys, IDX2POSITIVE]);
    eq(idxTable(await Deno.readTextFile(join(dir, "idx2negative.json"))), [keys, IDX2NEGATIVE]);
    // Exact bytes: string keys, 4-space indent, no trailing newline.
    const referText = await Deno.readTextFile(join(dir, "idx2refer.json"));
    eq(referText, `{\n${IDX2REFER.map((r, i) => `    "${i}": ${r}`).join(",\n")}\n}`);
    const positiveText = await Deno.readTextFile(join(dir, "idx2positive.json"));
    assert(
      positiveText.startsWith('{\n    "0": [\n        0,\n        2\n    ],\n    "1": [\n        1\n    ],'),
    );

    const meta = parsePythonJson(
      await Deno.readTextFile(join(dir, "meta_expressions_idx.json")),
      "m",
    ) as PyObject;
    eq([...meta.keys()], ["videos"]);
    const videos = meta.get("videos") as PyObject;
    eq([...videos.keys()], ["vb", "10", "va"]);
    const dog = (videos.get("10") as PyObject).get("expressions") as PyObject;
    eq([...dog.keys()], ["2", "0", "1"]);
    eq([...dog.values()].map((e) => (e as PyObject).get("idx")), [3, 4, 5]);
    const cat0 = ((videos.get("vb") as PyObject).get("expressions") as PyObject).get("0") as PyObject;
    eq([...cat0.keys()], ["exp", "obj_id", "anno_id", "idx"]);
    // No temporary files are left behind.
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    eq(names, [
      "idx2negative.json",
      "idx2positive.json",
      "idx2refer.json",
      "meta_expressions.json",
      "meta_expressions_idx.json",
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("prepare: meta_expressions_idx.json is written byte for byte like Python's json.dump", async () => {
  const root = await makeRoot();
  try {
    const s = await prepareSplit(root, "valid_u");
    eq([s.videos, s.expressions, s.referents], [1, 2, 1]);
    eq(await Deno.readTextFile(join(root, "valid_u", "meta_expressions_idx.json")), VALID_IDX_TEXT);
    eq(
      await Deno.readTextFile(join(root, "valid_u", "idx2negative.json")),
      '{\n    "0": [],\n    "1": []\n}',
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("prepare: separateObjIds keeps [1, 23] and [12, 3] apart", () => {
  const videos = (parsePythonJson(TRAIN_META, "t") as PyObject).get("videos") as PyObject;
  const t = buildReferTables(videos, "t", { separateObjIds: true });
  eq(t.idx2refer, [0, 1, 0, 2, 2, 3, 4, 5, 6, 7, 8]);
  eq(t.idx2positive[6], [6]);
  eq(t.idx2negative[6], [7, 8, 9, 10]);
});

Deno.test("prepare: bad input names the file, video, expression and key", async () => {
  const root = await makeRoot();
  try {
    const file = join(root, "train", "meta_expressions.json");
    await assertRejects(() => prepareSplit(root, "nope"), join(root, "nope", "meta_expressions.json"));
    await Deno.writeTextFile(file, '{"video": {}}');
    await assertRejects(() => prepareSplit(root, "train"), `${file}: missing key "videos"`);
    await Deno.writeTextFile(file, '{"videos": {"v7": {"frames": [], "expressions": {"3": {"exp": "a"}}}}}');
    await assertRejects(
      () => prepareSplit(root, "train"),
      `${file}: video "v7", expression "3": missing key "obj_id"`,
    );
    await Deno.writeTextFile(file, '{"videos": {"v7": {"expressions": {}}}}');
    await assertRejects(() => prepareSplit(root, "train"), `video "v7": missing key "frames"`);
    await Deno.writeTextFile(file, '{"videos": {"v7": {"frames": [], "expressions": {"0": {"obj_id": 4}}}}}');
    await assertRejects(() => prepareSplit(root, "train"), `"obj_id" must be a list`);
    await Deno.writeTextFile(file, '{"videos": {\n "v7": [1,]}}');
    await assertRejects(() => prepareSplit(root, "train"), `${file}: invalid JSON, unexpected "]" at line 2`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("prepare: the task runs as a subprocess, prints per split, and fails clearly", async () => {
  const root = await makeRoot();
  const task = new URL("../../tasks/prepare.ts", import.meta.url).pathname;
  const run = async (...args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), { args: ["run", "-A", task, ...args] }).output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  };
  try {
    const ok = await run("--root", root);
    eq(ok.code, 0, ok.stderr);
    const lines = ok.stdout.trim().split("\n");
    eq(lines.length, 2);
    assert(lines[0].startsWith("train: 3 videos, 11 expressions, 8 referents"), lines[0]);
    assert(lines[1].startsWith("valid_u: 1 videos, 2 expressions, 1 referents"), lines[1]);
    eq(
      idxTable(await Deno.readTextFile(join(root, "train", "idx2refer.json")))[1],
      IDX2REFER,
    );
    const bad = await run("--root", root, "--splits", "train,missing");
    eq(bad.code, 1);
    assert(bad.stderr.includes(join(root, "missing", "meta_expressions.json")), bad.stderr);
    const help = await run("--help");
    eq(help.code, 0);
    assert(help.stdout.includes("--splits"), help.stdout);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("python json: float repr, ASCII escapes, nesting and key order follow Python", () => {
  const reprs = [1, 1e-5, 1e16, 1e15, 0.0001, 123.456, -0, 1.5e-7, 2.5e20, 0.1 + 0.2, 12345678901234567];
  eq(reprs.map(pythonFloatRepr), [
    "1.0",
    "1e-05",
    "1e+16",
    "1000000000000000.0",
    "0.0001",
    "123.456",
    "-0.0",
    "1.5e-07",
    "2.5e+20",
    "0.30000000000000004",
    "1.2345678901234568e+16",
  ]);
  eq(
    dumpPythonJson(new Map([["a", 'caf\u00e9 \x7f \x01 \u{1F600} "q" \\']])),
    '{\n    "a": "caf\\u00e9 \\u007f \\u0001 \\ud83d\\ude00 \\"q\\" \\\\"\n}',
  );
  eq(
    dumpPythonJson(
      new Map<string, never>([["e", []], ["o", new Map()], ["n", [1, [2, new Map()]]]] as never),
    ),
    '{\n    "e": [],\n    "o": {},\n    "n": [\n        1,\n        [\n            2,\n            {}\n        ]\n    ]\n}',
  );
  const v = parsePythonJson('{"b": 1, "10": 2.50, "a": 1, "b": 3, "big": 9007199254740993}', "x") as PyObject;
  eq([...v.keys()], ["b", "10", "a", "big"]);
  eq(v.get("b"), 3);
  eq(v.get("10"), new PyFloat(2.5));
  eq(v.get("big"), 9007199254740993n);
  assertThrows(
    () => parsePythonJson('{"a": 1} x', "f.json"),
    "f.json: invalid JSON, extra data at line 1 column 10",
  );
  assertThrows(() => dumpPythonJson(0.5), "not an integer");
});

/**
 * `deno task eval` as a subprocess: without a registered model it stops with a message naming it; with
 * a plugin registering a ground-truth model it runs the original's command lines (`--eval-only` on
 * `DATASETS.TEST`, `--dataset mevis_val`, with its error sheets), and `--num-gpus 2` gives the same
 * results as one process.
 */
import { assert, assertEquals } from "../assert.ts";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { unzipSync } from "fflate";
import { CLEAN, writeFakeSplit } from "./_fake_split.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const EVAL = join(REPO, "tasks", "eval.ts");

async function evalTask(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", join(REPO, "deno.json"), EVAL, ...args],
    cwd: REPO,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A plugin registering "DsHmp" as a model that predicts the fake split's boxes exactly. */
async function writeTruthPlugin(dir: string): Promise<string> {
  const boxes: Record<string, unknown[]> = {};
  for (const [video, v] of Object.entries(CLEAN)) {
    for (const [expId, e] of Object.entries(v.expressions)) {
      boxes[`${video}/${expId}`] = Array.from(
        { length: v.frames },
        (_, f) => e.anno_id.map((a) => v.objects[String(a)][f]).filter(Boolean),
      );
    }
  }
  const path = join(dir, "truth_plugin.ts");
  await Deno.writeTextFile(
    path,
    `import { definePlugin } from ${JSON.stringify(new URL("../../core/plugin.ts", import.meta.url).href)};
const BOXES = ${JSON.stringify(boxes)};
export default definePlugin({
  name: "truth-model",
  register(r) {
    r.models.register("DsHmp", () => ({
      predict(s: { video_name: string; exp_id: string; frame_idx: number[]; height: number; width: number }) {
        const masks = s.frame_idx.map((f) => {
          const m = new Uint8Array(s.height * s.width);
          for (const [y0, x0, y1, x1] of BOXES[s.video_name + "/" + s.exp_id][f]) {
            for (let y = y0; y < y1; y++) m.fill(1, y * s.width + x0, y * s.width + x1);
          }
          return m;
        });
        return Promise.resolve({ masks, height: s.height, width: s.width });
      },
    }), { override: true });
  },
});
`,
  );
  return path;
}

Deno.test("eval task: without a registered model it stops, naming the model", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    await writeFakeSplit(tmp, "valid_u", CLEAN);
    const res = await evalTask([
      "--dataset",
      "mevis_val",
      "DATASETS.ROOT",
      tmp,
      "OUTPUT_DIR",
      join(tmp, "out"),
    ]);
    assertEquals(res.code, 1, res.stderr);
    assert(res.stderr.includes('eval: no model "GeneralizedRCNN" is registered'), res.stderr);
    assert(res.stderr.includes("MODEL.META_ARCHITECTURE"), res.stderr);
    assert(!res.stderr.includes("    at "), `no stack trace expected:\n${res.stderr}`);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("eval task: the original's command lines, and --num-gpus 2 equal to one process", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    await writeFakeSplit(tmp, "valid_u", CLEAN);
    const testDir = await writeFakeSplit(tmp, "valid", CLEAN);
    await Deno.remove(join(testDir, "mask_dict.json"));
    const plugin = await writeTruthPlugin(tmp);
    const common = ["--config-file", "configs/dshmp_swin_tiny.yaml", "--eval-only", "--plugin", plugin];
    const overrides = ["MODEL.WEIGHTS", "w.pth", "DATASETS.ROOT", tmp, "INPUT.MIN_SIZE_TEST", "16"];

    // DATASETS.TEST of the paper config is mevis_test: the submission zip.
    const out = join(tmp, "out");
    const test = await evalTask([...common, ...overrides, "OUTPUT_DIR", out]);
    assertEquals(test.code, 0, test.stderr);
    const zip = unzipSync(await Deno.readFile(join(out, "submission_mevis_test.zip")));
    assertEquals(Object.keys(zip).length, 2 * 6 + 4 + 2);
    assert(Object.keys(zip).every((k) => /^(vidA|vidB|short)\/\d\/\d{5}\.png$/.test(k)));

    // Another split's predictions are not mixed into the same folder.
    const mixed = await evalTask([...common, "--dataset", "mevis_val", ...overrides, "OUTPUT_DIR", out]);
    assertEquals(mixed.code, 1);
    assert(mixed.stderr.includes('made with dataset "mevis_test"'), mixed.stderr);

    const one = join(tmp, "one");
    const val = await evalTask([...common, "--dataset", "mevis_val", ...overrides, "OUTPUT_DIR", one]);
    assertEquals(val.code, 0, val.stderr);
    assert(val.stdout.includes("mevis_val: J 1.0000  F 1.0000  J&F 1.0000  (5 expressions)"), val.stdout);
    const results = await Deno.readTextFile(join(one, "inference", "results.json"));
    assertEquals(JSON.parse(results).JF, 1);
    // Error sheets of the first 4 videos by default (the split has 3).
    const sheets = [...Deno.readDirSync(join(one, "error_sheets", "mevis_val"))].map((e) => e.name).sort();
    assertEquals(sheets, ["short.png", "vidA.png", "vidB.png"]);
    assert(val.stdout.includes("error sheets of 3 videos"), val.stdout);

    const par = join(tmp, "par");
    const two = await evalTask([
      ...common,
      "--dataset",
      "mevis_val",
      "--num-gpus",
      "2",
      ...overrides,
      "OUTPUT_DIR",
      par,
    ]);
    assertEquals(two.code, 0, two.stderr);
    assert(two.stdout.includes("2 worker processes"), two.stdout);
    assertEquals(await Deno.readTextFile(join(par, "inference", "results.json")), results);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

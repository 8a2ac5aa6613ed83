/**
 * The MeViS scorer against the official numbers in DSHMP_EVAL_FIXTURES (default
 * ../shared/fixtures/mevis_eval beside the repository): every expression, every frame's counts, the
 * means; the worker-thread path; the error and edge cases; and `deno task score` as a subprocess.
 * @module
 */
import { fileURLToPath } from "node:url";
import { rleEncode } from "../../core/data/rle.ts";
import { encodeMaskPng } from "../../core/io/png.ts";
import { type MevisMeta, scoreSplit } from "../../plugins/mevis/eval/mod.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";

const FIXTURES = Deno.env.get("DSHMP_EVAL_FIXTURES") ??
  fileURLToPath(new URL("../../../shared/fixtures/mevis_eval", import.meta.url));
const PRED = `${FIXTURES}/pred`;
const REPO = fileURLToPath(new URL("../../", import.meta.url));

interface Expected {
  J: number;
  F: number;
  "J&F": number;
  num_frames_evaluated: number;
  num_pixels_evaluated: number;
  per_expression: Record<string, [number, number]>;
}

interface ExpectedFrame {
  frame: string;
  J: number;
  F: number;
  inter: number;
  union: number;
  gt_max_value: number;
  gt_pixels: number;
  pred_pixels: number;
  n_pred_boundary: number;
  n_gt_boundary: number;
  pred_boundary_matched: number;
  gt_boundary_matched: number;
}

const expected: Expected = JSON.parse(Deno.readTextFileSync(`${FIXTURES}/expected.json`));

function assertNear(actual: number, wanted: number, tol: number, what: string): void {
  assert(Math.abs(actual - wanted) <= tol, `${what}: ${actual} vs official ${wanted} (tolerance ${tol})`);
}

Deno.test("score: every expression and frame equals the official evaluation", async () => {
  const warnings: string[] = [];
  const res = await scoreSplit({
    splitDir: FIXTURES,
    predDir: PRED,
    perFrame: true,
    warn: (m) => warnings.push(m),
  });
  assertEquals(Object.keys(res.per_expression), Object.keys(expected.per_expression));
  for (const [key, [j, f]] of Object.entries(expected.per_expression)) {
    assertNear(res.per_expression[key][0], j, 1e-9, `J of ${key}`);
    assertNear(res.per_expression[key][1], f, 1e-9, `F of ${key}`);
  }
  assertNear(res.J, expected.J, 1e-12, "mean J");
  assertNear(res.F, expected.F, 1e-12, "mean F");
  assertNear(res.JF, expected["J&F"], 1e-12, "J&F");
  assertEquals(res.num_frames, expected.num_frames_evaluated);
  assertEquals(res.num_pixels, expected.num_pixels_evaluated);
  assertEquals(res.missing_videos, ["0568847bdbd2"]);
  assertEquals(warnings.length, 1);
  assert(warnings[0].includes("0568847bdbd2"), warnings[0]);

  const perFrame = JSON.parse(Deno.readTextFileSync(`${FIXTURES}/expected_per_frame.json`))
    .per_expression as Record<
      string,
      {
        pred_video_folder_missing?: boolean;
        height: number;
        width: number;
        bound_pix: number;
        frames: ExpectedFrame[];
      }
    >;
  let frames = 0;
  for (const s of res.expressions) {
    const e = perFrame[s.key];
    if (e.pred_video_folder_missing) {
      assertEquals([s.missing, s.j, s.f], [true, 0, 0], s.key);
      continue;
    }
    assertEquals([s.height, s.width], [e.height, e.width], s.key);
    assertEquals(s.perFrame!.length, e.frames.length, s.key);
    for (const [t, ef] of e.frames.entries()) {
      const af = s.perFrame![t];
      const at = `${s.key} frame ${ef.frame}`;
      assertEquals(af.frame, ef.frame, at);
      assertEquals(
        [af.boundPix, af.inter, af.union, af.gtMax, af.gtPixels, af.predPixels],
        [e.bound_pix, ef.inter, ef.union, ef.gt_max_value, ef.gt_pixels, ef.pred_pixels],
        at,
      );
      assertEquals(
        [af.nPredBoundary, af.nGtBoundary, af.predMatched, af.gtMatched],
        [ef.n_pred_boundary, ef.n_gt_boundary, ef.pred_boundary_matched, ef.gt_boundary_matched],
        at,
      );
      assertNear(af.j, ef.J, 1e-12, `J of ${at}`);
      assertNear(af.f, ef.F, 1e-12, `F of ${at}`);
      frames++;
    }
  }
  assertEquals(frames, expected.num_frames_evaluated);
});

Deno.test("score: two threads give the same results as one; speed", async () => {
  const runs: Record<number, { ms: number; res: Awaited<ReturnType<typeof scoreSplit>> }> = {};
  for (const workers of [1, 2, 1, 2]) {
    const t = performance.now();
    let ticked = 0;
    const res = await scoreSplit({
      splitDir: FIXTURES,
      predDir: PRED,
      workers,
      warn: () => {},
      onFrames: (n) => ticked += n,
    });
    const ms = performance.now() - t;
    // Progress covers every frame of every expression, skipped (missing) videos included.
    assertEquals(ticked, expected.num_frames_evaluated + 10);
    if (!runs[workers] || ms < runs[workers].ms) runs[workers] = { ms, res };
  }
  for (const key of ["J", "F", "JF", "per_expression", "missing_videos"] as const) {
    assertEquals(runs[2].res[key], runs[1].res[key], key);
  }
  for (const [w, { ms }] of Object.entries(runs)) {
    console.log(
      `score fixture, ${w} thread(s): ${ms.toFixed(0)} ms, ${
        (expected.num_frames_evaluated / ms * 1000).toFixed(0)
      } frames/s, ` +
        `${(expected.num_pixels_evaluated / ms / 1000).toFixed(0)} MP/s`,
    );
  }
});

/** A split folder written from scratch: one video, masks given row-major. */
async function writeSplit(
  dir: string,
  video: {
    h: number;
    w: number;
    objects: Uint8Array[][];
    expressions: Record<string, number[]>;
    preds: Record<string, Uint8Array[]>;
  },
): Promise<void> {
  const frames = video.objects[0].map((_, t) => String(t).padStart(5, "0"));
  const meta: MevisMeta = { videos: { vid: { frames, expressions: {} } } };
  for (const [id, annos] of Object.entries(video.expressions)) {
    meta.videos.vid.expressions[id] = { exp: "x", anno_id: annos };
  }
  const masks: Record<string, unknown> = {};
  video.objects.forEach((perFrame, id) => {
    masks[String(id)] = perFrame.map((m) => m.some((v) => v !== 0) ? rleEncode(m, video.h, video.w) : null);
  });
  await Deno.writeTextFile(`${dir}/meta_expressions.json`, JSON.stringify(meta));
  await Deno.writeTextFile(`${dir}/mask_dict.json`, JSON.stringify(masks));
  for (const [id, list] of Object.entries(video.preds)) {
    await Deno.mkdir(`${dir}/pred/vid/${id}`, { recursive: true });
    for (const [t, m] of list.entries()) {
      await Deno.writeFile(`${dir}/pred/vid/${id}/${frames[t]}.png`, encodeMaskPng(m, video.w, video.h));
    }
  }
}

Deno.test("score: ground truth sums objects, nulls are skipped, bad predictions are named", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dshmp_score_" });
  try {
    const [h, w] = [20, 30];
    const rect = (y0: number, y1: number, x0: number, x1: number) => {
      const m = new Uint8Array(h * w);
      for (let y = y0; y < y1; y++) m.fill(1, y * w + x0, y * w + x1);
      return m;
    };
    const a = rect(2, 10, 2, 12), b = rect(5, 15, 8, 20), none = new Uint8Array(h * w);
    const union = a.map((v, i) => v | b[i]);
    await writeSplit(dir, {
      h,
      w,
      // Object 1 is absent (null) in frame 1.
      objects: [[a, a], [b, none]],
      expressions: { "0": [0, 1], "1": [1] },
      preds: { "0": [union, a], "1": [b, b] },
    });
    const res = await scoreSplit({ splitDir: dir, predDir: `${dir}/pred`, perFrame: true });
    // Expression 0: the prediction is the union of both objects in frame 0 and object 0 alone in frame 1.
    assertEquals(res.per_expression["vid_0"], [1, 1]);
    assertEquals(res.expressions[0].perFrame![0].gtMax, 2); // the overlap sums to 2
    // Expression 1: perfect in frame 0; in frame 1 the ground truth is empty and the prediction is not.
    assertEquals(res.per_expression["vid_1"], [0.5, 0.5]);

    await Deno.remove(`${dir}/pred/vid/1/00001.png`);
    await assertRejects(
      () => scoreSplit({ splitDir: dir, predDir: `${dir}/pred` }),
      /pred\/vid\/1\/00001\.png is missing \(video vid, expression 1, frame 00001\)/,
    );
    await assertRejects(
      () => scoreSplit({ splitDir: dir, predDir: `${dir}/pred`, workers: 2 }),
      /pred\/vid\/1\/00001\.png is missing/,
    );
    await Deno.writeFile(`${dir}/pred/vid/1/00001.png`, encodeMaskPng(new Uint8Array(4), 2, 2));
    await assertRejects(
      () => scoreSplit({ splitDir: dir, predDir: `${dir}/pred` }),
      /00001\.png is 2x2 but 00000\.png is 30x20/,
    );
    await Deno.writeFile(`${dir}/pred/vid/1/00001.png`, new TextEncoder().encode("not a png"));
    await assertRejects(
      () => scoreSplit({ splitDir: dir, predDir: `${dir}/pred` }),
      /vid\/1\/00001\.png: not a PNG/,
    );
    await assertRejects(
      () => scoreSplit({ splitDir: `${dir}/nowhere`, predDir: dir }),
      /cannot read .*meta_expressions\.json/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("score: `deno task score` writes the results JSON", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dshmp_score_cli_" });
  try {
    const out = `${dir}/sub/results.json`;
    const cmd = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${REPO}tasks/score.ts`,
        "--split-dir",
        FIXTURES,
        "--pred-dir",
        PRED,
        "--out",
        out,
        "--workers",
        "2",
      ],
      stdout: "piped",
      stderr: "piped",
    });
    const { code, stdout, stderr } = await cmd.output();
    const text = new TextDecoder().decode(stdout);
    assertEquals(code, 0, new TextDecoder().decode(stderr));
    assert(text.includes(`J&F: ${expected["J&F"]}`), text);
    assert(new TextDecoder().decode(stderr).includes("0568847bdbd2 not found"));
    const json = JSON.parse(await Deno.readTextFile(out));
    assertEquals(Object.keys(json), ["J", "F", "JF", "per_expression", "missing_videos"]);
    assertNear(json.JF, expected["J&F"], 1e-12, "J&F");
    assertEquals(Object.keys(json.per_expression), Object.keys(expected.per_expression));
    // No temp file is left beside the output.
    assertEquals([...Deno.readDirSync(`${dir}/sub`)].map((e) => e.name), ["results.json"]);

    const bad = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${REPO}tasks/score.ts`, "--split-dir", FIXTURES],
      stdout: "null",
      stderr: "piped",
    }).output();
    assertEquals(bad.code, 2);
    assert(new TextDecoder().decode(bad.stderr).includes("--pred-dir is required"));
    const noFrames = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${REPO}tasks/score.ts`,
        "--meta",
        `${FIXTURES}/meta_expressions.json`,
        "--masks",
        `${FIXTURES}/mask_dict.json`,
        "--pred-dir",
        PRED,
        "--error-sheets",
        dir,
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    assertEquals(noFrames.code, 2);
    assert(new TextDecoder().decode(noFrames.stderr).includes("give --split-dir"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

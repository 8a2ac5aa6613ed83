/**
 * The synthetic MeViS data set: determinism, readability by the MeViS loader, targets that fit their
 * expressions (checked here from the rendered positions, independently of the generator's classifier),
 * unique texts, masks equal to the visible object pixels, and the first-run cache.
 */
import { join, relative } from "node:path";
import { assert, assertEquals, assertRejects, assertThrows } from "../assert.ts";
import { rleDecode } from "../../core/data/rle.ts";
import { readImageSize } from "../../core/io/image.ts";
import { loadMevisSplit } from "../../plugins/mevis/data/mevis_dataset.ts";
import { BadDataReport } from "../../plugins/mevis/data/bad_data.ts";
import {
  COLOURS,
  ensureSynthData,
  followGap,
  type MotionLabel,
  parseFrameRange,
  parseSize,
  parseVideoCounts,
  type Point,
  readSynthManifest,
  renderVideoFrame,
  resolveSynthOptions,
  spriteMask,
  type SynthOptions,
  synthVideo,
  writeSynthDataset,
} from "../../plugins/mevis/synth/mod.ts";

const TINY: Partial<SynthOptions> = {
  seed: 3,
  videos: { train: 8, valid_u: 3, valid: 2 },
  height: 40,
  width: 56,
  minFrames: 6,
  maxFrames: 10,
};

async function listFiles(dir: string, base = dir, out: string[] = []): Promise<string[]> {
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    if (e.isDirectory) await listFiles(path, base, out);
    else out.push(relative(base, path));
  }
  return out.sort();
}

let shared: Promise<string> | undefined;
/** One tiny data set for the read-only tests. */
function tinyRoot(): Promise<string> {
  shared ??= (async () => {
    const root = await Deno.makeTempDir({ prefix: "synth_test_" });
    await writeSynthDataset(root, TINY);
    return root;
  })();
  return shared;
}

// ---- independent motion checks, from positions only ----

type Vec = [number, number];
const sub = (a: Point, b: Point): Vec => [a[0] - b[0], a[1] - b[1]];
const len = (v: Vec) => Math.hypot(v[0], v[1]);
const cos = (a: Vec, b: Vec) => (a[0] * b[0] + a[1] * b[1]) / (len(a) * len(b));
const AXIS: Record<string, Vec> = { left: [-1, 0], right: [1, 0], up: [0, -1], down: [0, 1] };

/** Whether a step points mostly along `dir` (the main axis at least twice the side drift). */
function along(v: Vec, dir: string): boolean {
  const a = AXIS[dir];
  const main = v[0] * a[0] + v[1] * a[1];
  const side = Math.abs(v[0] * a[1] - v[1] * a[0]);
  return main > 0 && main >= 2 * side;
}

/** Whether the path shows the motion `label`, recomputed from displacements, speeds and directions. */
function pathFits(path: Point[], label: MotionLabel): boolean {
  const steps = path.slice(1).map((p, t) => sub(p, path[t]));
  const speed = steps.map(len);
  const rest = speed.map((s) => s < 1e-9);
  const go = speed.map((s) => s > 0.1);
  const dir = label.dir ?? "";
  const allGo = go.every(Boolean);
  const straight = (vs: Vec[], d: string) => vs.every((v) => along(v, d) && cos(v, vs[0]) > 0.995);
  const steady = (ss: number[]) => Math.max(...ss) <= 1.05 * Math.min(...ss);
  switch (label.kind) {
    case "still":
      return rest.every(Boolean);
    case "move":
      return allGo && straight(steps, dir) && steady(speed);
    case "speed_up": {
      const n = Math.max(1, Math.floor(speed.length / 3));
      const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      return allGo && straight(steps, dir) && avg(speed.slice(-n)) >= 2 * avg(speed.slice(0, n));
    }
    case "move_stop": {
      const k = rest.indexOf(true);
      return k >= 1 && rest.slice(k).every(Boolean) && speed.length - k >= 2 &&
        go.slice(0, k).every(Boolean) && straight(steps.slice(0, k), dir);
    }
    case "still_move": {
      const k = go.indexOf(true);
      return k >= 2 && rest.slice(0, k).every(Boolean) && go.slice(k).every(Boolean) &&
        straight(steps.slice(k), dir);
    }
    case "turn_around": {
      const k = steps.findIndex((v) => cos(v, steps[0]) < -0.99);
      return allGo && k >= 1 && straight(steps.slice(0, k), dir) &&
        steps.slice(k).every((v) => cos(v, steps[0]) < -0.99);
    }
    case "circle": {
      // Equidistant from the circle through three points of the path, sweeping at least one full turn.
      // The circle through the three points spanning the largest triangle (the best conditioned).
      let [a, b, c] = [path[0], path[1], path[2]];
      let best = 0;
      for (const p of path) {
        for (const q of path) {
          for (const r of path) {
            const area = Math.abs((q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0]));
            if (area > best) [best, a, b, c] = [area, p, q, r];
          }
        }
      }
      const d = 2 * (a[0] * (b[1] - c[1]) + b[0] * (c[1] - a[1]) + c[0] * (a[1] - b[1]));
      if (Math.abs(d) < 1e-9) return false;
      const sq = (p: Point) => p[0] * p[0] + p[1] * p[1];
      const cx = (sq(a) * (b[1] - c[1]) + sq(b) * (c[1] - a[1]) + sq(c) * (a[1] - b[1])) / d;
      const cy = (sq(a) * (c[0] - b[0]) + sq(b) * (a[0] - c[0]) + sq(c) * (b[0] - a[0])) / d;
      const r = Math.hypot(a[0] - cx, a[1] - cy);
      if (!path.every((p) => Math.abs(Math.hypot(p[0] - cx, p[1] - cy) - r) < 0.02)) return false;
      let swept = 0;
      for (let t = 1; t < path.length; t++) {
        let da = Math.atan2(path[t][1] - cy, path[t][0] - cx) -
          Math.atan2(path[t - 1][1] - cy, path[t - 1][0] - cx);
        da = ((da + 3 * Math.PI) % (2 * Math.PI)) - Math.PI;
        swept += da;
      }
      return Math.abs(swept) >= 2 * Math.PI * 0.99;
    }
  }
}

/** Whether `path` trails `leader` at a constant offset behind it. */
function pathFollows(path: Point[], leader: Point[], maxGap: number): boolean {
  const off = sub(path[0], leader[0]);
  const travel = sub(leader[leader.length - 1], leader[0]);
  return path.every((p, t) => len(sub(sub(p, leader[t]), off)) < 0.005) && len(off) > 0 &&
    len(off) <= maxGap &&
    len(travel) > 1 && cos(off, travel) < -0.9;
}

// ---- tests ----

Deno.test("synth: the same seed gives the same bytes in every file; another seed differs", async () => {
  const a = await Deno.makeTempDir({ prefix: "synth_det_" });
  const b = await Deno.makeTempDir({ prefix: "synth_det_" });
  const c = await Deno.makeTempDir({ prefix: "synth_det_" });
  try {
    await writeSynthDataset(a, TINY);
    await writeSynthDataset(b, TINY);
    await writeSynthDataset(c, { ...TINY, seed: 4 });
    const files = await listFiles(a);
    assertEquals(await listFiles(b), files);
    assert(files.filter((f) => f.endsWith(".jpg")).length > 50);
    for (const f of files) {
      assertEquals(await Deno.readFile(join(b, f)), await Deno.readFile(join(a, f)), `${f} differs`);
    }
    const meta = (r: string) => Deno.readTextFile(join(r, "mevis/train/meta_expressions.json"));
    assert(await meta(a) !== await meta(c));
  } finally {
    for (const d of [a, b, c]) await Deno.remove(d, { recursive: true });
  }
});

Deno.test("synth: every split reads with the MeViS loader, with the expected counts", async () => {
  const root = await tinyRoot();
  const manifest = (await readSynthManifest(join(root, "mevis")))!;
  for (
    const [name, split] of [["mevis_train", "train"], ["mevis_val", "valid_u"], [
      "mevis_test",
      "valid",
    ]] as const
  ) {
    const report = new BadDataReport({ strict: true });
    const loaded = await loadMevisSplit(name, root, { report, checkFrames: true });
    const counts = manifest.splits[split];
    assertEquals(loaded.stats.videos, counts.videos);
    assertEquals(loaded.records.length, counts.expressions);
    assertEquals(loaded.stats.skippedExpressions, 0);
    for (const size of loaded.frameSizes.values()) assertEquals(size, [40, 56]);
    const frames = new Set(loaded.records.map((r) => r.video_name + r.length));
    assertEquals([...frames].reduce((n, k) => n + Number(k.slice(12)), 0), counts.frames);
    if (split === "train") {
      assert(loaded.records.every((r) => r.refer_id >= 0 && r.annotations.length === r.length));
      assert(loaded.stats.instancesWithSegmentation > 0);
    }
    const types = JSON.parse(await Deno.readTextFile(join(root, "mevis", split, "expression_types.json")));
    for (const r of loaded.records) {
      assert(
        ["motion", "appearance_motion", "multi_object", "static"].includes(types[r.video_name][r.exp_id]),
      );
    }
  }
  const first = join(root, "mevis/train/JPEGImages");
  for await (const v of Deno.readDir(first)) {
    assertEquals(await readImageSize(join(first, v.name, "00000.jpg")), { height: 40, width: 56 });
    break;
  }
  // The benchmark split hides its ground truth, as MeViS's does.
  const valid = JSON.parse(await Deno.readTextFile(join(root, "mevis/valid/meta_expressions.json")));
  for (const v of Object.values(valid.videos) as { expressions: Record<string, object> }[]) {
    for (const e of Object.values(v.expressions)) assertEquals(Object.keys(e), ["exp"]);
  }
  await assertRejects(() => Deno.stat(join(root, "mevis/valid/mask_dict.json")));
});

Deno.test("synth: each expression's targets are exactly the objects whose look and path fit it", async () => {
  const root = await tinyRoot();
  const options = resolveSynthOptions(TINY);
  let checked = 0;
  const kinds = new Set<string>();
  for (const split of ["train", "valid_u"] as const) {
    const dir = join(root, "mevis", split);
    const meta = JSON.parse(await Deno.readTextFile(join(dir, "meta_expressions.json"))).videos;
    const objects = JSON.parse(await Deno.readTextFile(join(dir, "synth_objects.json")));
    for (let i = 0; i < options.videos[split]; i++) {
      const video = synthVideo(options, split, i);
      const written = objects[video.name];
      // The written paths are the ones rendered; the checks below use only them.
      const paths: Point[][] = video.objects.map((o) => written[String(o.id)].path);
      video.objects.forEach((o, k) => assertEquals(paths[k], o.path));
      const gap = followGap(video.height, video.width);
      video.expressions.forEach((e, j) => {
        const onFile = meta[video.name].expressions[String(j)];
        assertEquals(onFile.exp, e.text);
        assertEquals(onFile.obj_id, e.targets);
        const q = e.query;
        const fit = video.objects.filter((_, k) =>
          (q.shape === undefined || written[k].shape === q.shape) &&
          (q.colour === undefined || written[k].colour === q.colour) &&
          (q.texture === undefined || written[k].texture === q.texture) &&
          (q.motion === undefined || pathFits(paths[k], q.motion)) &&
          (q.follows === undefined || (k !== q.follows && pathFollows(paths[k], paths[q.follows], gap)))
        ).map((o) => o.id);
        assertEquals(fit, e.targets, `${split}/${video.name} "${e.text}"`);
        // The sentence names its motion: no motion-free text for a motion query.
        if (q.motion) {
          kinds.add(q.motion.kind);
          if (q.motion.dir) assert(e.text.includes(q.motion.dir.slice(0, 2)), e.text);
        }
        if (e.targets.length > 1) assertEquals(e.type, "multi_object");
        checked++;
      });
    }
  }
  assert(checked > 30, `only ${checked} expressions checked`);
  assert(kinds.size >= 5, `only motion kinds ${[...kinds]}`);
});

Deno.test("synth: most videos have same-looking objects that only motion separates", () => {
  const options = resolveSynthOptions({ ...TINY, videos: { train: 30, valid_u: 0, valid: 0 } });
  let withDistractor = 0;
  for (let i = 0; i < 30; i++) {
    const v = synthVideo(options, "train", i);
    const hasOne = v.expressions.some((e) =>
      e.query.motion && e.query.shape &&
      v.objects.some((o) =>
        !e.targets.includes(o.id) && o.shape === e.query.shape &&
        (e.query.colour === undefined || o.colour === e.query.colour) &&
        (e.query.texture === undefined || o.texture === e.query.texture)
      )
    );
    if (hasOne) withDistractor++;
  }
  assert(withDistractor >= 25, `${withDistractor} of 30 videos`);
});

Deno.test("synth: no two expressions of a video share a text with different targets", async () => {
  const root = await tinyRoot();
  for (const split of ["train", "valid_u"]) {
    const meta =
      JSON.parse(await Deno.readTextFile(join(root, "mevis", split, "meta_expressions.json"))).videos;
    for (
      const [vid, v] of Object.entries(meta) as [
        string,
        { expressions: Record<string, { exp: string; obj_id: number[] }> },
      ][]
    ) {
      const seen = new Map<string, string>();
      for (const e of Object.values(v.expressions)) {
        const key = JSON.stringify(e.obj_id);
        assert(!seen.has(e.exp) || seen.get(e.exp) === key, `${vid}: "${e.exp}"`);
        seen.set(e.exp, key);
      }
    }
  }
});

Deno.test("synth: masks are the visible pixels of each object after occlusion", async () => {
  const root = await tinyRoot();
  const options = resolveSynthOptions(TINY);
  const dir = join(root, "mevis", "train");
  const masks = JSON.parse(await Deno.readTextFile(join(dir, "mask_dict.json")));
  const meta = JSON.parse(await Deno.readTextFile(join(dir, "meta_expressions.json"))).videos;
  let occluded = 0;
  let nulls = 0;
  for (let i = 0; i < options.videos.train; i++) {
    const video = synthVideo(options, "train", i);
    const { height: h, width: w } = video;
    // obj_id -> anno_id, from the expressions that name each object.
    const anno = new Map<number, string>();
    for (
      const e of Object.values(meta[video.name].expressions) as { obj_id: number[]; anno_id: number[] }[]
    ) {
      e.obj_id.forEach((o, k) => anno.set(o, String(e.anno_id[k])));
    }
    for (let t = 0; t < video.frames; t++) {
      const { rgb } = renderVideoFrame(video, t);
      const silhouettes = video.objects.map((o) => spriteMask({ ...o, position: o.path[t] }, h, w));
      for (const [id, a] of anno) {
        // Visible = its silhouette minus every silhouette drawn after it.
        const expected = silhouettes[id].map((on, p) =>
          on && !silhouettes.slice(id + 1).some((s) => s[p]) ? 1 : 0
        );
        if (expected.some((x, p) => x !== silhouettes[id][p])) occluded++;
        const rle = masks[a][t];
        if (rle === null) {
          nulls++;
          assert(expected.every((x) => x === 0), `${video.name} obj ${id} frame ${t}: null mask but visible`);
          continue;
        }
        assertEquals(rleDecode(rle), expected, `${video.name} obj ${id} frame ${t}`);
        // The rendered pixels there are the object's colour (or its texture's darker shade).
        const [r, g, b] = COLOURS[video.objects[id].colour];
        expected.forEach((x, p) => {
          if (!x) return;
          const px = [rgb[3 * p], rgb[3 * p + 1], rgb[3 * p + 2]];
          assert(
            (px[0] === r && px[1] === g && px[2] === b) ||
              (px[0] === Math.round(r * 0.55) && px[1] === Math.round(g * 0.55) &&
                px[2] === Math.round(b * 0.55)),
          );
        });
      }
    }
  }
  assert(occluded > 0, "no occlusion anywhere: the check would be vacuous");
  assert(nulls >= 0);
});

Deno.test("synth: ensureSynthData generates once, reuses a complete cache, redoes an incomplete one", async () => {
  const cache = await Deno.makeTempDir({ prefix: "synth_cache_" });
  const opts = { ...TINY, videos: { train: 2, valid_u: 1, valid: 1 } };
  try {
    const first = await ensureSynthData(cache, opts);
    assert(first.generated);
    assertEquals(first.manifest.options.videos, opts.videos);
    const second = await ensureSynthData(cache, opts);
    assert(!second.generated);
    assertEquals(second.root, first.root);
    assert(first.root.startsWith(cache) && /[0-9a-f]{16}$/.test(first.root));
    // Incomplete (no marker, or a broken one): generated again.
    await Deno.remove(join(first.mevisDir, "synth.json"));
    assert((await ensureSynthData(cache, opts)).generated);
    await Deno.writeTextFile(join(first.mevisDir, "synth.json"), "{}");
    assert((await ensureSynthData(cache, opts)).generated);
    assert(!(await ensureSynthData(cache, opts)).generated);
    // Other options, another folder.
    const other = await ensureSynthData(cache, { ...opts, seed: 9 });
    assert(other.generated && other.root !== first.root);
    assertEquals((await listFiles(cache)).filter((f) => f.includes(".mevis.")), []);
    // A real (non-synthetic) MeViS folder given as output is never replaced.
    const real = join(cache, "real");
    await Deno.mkdir(join(real, "mevis", "train"), { recursive: true });
    await assertRejects(() => writeSynthDataset(real, opts), /not a synthetic data set/);
    assertEquals(await listFiles(real), []);
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("synth: option parsing", () => {
  assertEquals(parseVideoCounts("train=5, valid=1"), { train: 5, valid: 1 });
  assertThrows(() => parseVideoCounts("test=5"), /unknown split "test"/);
  assertThrows(() => parseVideoCounts("train5"), /SPLIT=N/);
  assertEquals(parseSize("48x64"), { height: 48, width: 64 });
  assertThrows(() => parseSize("48"), /HxW/);
  assertEquals(parseFrameRange("8-24"), { minFrames: 8, maxFrames: 24 });
  assertEquals(parseFrameRange("12"), { minFrames: 12, maxFrames: 12 });
  assertThrows(() => resolveSynthOptions({ minFrames: 10, maxFrames: 8 }), /maxFrames/);
  assertThrows(() => resolveSynthOptions({ minFrames: 4 }), /minFrames/);
});

Deno.test("synth: cleanup of the shared data set", async () => {
  if (shared) await Deno.remove(await shared, { recursive: true });
});

/**
 * Reference predictors of the synthetic data set: which objects each predicts, and their official J&F
 * where it is known without scoring (a prediction equal to the ground truth scores 1).
 */
import { join } from "node:path";
import { assert, assertEquals } from "../assert.ts";
import {
  baselineObjects,
  formatBaselines,
  resolveSynthOptions,
  scoreSynthBaselines,
  synthVideo,
  writeSynthDataset,
} from "../../plugins/mevis/synth/mod.ts";

const OPTIONS = resolveSynthOptions({
  seed: 4,
  videos: { train: 0, valid_u: 4, valid: 0 },
  height: 40,
  width: 56,
  minFrames: 6,
  maxFrames: 8,
});

const VIDEOS = Array.from({ length: OPTIONS.videos.valid_u }, (_, i) => synthVideo(OPTIONS, "valid_u", i));

Deno.test("synth baselines: every_object predicts all objects; named_look the targets' look-alikes", () => {
  for (const v of VIDEOS) {
    for (const e of v.expressions) {
      assertEquals(baselineObjects("every_object", e, v.objects), v.objects.map((o) => o.id));
      const look = baselineObjects("named_look", e, v.objects);
      // The look alone fits every target, and exactly the targets when the sentence names no motion.
      for (const t of e.targets) assert(look.includes(t), `${v.name} "${e.text}": target ${t} not predicted`);
      if (e.type === "static") assertEquals(look, e.targets);
      for (const id of look) {
        const o = v.objects[id];
        const q = e.query;
        assert(q.shape === undefined || o.shape === q.shape);
        assert(q.colour === undefined || o.colour === q.colour);
        assert(q.texture === undefined || o.texture === q.texture);
      }
    }
  }
});

Deno.test("synth baselines: official J&F is 1 where a predictor's masks are the ground truth", async () => {
  const root = await Deno.makeTempDir({ prefix: "synth_baselines_test_" });
  try {
    await writeSynthDataset(root, OPTIONS);
    const docs = await scoreSynthBaselines(OPTIONS, "valid_u", join(root, "mevis", "valid_u"));
    let exact = 0;
    for (const v of VIDEOS) {
      v.expressions.forEach((e, j) => {
        const key = `${v.name}_${j}`;
        for (const name of ["every_object", "named_look"] as const) {
          const [jv, fv] = docs[name].per_expression[key];
          const same = baselineObjects(name, e, v.objects).join() === e.targets.join();
          if (same) {
            exact++;
            assertEquals([jv, fv], [1, 1], `${name} on ${key} "${e.text}"`);
          } else {
            assert(jv < 1, `${name} on ${key}: predicts other objects than the targets, J ${jv}`);
          }
        }
      });
    }
    assert(exact > 0, "no expression where a predictor equals the ground truth: the test checks nothing");
    const total = VIDEOS.reduce((n, v) => n + v.expressions.length, 0);
    for (const doc of Object.values(docs)) {
      assertEquals(doc.num_expressions, total);
      assertEquals(doc.missing_videos, []);
    }
    const text = formatBaselines(docs, "valid_u");
    assert(text.includes(`every_object J&F ${docs.every_object.JF.toFixed(4)}`), text);
    assert(text.includes(`named_look   J&F ${docs.named_look.JF.toFixed(4)}`), text);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

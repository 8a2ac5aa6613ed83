/**
 * Reference predictors for a synthetic split, scored with the official J&F: what a model's number means
 * on this data. Each predictor writes the masks it would predict for every expression, from the
 * generator's own objects (the videos are regenerated from their seeds, so nothing is read but the
 * split's ground truth), and {@link scoreSplit} scores them like a model's predictions.
 *
 * | name           | mask of every frame                                                          |
 * | -------------- | ---------------------------------------------------------------------------- |
 * | `every_object` | all objects of the video: no language at all                                 |
 * | `named_look`   | all objects whose shape, colour and texture fit the sentence, however they move |
 *
 * `named_look` is what perfect appearance grounding without any motion understanding scores: a model
 * above it has learned something of motion; one below `every_object` does worse than ignoring the sentence.
 *
 * @example
 * ```ts ignore
 * import { scoreSynthBaselines } from "./baselines.ts";
 * const scores = await scoreSynthBaselines(options, "valid_u", `${root}/mevis/valid_u`);
 * scores.named_look.JF; // 0.5388 on the default valid_u (every_object: 0.3679)
 * ```
 * @module
 */
import { join } from "node:path";
import { encodeMaskPng } from "../../../core/io/png.ts";
import { type ExpressionTypes, type ResultsDocument, resultsDocument } from "../eval/results.ts";
import { scoreSplit } from "../eval/score_split.ts";
import { matchesQuery, type SynthExpression, type SynthObject } from "./expressions.ts";
import { renderVideoFrame, type SynthVideo } from "./video.ts";
import { type SynthOptions, type SynthSplit, synthVideo } from "./writer.ts";

/** The reference predictors, with what they predict. */
export const SYNTH_BASELINES = {
  every_object: "every object of the video",
  named_look: "every object of the named look, however it moves",
} as const;

/** A reference predictor's name. */
export type SynthBaseline = keyof typeof SYNTH_BASELINES;

/** The objects `baseline` predicts for one expression. */
export function baselineObjects(
  baseline: SynthBaseline,
  expression: SynthExpression,
  objects: readonly SynthObject[],
): number[] {
  if (baseline === "every_object") return objects.map((o) => o.id);
  const { shape, colour, texture } = expression.query;
  return objects.filter((o) => matchesQuery(o, { shape, colour, texture }, objects, 0)).map((o) => o.id);
}

/** Writes `baseline`'s masks of one video as `<predDir>/<video>/<exp_id>/<frame>.png`. */
async function writeVideo(video: SynthVideo, baseline: SynthBaseline, predDir: string): Promise<void> {
  const labels = Array.from({ length: video.frames }, (_, t) => renderVideoFrame(video, t).labels);
  for (const [j, e] of video.expressions.entries()) {
    const ids = new Set(baselineObjects(baseline, e, video.objects));
    const dir = join(predDir, video.name, String(j));
    await Deno.mkdir(dir, { recursive: true });
    for (let t = 0; t < video.frames; t++) {
      const mask = labels[t].map((l) => (ids.has(l) ? 1 : 0));
      await Deno.writeFile(
        join(dir, `${String(t).padStart(5, "0")}.png`),
        encodeMaskPng(mask, video.width, video.height),
      );
    }
  }
}

/**
 * J&F of each reference predictor (overall, per video and per expression type) on a split with ground
 * truth (`train` or `valid_u`) of the data set written with `options` at `splitDir`. Predictions go to a
 * temporary folder, removed afterwards.
 */
export async function scoreSynthBaselines(
  options: SynthOptions,
  split: Exclude<SynthSplit, "valid">,
  splitDir: string,
): Promise<Record<SynthBaseline, ResultsDocument>> {
  const videos = Array.from({ length: options.videos[split] }, (_, i) => synthVideo(options, split, i));
  const types: ExpressionTypes = new Map();
  for (const v of videos) v.expressions.forEach((e, j) => types.set(`${v.name}_${j}`, [e.type]));
  const out = {} as Record<SynthBaseline, ResultsDocument>;
  for (const baseline of Object.keys(SYNTH_BASELINES) as SynthBaseline[]) {
    const predDir = await Deno.makeTempDir({ prefix: `synth-${baseline}-` });
    try {
      for (const video of videos) await writeVideo(video, baseline, predDir);
      out[baseline] = resultsDocument(await scoreSplit({ splitDir, predDir }), types);
    } finally {
      await Deno.remove(predDir, { recursive: true });
    }
  }
  return out;
}

/**
 * Lines naming each reference predictor's J&F, overall and per type, for printing beside a model's.
 *
 * @example
 * ```ts ignore
 * console.log(formatBaselines(await scoreSynthBaselines(options, "valid_u", dir), "valid_u"));
 * ```
 */
export function formatBaselines(docs: Record<SynthBaseline, ResultsDocument>, split: string): string {
  const lines = [`${split} reference predictors, for scale (plugins/mevis/synth/baselines.ts):`];
  for (const [name, doc] of Object.entries(docs) as [SynthBaseline, ResultsDocument][]) {
    const types = Object.entries(doc.per_type ?? {}).map(([t, g]) => `${t} ${g.JF.toFixed(4)}`).join(", ");
    lines.push(`  ${name.padEnd(12)} J&F ${doc.JF.toFixed(4)} (${types}): ${SYNTH_BASELINES[name]}`);
  }
  return lines.join("\n");
}

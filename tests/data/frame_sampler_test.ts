import { assert, assertEquals as eq, assertThrows } from "../assert.ts";
import { Generator } from "../../core/random.ts";
import {
  type FrameSamplerOptions,
  inferenceFrames,
  sampleTrainingClip,
  sampleTrainingFrames,
} from "../../core/data/frame_sampler.ts";

const PAPER: FrameSamplerOptions = { numFrames: 8, range: 10 };

/** Frames other than `ref` within `range` of it, counted independently of the sampler. */
function candidateCount(length: number, ref: number, range: number): number {
  let n = 0;
  for (let f = 0; f < length; f++) if (f !== ref && Math.abs(f - ref) <= range) n++;
  return n;
}

Deno.test("frame sampler: count, range, order, reference and replacement invariants", () => {
  const g = new Generator(7);
  let checked = 0;
  for (let length = 1; length <= 40; length++) {
    for (let numFrames = 1; numFrames <= 9; numFrames++) {
      for (const range of [0, 1, 3, 10]) {
        for (const shuffle of [false, true]) {
          const opts = { numFrames, range, shuffle };
          if (numFrames > 1 && (length === 1 || range === 0)) {
            assertThrows(() => sampleTrainingFrames(length, opts, g), "more frames cannot be drawn");
            continue;
          }
          const { reference, frames, withReplacement } = sampleTrainingFrames(length, opts, g);
          const label = `length ${length} ${JSON.stringify(opts)} -> ${frames}`;
          eq(frames.length, numFrames, label);
          eq(frames.filter((f) => f === reference).length, 1, `reference once: ${label}`);
          for (const f of frames) {
            assert(Number.isInteger(f) && f >= 0 && f < length, `inside the video: ${label}`);
            assert(Math.abs(f - reference) <= range, `within range: ${label}`);
          }
          if (!shuffle) {
            for (let i = 1; i < frames.length; i++) assert(frames[i - 1] <= frames[i], `sorted: ${label}`);
          }
          eq(withReplacement, candidateCount(length, reference, range) <= numFrames - 1, label);
          if (!withReplacement) eq(new Set(frames).size, numFrames, `distinct: ${label}`);
          checked++;
        }
      }
    }
  }
  assert(checked > 2000);
});

Deno.test("frame sampler: paper config draws with replacement exactly for videos of 8 frames or fewer", () => {
  const g = new Generator(11);
  for (let length = 2; length <= 60; length++) {
    for (let k = 0; k < 20; k++) {
      eq(sampleTrainingFrames(length, PAPER, g).withReplacement, length <= 8, `length ${length}`);
      const fixed = sampleTrainingFrames(length, { ...PAPER, replaceOnlyIfTooFew: true }, g);
      eq(fixed.withReplacement, length <= 7, `replaceOnlyIfTooFew, length ${length}`);
      if (!fixed.withReplacement) eq(new Set(fixed.frames).size, 8);
    }
  }
  // A 3-frame video must repeat frames to fill 8 slots.
  const short = sampleTrainingFrames(3, PAPER, new Generator(0)).frames;
  eq(short.length, 8);
  eq([...new Set(short)].every((f) => f >= 0 && f < 3), true);
});

Deno.test("frame sampler: every frame can be the reference", () => {
  const g = new Generator(5);
  const seen = new Array(12).fill(0);
  for (let k = 0; k < 3000; k++) seen[sampleTrainingFrames(12, PAPER, g).reference]++;
  for (const n of seen) assert(n > 150 && n < 350, `reference counts ${seen}`);
});

Deno.test("frame sampler: the same seed gives the same clips; shuffle only reorders", () => {
  // One generator per clip, so each shuffled clip sees the same earlier draws as its plain twin.
  const draw = (seed: number, shuffle: boolean) =>
    Array.from(
      { length: 50 },
      (_, i) => sampleTrainingFrames(20 + i, { ...PAPER, shuffle }, new Generator(seed * 1000 + i)).frames,
    );
  eq(draw(3, false), draw(3, false));
  eq(draw(3, true), draw(3, true));
  assert(JSON.stringify(draw(3, false)) !== JSON.stringify(draw(4, false)), "different seeds differ");
  // Shuffling draws after the clip, so the sorted shuffled clip is the unshuffled one.
  const plain = draw(9, false);
  const shuffled = draw(9, true);
  eq(shuffled.map((f) => [...f].sort((a, b) => a - b)), plain);
  assert(
    shuffled.some((f, i) => JSON.stringify(f) !== JSON.stringify(plain[i])),
    "shuffle reorders some clip",
  );
});

Deno.test("frame sampler: clips are redrawn until one shows the target", () => {
  const target = new Set([50]);
  const opts = { numFrames: 4, range: 2, label: "vid9" };
  const calls: number[][] = [];
  const g = new Generator(21);
  const clip = sampleTrainingClip(100, opts, g, (frames, attempt) => {
    calls.push(frames);
    eq(attempt, calls.length);
    return frames.some((f) => target.has(f)) ? `ok ${attempt}` : undefined;
  });
  eq(clip.attempts, calls.length);
  eq(clip.value, `ok ${clip.attempts}`);
  eq(clip.sample.frames, calls[calls.length - 1]);
  assert(clip.sample.frames.includes(50));
  for (const f of calls.slice(0, -1)) assert(!f.includes(50), "earlier clips were rejected for a reason");
  assert(clip.attempts > 1, "a frame out of 100 should need several draws");
  // The same seed retraces the same attempts.
  const again = sampleTrainingClip(100, opts, new Generator(21), (f) => (f.includes(50) ? f : undefined));
  eq([again.attempts, again.sample.frames], [clip.attempts, clip.sample.frames]);

  assertThrows(
    () => sampleTrainingClip(30, { ...opts, maxAttempts: 5 }, g, () => undefined),
    'video "vid9": no frame showed the target in 5 sampled clips',
  );
});

Deno.test("frame sampler: bad input is an error naming the video", () => {
  const g = new Generator(0);
  assertThrows(
    () => sampleTrainingFrames(1, { ...PAPER, label: "v1" }, g),
    'video "v1": no frame other than',
  );
  assertThrows(() => sampleTrainingFrames(0, { ...PAPER, label: "v2" }, g), 'video "v2": video length');
  assertThrows(() => sampleTrainingFrames(10, { numFrames: 0, range: 3 }, g), "SAMPLING_FRAME_NUM");
  assertThrows(() => sampleTrainingFrames(10, { numFrames: 2, range: -1 }, g), "SAMPLING_FRAME_RANGE");
  // A single-frame clip needs no other frame, even from a 1-frame video.
  eq(sampleTrainingFrames(1, { numFrames: 1, range: 0 }, g).frames, [0]);
});

Deno.test("frame sampler: inference uses every frame in order", () => {
  eq(inferenceFrames(4), [0, 1, 2, 3]);
  eq(inferenceFrames(0), []);
  assertThrows(() => inferenceFrames(-1), "non-negative");
});

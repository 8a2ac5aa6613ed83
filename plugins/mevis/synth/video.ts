/**
 * One synthetic video: its objects (look, motion program, path), background and expressions, drawn from
 * one seeded generator, and its frames rendered on demand.
 *
 * Every video has a pair of look-alikes (same shape, colour and texture) with different motions, and
 * other objects whose shape often repeats, so that most expressions need the motion to pick their
 * targets. Objects are drawn in id order (later ones occlude earlier ones) and may enter or leave the
 * frame, but each is visible in at least half of the frames.
 *
 * @example
 * ```ts
 * import { generateVideo, renderVideoFrame } from "./video.ts";
 * const video = generateVideo(7, { height: 64, width: 96, frames: 12 });
 * video.expressions[0].text; // e.g. "the red square moving up then stopping"
 * const { rgb, labels } = renderVideoFrame(video, 0);
 * ```
 * @module
 */
import { Generator } from "../../../core/random.ts";
import { buildExpressions, type SynthExpression, type SynthObject } from "./expressions.ts";
import {
  classifyMotion,
  followProgram,
  type MotionKind,
  type MotionProgram,
  type Point,
  sameMotion,
  sampleProgram,
  trajectory,
} from "./motion.ts";
import {
  type Background,
  COLOUR_NAMES,
  type RenderedFrame,
  renderFrame,
  type Shape,
  SHAPES,
  type Texture,
} from "./render.ts";

/** Size and length of one video. */
export interface VideoSpec {
  height: number;
  width: number;
  frames: number;
}

/** A generated video. */
export interface SynthVideo extends VideoSpec {
  /** 12 hex digits, like MeViS video names. */
  name: string;
  background: Background;
  objects: SynthObject[];
  expressions: SynthExpression[];
}

/** Motion classes drawn for ordinary objects (followers are added apart). */
const KINDS: readonly MotionKind[] = [
  "still",
  "move",
  "speed_up",
  "move_stop",
  "still_move",
  "turn_around",
  "circle",
];

/** Largest leader-to-follower distance counted as following, for a frame size. */
export function followGap(height: number, width: number): number {
  return 0.4 * Math.min(height, width);
}

function hex(g: Generator, digits: number): string {
  let s = "";
  while (s.length < digits) s += g.nextUint32().toString(16).padStart(8, "0");
  return s.slice(0, digits);
}

function drawTexture(g: Generator): Texture {
  const u = g.uniform();
  return u < 0.6 ? "solid" : u < 0.8 ? "striped" : "dotted";
}

/** Draws a program of `kind` whose path shows exactly that class (a few redraws at most). */
function drawPath(
  g: Generator,
  kind: MotionKind,
  spec: VideoSpec,
): { program: MotionProgram; path: Point[] } {
  for (let attempt = 0; attempt < 50; attempt++) {
    const program = sampleProgram(g, kind, spec);
    const path = trajectory(program, spec.frames);
    const label = classifyMotion(path);
    if (label && label.kind === kind) return { program, path };
  }
  throw new Error(
    `cannot draw a clean "${kind}" path for ${spec.frames} frames of ${spec.height}x${spec.width}`,
  );
}

/** Visible pixels of each object in each frame, `[object][frame]`. */
function visibleAreas(video: SynthVideo): number[][] {
  const areas = video.objects.map(() => new Array<number>(video.frames).fill(0));
  for (let t = 0; t < video.frames; t++) {
    const { labels } = renderVideoFrame(video, t);
    for (const k of labels) if (k < areas.length) areas[k][t]++;
  }
  return areas;
}

function tryVideo(g: Generator, spec: VideoSpec): SynthVideo | null {
  const { height, width, frames } = spec;
  const count = g.randint(3, 6);
  const radius = () => Math.min(height, width) * (0.08 + 0.05 * g.uniform());
  // Appearance: objects 0 and 1 look alike; the rest often reuse a shape already present.
  const looks: { shape: Shape; colour: (typeof COLOUR_NAMES)[number]; texture: Texture }[] = [];
  const twin = { shape: g.choice(SHAPES), colour: g.choice(COLOUR_NAMES), texture: drawTexture(g) };
  looks.push(twin, { ...twin });
  while (looks.length < count) {
    const shape = g.uniform() < 0.5 ? g.choice(looks).shape : g.choice(SHAPES);
    looks.push({ shape, colour: g.choice(COLOUR_NAMES), texture: drawTexture(g) });
  }
  const order = g.shuffle(looks.map((_, i) => i));
  // Motion classes: the twins differ; maybe one object follows a constant-velocity mover.
  const [a, b] = g.sampleWithoutReplacement(KINDS.length, 2).map((i) => KINDS[i]);
  const kinds: (MotionKind | "follow")[] = [a, b];
  while (kinds.length < count) kinds.push(g.choice(KINDS));
  if (count >= 4 && g.uniform() < 0.5) {
    kinds[kinds.length - 2] = "move";
    kinds[kinds.length - 1] = "follow";
  }
  const placed: Omit<SynthObject, "id" | "motion">[] = [];
  for (let i = 0; i < count; i++) {
    const look = looks[order[i]];
    const r = radius();
    const kind = kinds[i];
    if (kind === "follow") {
      const leader = i - 1;
      const gap = placed[leader].radius + r + 2 + 3 * g.uniform();
      const program = followProgram(leader, placed[leader].path, gap);
      placed.push({ ...look, radius: r, program, path: trajectory(program, frames, placed[leader].path) });
    } else {
      placed.push({ ...look, radius: r, ...drawPath(g, kind, spec) });
    }
  }
  const objects: SynthObject[] = placed.map((o, id) => ({ ...o, id, motion: classifyMotion(o.path)! }));
  // The look-alikes must differ in motion; a follower must show its leader's class.
  if (objects.some((o) => !o.motion)) return null;
  const twins = objects.filter((o) =>
    o.shape === twin.shape && o.colour === twin.colour && o.texture === twin.texture
  );
  if (twins.every((o) => sameMotion(o.motion, twins[0].motion))) return null;
  const base = [0, 1, 2].map(() => 30 + g.randint(0, 80)) as [number, number, number];
  const gradient = [0, 1, 2].map(() => g.randint(-40, 41)) as [number, number, number];
  const noise = new Int8Array(height * width);
  for (let i = 0; i < noise.length; i++) noise[i] = g.randint(-5, 6);
  const video: SynthVideo = {
    ...spec,
    name: "",
    background: { base, gradient, noise },
    objects,
    expressions: [],
  };
  const half = Math.ceil(frames / 2);
  if (visibleAreas(video).some((perFrame) => perFrame.filter((n) => n >= 4).length < half)) return null;
  video.expressions = buildExpressions(g, objects, {
    maxExpressions: g.randint(4, 9),
    followGap: followGap(height, width),
  });
  return video.expressions.length >= 2 ? video : null;
}

/**
 * Generates one video from a seed. The same seed and spec always give the same video.
 *
 * @example
 * ```ts
 * import { generateVideo } from "./video.ts";
 * const v = generateVideo(3, { height: 48, width: 64, frames: 8 });
 * v.objects.length >= 3; // true
 * ```
 */
export function generateVideo(seed: number, spec: VideoSpec): SynthVideo {
  if (spec.frames < 6) throw new Error(`synthetic videos need at least 6 frames, got ${spec.frames}`);
  if (spec.height < 16 || spec.width < 16) {
    throw new Error(`synthetic frames must be at least 16x16, got ${spec.height}x${spec.width}`);
  }
  const g = new Generator(seed);
  const name = hex(g, 12);
  for (let attempt = 0; attempt < 200; attempt++) {
    const video = tryVideo(g, spec);
    if (video) return { ...video, name };
  }
  throw new Error(`cannot generate a video for seed ${seed} at ${spec.height}x${spec.width}x${spec.frames}`);
}

/**
 * Renders frame `t` of a video: RGB pixels and the label map (object id per pixel, 255 for background).
 *
 * @example
 * ```ts
 * import { generateVideo, renderVideoFrame } from "./video.ts";
 * const v = generateVideo(3, { height: 48, width: 64, frames: 8 });
 * renderVideoFrame(v, 7).rgb.length; // 48 * 64 * 3
 * ```
 */
export function renderVideoFrame(video: SynthVideo, t: number): RenderedFrame {
  const sprites = video.objects.map((o) => ({
    shape: o.shape,
    colour: o.colour,
    texture: o.texture,
    radius: o.radius,
    position: o.path[t],
  }));
  return renderFrame(video, sprites);
}

/**
 * Referring expressions for synthetic videos, from templates in MeViS's style. An expression is a
 * {@link Query} (appearance and/or motion, or "following" another object) turned into words; its targets
 * are every object of the video that the query fits, so the sentence and the masks agree by
 * construction. Queries are preferred where a same-looking object moves differently (a distractor), so
 * that a single frame cannot tell the target apart.
 *
 * Types, recorded per expression in `expression_types.json`:
 * - `motion`: motion only ("the object moving left then stopping");
 * - `appearance_motion`: appearance and motion, one target ("the red square moving up");
 * - `multi_object`: two or more targets ("the two squares moving up");
 * - `static`: appearance only, one target ("the striped star").
 *
 * @example
 * ```ts ignore
 * import { Generator } from "../../../core/random.ts";
 * import { buildExpressions, type SynthObject } from "./expressions.ts";
 * const base = { texture: "solid", radius: 5, program: { kind: "still", start: [0, 0] } } as const;
 * const objects: SynthObject[] = [
 *   { ...base, id: 0, shape: "square", colour: "red", path: [], motion: { kind: "still" } },
 *   { ...base, id: 1, shape: "square", colour: "red", path: [], motion: { kind: "move", dir: "up" } },
 * ];
 * const exps = buildExpressions(new Generator(0), objects, { maxExpressions: 4, followGap: 20 });
 * exps.some((e) => e.type === "appearance_motion"); // true
 * ```
 * @module
 */
import type { Generator } from "../../../core/random.ts";
import {
  type Direction,
  follows,
  type MotionLabel,
  type MotionProgram,
  type Point,
  sameMotion,
} from "./motion.ts";
import type { Colour, Shape, Texture } from "./render.ts";

/** One object of a synthetic video. */
export interface SynthObject {
  /** The object's `obj_id`: its index in the video, which is also its draw order. */
  id: number;
  shape: Shape;
  colour: Colour;
  texture: Texture;
  radius: number;
  program: MotionProgram;
  /** Centre per frame, as rendered. */
  path: Point[];
  /** The class its path shows. */
  motion: MotionLabel;
}

/** What an expression asks for; unset fields match anything. */
export interface Query {
  shape?: Shape;
  colour?: Colour;
  texture?: Texture;
  motion?: MotionLabel;
  /** Index of the object followed. */
  follows?: number;
}

/** The expression types (see the module doc). */
export type ExpressionType = "motion" | "appearance_motion" | "multi_object" | "static";

/** A generated expression. */
export interface SynthExpression {
  text: string;
  /** Object ids the expression refers to, ascending. */
  targets: number[];
  type: ExpressionType;
  query: Query;
}

/** Options of {@link buildExpressions}. */
export interface ExpressionOptions {
  /** At most this many expressions. */
  maxExpressions: number;
  /** Largest leader-to-follower distance that still counts as following, in pixels. */
  followGap: number;
}

/**
 * Whether `obj` fits `query` among `objects` (for `follows`, checked on the paths).
 *
 * @example
 * ```ts ignore
 * import { matchesQuery } from "./expressions.ts";
 * const obj = {
 *   id: 0, shape: "star", colour: "red", texture: "solid", radius: 4,
 *   program: { kind: "still", start: [1, 1] }, path: [[1, 1], [1, 1]], motion: { kind: "still" },
 * } as const;
 * matchesQuery(obj, { shape: "star", motion: { kind: "still" } }, [obj], 20); // true
 * ```
 */
export function matchesQuery(
  obj: SynthObject,
  query: Query,
  objects: readonly SynthObject[],
  followGap: number,
): boolean {
  if (query.shape !== undefined && obj.shape !== query.shape) return false;
  if (query.colour !== undefined && obj.colour !== query.colour) return false;
  if (query.texture !== undefined && obj.texture !== query.texture) return false;
  if (query.motion !== undefined && !sameMotion(obj.motion, query.motion)) return false;
  if (query.follows !== undefined) {
    if (query.follows === obj.id) return false;
    return follows(obj.path, objects[query.follows].path, followGap);
  }
  return true;
}

const PLURAL: Record<Shape, string> = {
  circle: "circles",
  square: "squares",
  triangle: "triangles",
  star: "stars",
  diamond: "diamonds",
};
const COUNT = ["", "", "two", "three", "four", "five", "six"];
const TOWARDS: Record<Direction, string> = {
  left: "to the left",
  right: "to the right",
  up: "upwards",
  down: "downwards",
};

/** Phrases per motion class: participle forms (no agreement) and relative clauses `[singular, plural]`. */
type Phrases = { participle: string[]; relative: [string, string][] };

function motionPhrases(m: MotionLabel): Phrases {
  const d = m.dir ?? "";
  const to = m.dir ? TOWARDS[m.dir] : "";
  switch (m.kind) {
    case "still":
      return {
        participle: ["standing still", "staying in place", "not moving at all"],
        relative: [["that does not move", "that do not move"]],
      };
    case "move":
      return {
        participle: [`moving ${d} the whole time`, `moving steadily ${to}`],
        relative: [[`that keeps moving ${d}`, `that keep moving ${d}`]],
      };
    case "speed_up":
      return {
        participle: [`moving ${d} faster and faster`, `speeding up while going ${d}`],
        relative: [[`that accelerates ${to}`, `that accelerate ${to}`]],
      };
    case "move_stop":
      return {
        participle: [`moving ${d} then stopping`, `going ${d} and then resting`],
        relative: [[`that stops after moving ${d}`, `that stop after moving ${d}`]],
      };
    case "still_move":
      return {
        participle: [`starting to move ${d} later`, `resting first then moving ${d}`],
        relative: [[`that starts moving ${d} after a while`, `that start moving ${d} after a while`]],
      };
    case "turn_around":
      return {
        participle: [`moving ${d} then turning around`, `going ${d} and coming back`],
        relative: [[`that turns back after moving ${d}`, `that turn back after moving ${d}`]],
      };
    case "circle":
      return {
        participle: ["moving in circles", "going round in circles"],
        relative: [["that circles around", "that circle around"]],
      };
  }
}

function followPhrases(leader: string): Phrases {
  return {
    participle: [`following the ${leader}`, `moving behind the ${leader}`],
    relative: [[`that follows the ${leader}`, `that follow the ${leader}`]],
  };
}

/** The noun phrase of a query's appearance: "red striped square", "objects". */
function nounPhrase(q: Query, plural: boolean): string {
  const words: string[] = [];
  if (q.colour) words.push(q.colour);
  if (q.texture && q.texture !== "solid") words.push(q.texture);
  if (q.shape) words.push(plural ? PLURAL[q.shape] : q.shape);
  else words.push(plural ? "objects" : "object");
  return words.join(" ");
}

/** A description naming exactly one object by appearance, or null when its look is shared. */
function uniqueAppearance(obj: SynthObject, objects: readonly SynthObject[]): Query | null {
  for (const q of appearanceLevels(obj)) {
    if (objects.filter((o) => matchesQuery(o, q, objects, 0)).length === 1) return q;
  }
  return null;
}

function appearanceLevels(obj: SynthObject): Query[] {
  return [
    { shape: obj.shape },
    { shape: obj.shape, colour: obj.colour },
    { shape: obj.shape, colour: obj.colour, texture: obj.texture },
  ];
}

function queryKey(q: Query): string {
  return JSON.stringify([q.shape, q.colour, q.texture, q.motion?.kind, q.motion?.dir, q.follows]);
}

/** Words for a query with `count` targets, one template variant drawn from `g`. */
function phrase(g: Generator, q: Query, count: number, objects: readonly SynthObject[]): string {
  const plural = count > 1;
  const head = plural
    ? `the ${COUNT[count] ?? String(count)} ${nounPhrase(q, true)}`
    : `the ${nounPhrase(q, false)}`;
  let phrases: Phrases | null = null;
  if (q.motion) phrases = motionPhrases(q.motion);
  else if (q.follows !== undefined) {
    const leader = uniqueAppearance(objects[q.follows], objects)!;
    phrases = followPhrases(nounPhrase(leader, false));
  }
  if (!phrases) return head;
  const forms = [...phrases.participle, ...phrases.relative.map(([one, many]) => plural ? many : one)];
  return `${head} ${g.choice(forms)}`.replace(/ +/g, " ").trim();
}

function typeOf(q: Query, count: number): ExpressionType {
  if (count > 1) return "multi_object";
  if (q.motion === undefined && q.follows === undefined) return "static";
  if (q.shape === undefined && q.colour === undefined && q.texture === undefined) return "motion";
  return "appearance_motion";
}

/**
 * Expressions for one video: candidate queries ranked (motion with a same-looking distractor first, then
 * following, motion only, several objects, and at most one appearance-only), variants drawn from `g`.
 * Texts are unique within the video.
 */
export function buildExpressions(
  g: Generator,
  objects: readonly SynthObject[],
  options: ExpressionOptions,
): SynthExpression[] {
  const candidates = new Map<string, { query: Query; rank: number }>();
  const add = (query: Query, rank: number) => {
    const key = queryKey(query);
    const old = candidates.get(key);
    if (!old || old.rank < rank) candidates.set(key, { query, rank });
  };
  const fits = (q: Query) => objects.filter((o) => matchesQuery(o, q, objects, options.followGap));
  for (const obj of objects) {
    for (const look of appearanceLevels(obj)) {
      const q = { ...look, motion: obj.motion };
      const lookAlikes = fits(look).length;
      // A same-looking object that moves differently makes the motion necessary.
      if (lookAlikes > fits(q).length) add(q, 4);
    }
    add({ motion: obj.motion }, fits({ motion: obj.motion }).length < objects.length ? 2 : 0);
    add({ shape: obj.shape, motion: obj.motion }, 1);
    if (obj.program.kind === "follow") {
      const leader = obj.program.leader;
      if (uniqueAppearance(objects[leader], objects)) {
        add({ follows: leader }, 3);
        add({ shape: obj.shape, follows: leader }, 3);
      }
    }
    const unique = uniqueAppearance(obj, objects);
    if (unique) add(unique, 1);
  }
  // Ranked, ties in random order; several objects at once rank with the distractor cases.
  const ranked = g.shuffle([...candidates.values()].map(({ query, rank }) => {
    const targets = fits(query).map((o) => o.id);
    return { query, targets, rank: targets.length > 1 && query.motion ? Math.max(rank, 3) : rank };
  })).sort((a, b) => b.rank - a.rank);
  const out: SynthExpression[] = [];
  const texts = new Set<string>();
  // For variety: one sentence per target set first, a second one only in a second pass, and at most
  // one appearance-only sentence.
  const perTargets = new Map<string, number>();
  const used = new Set<string>();
  let statics = 0;
  for (const cap of [1, 2]) {
    for (const { query, targets } of ranked) {
      if (out.length >= options.maxExpressions) break;
      const key = targets.join(",");
      if (used.has(queryKey(query)) || (perTargets.get(key) ?? 0) >= cap) continue;
      if (targets.length === 0 || targets.length >= COUNT.length) continue;
      const type = typeOf(query, targets.length);
      if (type === "static" && statics >= 1) continue;
      const text = phrase(g, query, targets.length, objects);
      if (texts.has(text)) continue;
      texts.add(text);
      used.add(queryKey(query));
      perTargets.set(key, (perTargets.get(key) ?? 0) + 1);
      if (type === "static") statics++;
      out.push({ text, targets, type, query });
    }
  }
  return g.shuffle(out);
}

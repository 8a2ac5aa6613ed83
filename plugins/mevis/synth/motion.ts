/**
 * Motion programs of the synthetic MeViS data: how each object moves, as per-frame centre positions, and
 * the motion class that a trajectory shows. The classes are what the expressions refer to, so they are
 * defined on trajectories alone ({@link classifyMotion}) and the generator keeps only programs whose
 * trajectory shows the class the program was drawn for.
 *
 * | class         | program                                           | phrase (one of several)          |
 * |---------------|---------------------------------------------------|----------------------------------|
 * | `still`       | no displacement                                   | "standing still"                 |
 * | `move`        | constant velocity (a follower copies its leader)  | "that keeps moving left"         |
 * | `speed_up`    | constant direction, speed growing from near zero  | "moving up faster and faster"    |
 * | `move_stop`   | constant velocity, then resting to the end        | "moving left then stopping"      |
 * | `still_move`  | resting, then constant velocity to the end        | "starting to move right later"   |
 * | `turn_around` | constant velocity, then the same speed backwards  | "moving down then turning back"  |
 * | `circle`      | uniform circular motion, at least one full turn   | "moving in circles"              |
 *
 * Positions are rounded to 1/1000 px, so that a resting object's position repeats exactly and the JSON
 * side file holds the very numbers the renderer used.
 *
 * @example
 * ```ts
 * import { Generator } from "../../../core/random.ts";
 * import { classifyMotion, sampleProgram, trajectory } from "./motion.ts";
 * const g = new Generator(1);
 * const program = sampleProgram(g, "turn_around", { frames: 12, height: 64, width: 96 });
 * classifyMotion(trajectory(program, 12)); // { kind: "turn_around", dir: ... }
 * ```
 * @module
 */
import type { Generator } from "../../../core/random.ts";

/** A direction in image coordinates (y grows downwards). */
export type Direction = "left" | "right" | "up" | "down";

/** The four directions. */
export const DIRECTIONS: readonly Direction[] = ["left", "right", "up", "down"];

/** The motion classes an expression can name. */
export type MotionKind =
  | "still"
  | "move"
  | "speed_up"
  | "move_stop"
  | "still_move"
  | "turn_around"
  | "circle";

/** The motion classes, in a fixed order. */
export const MOTION_KINDS: readonly MotionKind[] = [
  "still",
  "move",
  "speed_up",
  "move_stop",
  "still_move",
  "turn_around",
  "circle",
];

/** A motion class with its direction (the first direction of travel; none for `still` and `circle`). */
export interface MotionLabel {
  kind: MotionKind;
  dir?: Direction;
}

/** A 2-D point `[x, y]` in pixels. */
export type Point = [number, number];

/** How an object moves: one of the drawable programs. */
export type MotionProgram =
  | { kind: "still"; start: Point }
  | {
    kind: "linear";
    /** What the speed profile makes of the straight path. */
    profile: "move" | "speed_up" | "move_stop" | "still_move" | "turn_around";
    start: Point;
    /** Unit direction of travel. */
    unit: Point;
    /** Pixels per frame (the final speed for `speed_up`). */
    speed: number;
    /** Frame where the profile changes (stop, start, turn); unused by `move` and `speed_up`. */
    switchAt: number;
  }
  | { kind: "circle"; center: Point; radius: number; phase: number; omega: number }
  | {
    kind: "follow";
    /** Index of the followed object in the video. */
    leader: number;
    /** Constant offset from the leader, pointing backwards along its motion. */
    offset: Point;
  };

/** Frame size and length a program is drawn for. */
export interface MotionFrame {
  frames: number;
  height: number;
  width: number;
}

const UNIT: Record<Direction, Point> = { left: [-1, 0], right: [1, 0], up: [0, -1], down: [0, 1] };

/** Rounds to 1/1000 px (see the module doc). */
function q(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Distance travelled along the path after `t` steps, for a linear profile. */
function linearDistance(p: Extract<MotionProgram, { kind: "linear" }>, t: number, frames: number): number {
  const v = p.speed;
  switch (p.profile) {
    case "move":
      return v * t;
    case "speed_up": {
      // Speed grows linearly from 0.2 v to v over the clip: distance is its sum at whole steps.
      const v0 = 0.2 * v;
      const a = (v - v0) / Math.max(1, frames - 2);
      return v0 * t + (a * t * (t - 1)) / 2;
    }
    case "move_stop":
      return v * Math.min(t, p.switchAt);
    case "still_move":
      return v * Math.max(0, t - p.switchAt);
    case "turn_around":
      return t <= p.switchAt ? v * t : v * (2 * p.switchAt - t);
  }
}

/**
 * The per-frame centre positions of a program. A `follow` program needs its leader's trajectory.
 *
 * @example
 * ```ts
 * import { trajectory } from "./motion.ts";
 * trajectory({ kind: "still", start: [10, 20] }, 3); // [[10, 20], [10, 20], [10, 20]]
 * ```
 */
export function trajectory(program: MotionProgram, frames: number, leader?: readonly Point[]): Point[] {
  const out: Point[] = [];
  for (let t = 0; t < frames; t++) {
    switch (program.kind) {
      case "still":
        out.push([q(program.start[0]), q(program.start[1])]);
        break;
      case "linear": {
        const d = linearDistance(program, t, frames);
        out.push([q(program.start[0] + d * program.unit[0]), q(program.start[1] + d * program.unit[1])]);
        break;
      }
      case "circle": {
        const a = program.phase + program.omega * t;
        out.push([
          q(program.center[0] + program.radius * Math.cos(a)),
          q(program.center[1] + program.radius * Math.sin(a)),
        ]);
        break;
      }
      case "follow": {
        if (!leader || leader.length !== frames) throw new Error("a follow program needs its leader's path");
        out.push([q(leader[t][0] + program.offset[0]), q(leader[t][1] + program.offset[1])]);
        break;
      }
    }
  }
  return out;
}

/**
 * Draws a program for a motion class, placed so that the middle of its path is well inside the frame
 * (movers may still enter or leave it). `follow` programs are made by {@link followProgram}.
 */
export function sampleProgram(g: Generator, kind: MotionKind, frame: MotionFrame): MotionProgram {
  const { frames, height, width } = frame;
  const steps = frames - 1;
  if (kind === "still") {
    return {
      kind: "still",
      start: [width * (0.15 + 0.7 * g.uniform()), height * (0.15 + 0.7 * g.uniform())],
    };
  }
  if (kind === "circle") {
    const radius = Math.min(height, width) * (0.12 + 0.1 * g.uniform());
    // At least 1.05 turns, and under a quarter turn per frame, so that headings are unambiguous.
    const omega = Math.min(1.4, (2 * Math.PI * (1.05 + 0.3 * g.uniform())) / steps) *
      (g.uniform() < 0.5 ? -1 : 1);
    const center: Point = [
      radius + (width - 2 * radius) * (0.2 + 0.6 * g.uniform()),
      radius + (height - 2 * radius) * (0.2 + 0.6 * g.uniform()),
    ];
    return { kind: "circle", center, radius, phase: 2 * Math.PI * g.uniform(), omega };
  }
  const dir = g.choice(DIRECTIONS);
  // A small sideways drift; the main axis stays at least 4x stronger.
  const drift = 0.25 * (2 * g.uniform() - 1);
  const [ux, uy] = UNIT[dir];
  const norm = Math.hypot(1, drift);
  const unit: Point = [(ux - drift * uy) / norm, (uy + drift * ux) / norm];
  const extent = ux !== 0 ? width : height;
  let switchAt = 0;
  let travelSteps = steps;
  if (kind === "move_stop" || kind === "still_move" || kind === "turn_around") {
    switchAt = Math.round(steps * (0.35 + 0.3 * g.uniform()));
    switchAt = Math.min(steps - 2, Math.max(2, switchAt));
    travelSteps = kind === "still_move" ? steps - switchAt : switchAt;
  }
  const speed = Math.max(0.5, (extent * (0.35 + 0.35 * g.uniform())) / travelSteps);
  const program: MotionProgram = { kind: "linear", profile: kind, start: [0, 0], unit, speed, switchAt };
  // Centre the path's bounding box somewhere in the middle of the frame.
  const path = trajectory(program, frames);
  const xs = path.map((p) => p[0]);
  const ys = path.map((p) => p[1]);
  const cx = width * (0.3 + 0.4 * g.uniform());
  const cy = height * (0.3 + 0.4 * g.uniform());
  program.start = [
    cx - (Math.min(...xs) + Math.max(...xs)) / 2,
    cy - (Math.min(...ys) + Math.max(...ys)) / 2,
  ];
  return program;
}

/**
 * A program following `leader` (a constant-velocity mover) at a gap of `gap` pixels behind it.
 *
 * @example
 * ```ts ignore
 * import { followProgram, trajectory } from "./motion.ts";
 * const lead = trajectory({ kind: "linear", profile: "move", start: [10, 10], unit: [1, 0], speed: 2, switchAt: 0 }, 4);
 * followProgram(0, lead, 12).offset; // [-12, 0]
 * ```
 */
export function followProgram(leader: number, leaderPath: readonly Point[], gap: number): MotionProgram {
  const dx = leaderPath[1][0] - leaderPath[0][0];
  const dy = leaderPath[1][1] - leaderPath[0][1];
  const n = Math.hypot(dx, dy);
  return { kind: "follow", leader, offset: [q((-gap * dx) / n), q((-gap * dy) / n)] };
}

/** Steps shorter than this (px per frame) count as resting; movers go at least 0.1. */
const REST = 0.05;

function wrapAngle(a: number): number {
  while (a > Math.PI) a -= 2 * Math.PI;
  while (a <= -Math.PI) a += 2 * Math.PI;
  return a;
}

function directionOf([dx, dy]: Point): Direction {
  if (Math.abs(dx) >= Math.abs(dy)) return dx < 0 ? "left" : "right";
  return dy < 0 ? "up" : "down";
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/**
 * The motion class a trajectory shows, or null when it fits none cleanly (the generator then draws
 * again). Needs at least 6 frames.
 *
 * @example
 * ```ts
 * import { classifyMotion } from "./motion.ts";
 * classifyMotion([[0, 0], [2, 0], [4, 0], [6, 0], [8, 0], [10, 0]]); // { kind: "move", dir: "right" }
 * classifyMotion([[0, 0], [2, 0], [4, 0], [4, 0], [4, 0], [4, 0]]); // { kind: "move_stop", dir: "right" }
 * ```
 */
export function classifyMotion(path: readonly Point[]): MotionLabel | null {
  const v: Point[] = [];
  for (let t = 1; t < path.length; t++) v.push([path[t][0] - path[t - 1][0], path[t][1] - path[t - 1][1]]);
  const s = v.map(([x, y]) => Math.hypot(x, y));
  const moving = s.map((x) => x > REST);
  const first = moving.indexOf(true);
  if (first < 0) return { kind: "still" };
  const last = moving.lastIndexOf(true);
  // Moving steps must be contiguous: one rest period at the start or the end at most.
  for (let t = first; t <= last; t++) if (!moving[t]) return null;
  let turning = 0;
  let reversals = 0;
  for (let t = first; t < last; t++) {
    const d = wrapAngle(Math.atan2(v[t + 1][1], v[t + 1][0]) - Math.atan2(v[t][1], v[t][0]));
    if (Math.abs(d) > 2.5) reversals++;
    else turning += d;
  }
  const ms = s.slice(first, last + 1);
  const constant = Math.max(...ms) <= 1.1 * Math.min(...ms);
  const restStart = first > 0;
  const restEnd = last < s.length - 1;
  if (!restStart && !restEnd && reversals === 0 && Math.abs(turning) >= 1.5 * Math.PI && constant) {
    return { kind: "circle" };
  }
  if (Math.abs(turning) > 0.2) return null;
  const dir = directionOf(v[first]);
  if (reversals === 1 && !restStart && !restEnd && constant) return { kind: "turn_around", dir };
  if (reversals > 0) return null;
  if (restStart && restEnd) return null;
  if (restEnd) {
    return constant && first === 0 && last >= 1 && s.length - 1 - last >= 2
      ? { kind: "move_stop", dir }
      : null;
  }
  if (restStart) return constant && first >= 2 && ms.length >= 2 ? { kind: "still_move", dir } : null;
  const third = Math.max(1, Math.floor(ms.length / 3));
  if (mean(ms.slice(-third)) >= 2 * mean(ms.slice(0, third))) return { kind: "speed_up", dir };
  return constant ? { kind: "move", dir } : null;
}

/** Whether two motion labels are the same class and direction. */
export function sameMotion(a: MotionLabel, b: MotionLabel): boolean {
  return a.kind === b.kind && a.dir === b.dir;
}

/**
 * Whether `path` follows `leaderPath`: a constant offset from a moving leader, pointing backwards along
 * the leader's motion (behind it, not beside it), within `maxGap` pixels.
 *
 * @example
 * ```ts
 * import { follows } from "./motion.ts";
 * const lead: [number, number][] = [[10, 5], [12, 5], [14, 5]];
 * follows([[0, 5], [2, 5], [4, 5]], lead, 20); // true
 * ```
 */
export function follows(path: readonly Point[], leaderPath: readonly Point[], maxGap: number): boolean {
  const ox = path[0][0] - leaderPath[0][0];
  const oy = path[0][1] - leaderPath[0][1];
  for (let t = 1; t < path.length; t++) {
    if (Math.abs(path[t][0] - leaderPath[t][0] - ox) > 0.002) return false;
    if (Math.abs(path[t][1] - leaderPath[t][1] - oy) > 0.002) return false;
  }
  const gap = Math.hypot(ox, oy);
  const mx = leaderPath[leaderPath.length - 1][0] - leaderPath[0][0];
  const my = leaderPath[leaderPath.length - 1][1] - leaderPath[0][1];
  const travel = Math.hypot(mx, my);
  if (gap === 0 || gap > maxGap || travel < 1) return false;
  // Behind: the offset points against the travel, within about 18 degrees.
  return (ox * mx + oy * my) / (gap * travel) < -0.95;
}

/**
 * Drawing synthetic frames: flat shapes with a colour and a texture over a still, slightly noisy
 * background, painted in draw order so that later objects hide earlier ones. Rasterisation is binary (a
 * pixel belongs to a shape when its centre is inside), so the ground-truth masks are exactly the pixels
 * each object shows: the label map {@link RenderedFrame.labels} holds the last object drawn on each pixel.
 *
 * @example
 * ```ts
 * import { renderFrame } from "./render.ts";
 * const frame = renderFrame(
 *   { height: 16, width: 16, background: { base: [40, 40, 40], gradient: [0, 0, 0], noise: null } },
 *   [{ shape: "circle", colour: "red", texture: "solid", radius: 4, position: [8, 8] }],
 * );
 * frame.labels[8 * 16 + 8]; // 0: the first object
 * frame.labels[0]; // 255: background
 * ```
 * @module
 */
import type { Point } from "./motion.ts";

/** The shapes objects take. */
export type Shape = "circle" | "square" | "triangle" | "star" | "diamond";
/** The shapes, in a fixed order. */
export const SHAPES: readonly Shape[] = ["circle", "square", "triangle", "star", "diamond"];

/** The colours objects take. */
export type Colour = "red" | "green" | "blue" | "yellow" | "purple" | "orange" | "white";
/** RGB of each colour. */
export const COLOURS: Readonly<Record<Colour, readonly [number, number, number]>> = {
  red: [220, 40, 40],
  green: [40, 190, 70],
  blue: [50, 90, 235],
  yellow: [235, 215, 40],
  purple: [160, 60, 210],
  orange: [245, 140, 30],
  white: [240, 240, 240],
};
/** The colour names, in a fixed order. */
export const COLOUR_NAMES = Object.keys(COLOURS) as Colour[];

/** Surface patterns; they move with the object. */
export type Texture = "solid" | "striped" | "dotted";
/** The textures, in a fixed order. */
export const TEXTURES: readonly Texture[] = ["solid", "striped", "dotted"];

/** Label of background pixels in {@link RenderedFrame.labels}. */
export const BACKGROUND = 255;

/** The still background of a video. */
export interface Background {
  /** RGB at the top-left corner. */
  base: readonly [number, number, number];
  /** RGB change from left to right edge (applied along x, and half of it along y). */
  gradient: readonly [number, number, number];
  /** Per-pixel offsets (`h * w`), or null for none. */
  noise: Int8Array | null;
}

/** What a frame is drawn on. */
export interface Canvas {
  height: number;
  width: number;
  background: Background;
}

/** One object in one frame. */
export interface Sprite {
  shape: Shape;
  colour: Colour;
  texture: Texture;
  /** Half the object's extent, in pixels. */
  radius: number;
  /** Centre `[x, y]`. */
  position: Point;
}

/** A drawn frame: RGB pixels and, per pixel, the index of the object seen there or {@link BACKGROUND}. */
export interface RenderedFrame {
  rgb: Uint8Array;
  labels: Uint8Array;
}

function polygon(points: number, outer: number, inner: number, start: number): Point[] {
  const out: Point[] = [];
  const n = inner > 0 ? 2 * points : points;
  for (let i = 0; i < n; i++) {
    const r = inner > 0 && i % 2 === 1 ? inner : outer;
    const a = start + (2 * Math.PI * i) / n;
    out.push([r * Math.cos(a), r * Math.sin(a)]);
  }
  return out;
}

// Unit polygons (radius 1), pointing up.
const TRIANGLE = polygon(3, 1.1, 0, -Math.PI / 2).map(([x, y]): Point => [x, y + 0.15]);
const STAR = polygon(5, 1.15, 0.5, -Math.PI / 2);

function insidePolygon(x: number, y: number, poly: readonly Point[]): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i];
    const [xj, yj] = poly[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/**
 * Whether the point `(dx, dy)`, relative to a shape's centre and in units of its radius, is inside it.
 *
 * @example
 * ```ts
 * import { insideShape } from "./render.ts";
 * insideShape("circle", 0.5, 0.5); // true
 * insideShape("diamond", 0.6, 0.6); // false
 * ```
 */
export function insideShape(shape: Shape, dx: number, dy: number): boolean {
  switch (shape) {
    case "circle":
      return dx * dx + dy * dy <= 1;
    case "square":
      return Math.abs(dx) <= 0.85 && Math.abs(dy) <= 0.85;
    case "diamond":
      return Math.abs(dx) + Math.abs(dy) <= 1.1;
    case "triangle":
      return insidePolygon(dx, dy, TRIANGLE);
    case "star":
      return insidePolygon(dx, dy, STAR);
  }
}

/** Whether the texture darkens the point `(dx, dy)` (pixels relative to the object's centre). */
function textured(texture: Texture, dx: number, dy: number): boolean {
  switch (texture) {
    case "solid":
      return false;
    case "striped":
      return Math.floor((dx + dy + 1000) / 2.5) % 2 === 1;
    case "dotted": {
      const ux = ((dx + 1000) % 4) - 2;
      const uy = ((dy + 1000) % 4) - 2;
      return ux * ux + uy * uy < 1.3;
    }
  }
}

/**
 * The full silhouette of one sprite (row-major 0/1, `h * w`), ignoring every other object: what the
 * object would show alone.
 *
 * @example
 * ```ts
 * import { spriteMask } from "./render.ts";
 * const m = spriteMask({ shape: "square", colour: "red", texture: "solid", radius: 2, position: [3, 3] }, 6, 6);
 * m.reduce((a, b) => a + b, 0); // 16
 * ```
 */
export function spriteMask(sprite: Sprite, height: number, width: number): Uint8Array {
  const out = new Uint8Array(height * width);
  forEachPixel(sprite, height, width, (i) => out[i] = 1);
  return out;
}

function forEachPixel(
  sprite: Sprite,
  height: number,
  width: number,
  paint: (index: number, dx: number, dy: number) => void,
): void {
  const [cx, cy] = sprite.position;
  const r = sprite.radius;
  const reach = 1.2 * r + 1;
  const x0 = Math.max(0, Math.floor(cx - reach));
  const x1 = Math.min(width - 1, Math.ceil(cx + reach));
  const y0 = Math.max(0, Math.floor(cy - reach));
  const y1 = Math.min(height - 1, Math.ceil(cy + reach));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const dx = x + 0.5 - cx;
      const dy = y + 0.5 - cy;
      if (insideShape(sprite.shape, dx / r, dy / r)) paint(y * width + x, dx, dy);
    }
  }
}

function clampByte(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}

/**
 * Draws one frame: the background, then each sprite in order (later ones on top).
 */
export function renderFrame(canvas: Canvas, sprites: readonly Sprite[]): RenderedFrame {
  const { height, width, background } = canvas;
  if (sprites.length >= BACKGROUND) throw new Error(`at most ${BACKGROUND - 1} objects per frame`);
  const rgb = new Uint8Array(height * width * 3);
  const labels = new Uint8Array(height * width).fill(BACKGROUND);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const n = background.noise ? background.noise[i] : 0;
      const f = x / Math.max(1, width - 1) + (0.5 * y) / Math.max(1, height - 1);
      for (let c = 0; c < 3; c++) {
        rgb[3 * i + c] = clampByte(background.base[c] + f * background.gradient[c] + n);
      }
    }
  }
  sprites.forEach((sprite, k) => {
    const [r, g, b] = COLOURS[sprite.colour];
    forEachPixel(sprite, height, width, (i, dx, dy) => {
      const shade = textured(sprite.texture, dx, dy) ? 0.55 : 1;
      rgb[3 * i] = Math.round(r * shade);
      rgb[3 * i + 1] = Math.round(g * shade);
      rgb[3 * i + 2] = Math.round(b * shade);
      labels[i] = k;
    });
  });
  return { rgb, labels };
}

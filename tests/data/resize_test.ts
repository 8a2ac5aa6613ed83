import { assert, assertThrows } from "../assert.ts";
import { resizeBilinear, resizeNearest } from "../../core/data/resize.ts";
import { decodeImage, type ImageU8 } from "../../core/io/image.ts";

// Reference values written by Pillow (tests/fixtures/images/make_fixtures.py); every comparison is exact.
const FIXTURES = new URL("../fixtures/images/", import.meta.url);

interface Case {
  name: string;
  filter: "bilinear" | "nearest";
  height: number;
  width: number;
  channels: number;
  outHeight: number;
  outWidth: number;
  input: string;
  expected: string;
}

interface Fixture {
  pillow: string;
  cases: Case[];
  jpeg: {
    file: string;
    height: number;
    width: number;
    decodedSha256: string;
    resized: { filter: "bilinear" | "nearest"; outHeight: number; outWidth: number; sha256: string }[];
  };
}

const fixture: Fixture = JSON.parse(await Deno.readTextFile(new URL("pillow_resize.json", FIXTURES)));

function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

function firstDifference(a: Uint8Array, b: Uint8Array): string {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return `byte ${i}: got ${a[i]}, Pillow ${b[i]}`;
  }
  return `lengths ${a.length} vs ${b.length}`;
}

for (const c of fixture.cases) {
  Deno.test(`resize matches Pillow ${fixture.pillow} byte for byte: ${c.name}`, () => {
    const input: ImageU8 = {
      data: fromBase64(c.input),
      height: c.height,
      width: c.width,
      channels: c.channels,
    };
    const resize = c.filter === "bilinear" ? resizeBilinear : resizeNearest;
    const out = resize(input, c.outHeight, c.outWidth);
    const expected = fromBase64(c.expected);
    assert.deepStrictEqual([out.height, out.width, out.channels], [c.outHeight, c.outWidth, c.channels]);
    assert(
      out.data.length === expected.length && out.data.every((v, i) => v === expected[i]),
      firstDifference(out.data, expected),
    );
  });
}

Deno.test("JPEG frame: sharp decodes like PIL, and resizes of it equal Pillow's (SHA-256 of the bytes)", async () => {
  const j = fixture.jpeg;
  const img = await decodeImage(await Deno.readFile(new URL(j.file, FIXTURES)), j.file);
  assert.deepStrictEqual([img.height, img.width, img.channels], [j.height, j.width, 3]);
  assert.deepStrictEqual(await sha256(img.data), j.decodedSha256);
  for (const r of j.resized) {
    const out = (r.filter === "bilinear" ? resizeBilinear : resizeNearest)(img, r.outHeight, r.outWidth);
    assert.deepStrictEqual(await sha256(out.data), r.sha256, `${r.filter} to ${r.outHeight}x${r.outWidth}`);
  }
});

Deno.test("bilinear shrink averages (antialiasing) instead of picking samples", () => {
  // A 1-pixel checkerboard shrunk by 4 becomes flat grey with an antialiased filter.
  const h = 16, w = 16;
  const data = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[y * w + x] = (x + y) % 2 ? 255 : 0;
  const out = resizeBilinear({ data, height: h, width: w, channels: 1 }, 4, 4);
  for (const v of out.data) assert(v >= 120 && v <= 135, `expected ~128, got ${v}`);
});

Deno.test("same size returns an equal copy, not the input buffer", () => {
  const img: ImageU8 = { data: new Uint8Array([1, 2, 3, 4, 5, 6]), height: 1, width: 2, channels: 3 };
  for (const f of [resizeBilinear, resizeNearest]) {
    const out = f(img, 1, 2);
    assert.deepStrictEqual(Array.from(out.data), [1, 2, 3, 4, 5, 6]);
    assert(out.data !== img.data);
  }
});

Deno.test("bad sizes and data lengths are clear errors", () => {
  const img: ImageU8 = { data: new Uint8Array(5), height: 2, width: 2, channels: 1 };
  assertThrows(() => resizeBilinear(img, 3, 3), /resizeBilinear: image data has 5 bytes, expected 2x2x1 = 4/);
  const ok: ImageU8 = { data: new Uint8Array(4), height: 2, width: 2, channels: 1 };
  assertThrows(
    () => resizeNearest(ok, 0, 3),
    /resizeNearest: target size must be positive integers, got 0x3/,
  );
  assertThrows(() => resizeBilinear(ok, 2.5, 3), /positive integers/);
});

import { assert, assertRejects } from "../assert.ts";
import sharp from "sharp";
import {
  decodeImage,
  encodeJpeg,
  type ImageU8,
  readImage,
  readImageSize,
  writeJpeg,
} from "../../core/io/image.ts";

const deepEqual: typeof assert.deepStrictEqual = assert.deepStrictEqual;
const FIXTURES = new URL("../fixtures/images/", import.meta.url);

/** A smooth RGB test pattern with a sharp-edged square, the kind of content JPEG keeps well. */
function pattern(h: number, w: number): ImageU8 {
  const data = new Uint8Array(h * w * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      const inSquare = y >= h / 4 && y < h / 2 && x >= w / 4 && x < w / 2;
      data[i] = inSquare ? 220 : Math.round((x * 255) / (w - 1));
      data[i + 1] = inSquare ? 30 : Math.round((y * 255) / (h - 1));
      data[i + 2] = 100;
    }
  }
  return { data, height: h, width: w, channels: 3 };
}

function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

Deno.test("a JPEG we encode decodes back to the same size and nearly the same pixels", async () => {
  const img = pattern(48, 80);
  const jpeg = await encodeJpeg(img, { quality: 95 });
  deepEqual([jpeg[0], jpeg[1]], [0xff, 0xd8]);
  const back = await decodeImage(jpeg, "pattern.jpg");
  deepEqual([back.height, back.width, back.channels], [48, 80, 3]);
  const err = meanAbsDiff(back.data, img.data);
  assert(err < 2.5, `mean abs error ${err}`);
  // Lower quality loses more: the encoder honours the option.
  const rough = await decodeImage(await encodeJpeg(img, { quality: 10 }));
  assert(meanAbsDiff(rough.data, img.data) > err);
});

Deno.test("writeJpeg / readImage / readImageSize round trip through a file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/00000.jpg`;
    const img = pattern(30, 50);
    await writeJpeg(path, img);
    deepEqual(await readImageSize(path), { height: 30, width: 50 });
    const back = await readImage(path);
    deepEqual([back.height, back.width, back.channels], [30, 50, 3]);
    assert(meanAbsDiff(back.data, img.data) < 4);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gray JPEG and RGBA PNG decode to RGB like PIL's convert('RGB')", async () => {
  const gray: ImageU8 = {
    data: new Uint8Array(16 * 16).map((_, i) => i),
    height: 16,
    width: 16,
    channels: 1,
  };
  const g = await decodeImage(await encodeJpeg(gray, { quality: 100 }));
  deepEqual(g.channels, 3);
  for (let p = 0; p < 256; p++) {
    assert(g.data[p * 3] === g.data[p * 3 + 1] && g.data[p * 3] === g.data[p * 3 + 2]);
  }
  // PNG is lossless: the RGB samples come back exactly and the alpha channel is dropped, not blended.
  const rgba = new Uint8Array(4 * 3 * 4).map((_, i) => (i * 37) % 256);
  const png = await sharp(rgba, { raw: { width: 4, height: 3, channels: 4 } }).png().toBuffer();
  const decoded = await decodeImage(new Uint8Array(png), "rgba.png");
  const expected = Array.from({ length: 12 }, (_, p) => [rgba[p * 4], rgba[p * 4 + 1], rgba[p * 4 + 2]])
    .flat();
  deepEqual(Array.from(decoded.data), expected);
});

Deno.test("EXIF orientation is applied, as detectron2's read_image does", async () => {
  // Left half red, right half blue, stored 16 rows x 32 columns with orientation 6 (display rotated 90° CW):
  // the displayed image is 32 x 16 with red on top.
  const img: ImageU8 = { data: new Uint8Array(16 * 32 * 3), height: 16, width: 32, channels: 3 };
  for (let i = 0; i < 16 * 32; i++) img.data.set((i % 32) < 16 ? [255, 0, 0] : [0, 0, 255], i * 3);
  const jpeg = await sharp(img.data, { raw: { width: 32, height: 16, channels: 3 } })
    .jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
  const out = await decodeImage(new Uint8Array(jpeg));
  deepEqual([out.height, out.width], [32, 16]);
  const top = out.data.subarray(4 * 16 * 3, 5 * 16 * 3), bottom = out.data.subarray(28 * 16 * 3, 29 * 16 * 3);
  assert(
    top[0] > 200 && top[2] < 60 && bottom[0] < 60 && bottom[2] > 200,
    `${top.slice(0, 3)} ${bottom.slice(0, 3)}`,
  );
});

Deno.test("sharp decodes the fixture JPEG to exactly PIL's bytes", async () => {
  const fixture = JSON.parse(await Deno.readTextFile(new URL("pillow_resize.json", FIXTURES)));
  const img = await readImage(new URL(fixture.jpeg.file, FIXTURES).pathname);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", img.data as Uint8Array<ArrayBuffer>));
  deepEqual(Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join(""), fixture.jpeg.decodedSha256);
});

Deno.test("unreadable files are errors naming the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const missing = `${dir}/nope/00007.jpg`;
    await assertRejects(() => readImage(missing), `cannot read image ${missing}`);
    await assertRejects(() => readImageSize(missing), `cannot read image ${missing}`);
    const junk = `${dir}/00008.jpg`;
    await Deno.writeTextFile(junk, "this is not a JPEG");
    await assertRejects(() => readImage(junk), `cannot decode image ${junk}`);
    const truncated = `${dir}/00009.jpg`;
    await Deno.writeFile(truncated, (await encodeJpeg(pattern(40, 40))).subarray(0, 200));
    await assertRejects(() => readImage(truncated), `cannot decode image ${truncated}`);
    await assertRejects(
      () => writeJpeg(`${dir}/no/such/dir/x.jpg`, pattern(4, 4)),
      `cannot write image ${dir}/no/such/dir/x.jpg`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("encodeJpeg rejects images it cannot encode", async () => {
  const two: ImageU8 = { data: new Uint8Array(8), height: 2, width: 2, channels: 2 };
  await assertRejects(() => encodeJpeg(two), "needs 1 or 3 channels, got 2");
  await assertRejects(
    () => encodeJpeg(pattern(4, 4), { quality: 0 }),
    "quality must be an integer in 1..100",
  );
  const short: ImageU8 = { data: new Uint8Array(5), height: 2, width: 2, channels: 1 };
  await assertRejects(() => encodeJpeg(short), "data has 5 bytes, expected 4");
});

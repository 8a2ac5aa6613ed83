/**
 * The PNG mask codec: round trips, every fixture prediction against sharp (libvips/libpng) as an
 * independent decoder, every color type / bit depth / filter / Adam7 against hand-built files and the
 * cv2 IMREAD_GRAYSCALE conversion rules, corrupt files, and decode speed against sharp.
 * @module
 */
import { fileURLToPath } from "node:url";
import { deflateSync } from "node:zlib";
import sharp from "sharp";
import { crc32, decodePng, encodeMaskPng, encodePng } from "../../core/io/png.ts";
import { Generator } from "../../core/random.ts";
import { assert, assertEquals, assertThrows } from "../assert.ts";

const FIXTURES = Deno.env.get("DSHMP_EVAL_FIXTURES") ??
  fileURLToPath(new URL("../../../shared/fixtures/mevis_eval", import.meta.url));

function fixturePngs(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of Deno.readDirSync(d)) {
      if (e.isDirectory) walk(`${d}/${e.name}`);
      else if (e.name.endsWith(".png")) out.push(`${d}/${e.name}`);
    }
  };
  walk(`${FIXTURES}/pred`);
  return out.sort();
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  v.setUint32(8 + data.length, crc32(out, 4, 8 + data.length));
  return out;
}

/** A PNG from unfiltered scanline bytes; row y uses filter y % 5, applied here the forward way. */
function buildPng(
  width: number,
  height: number,
  depth: number,
  colorType: number,
  rows: Uint8Array[],
  palette?: Uint8Array,
) {
  const channels = ({ 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as Record<number, number>)[colorType];
  const bpp = Math.max(1, (channels * depth) >> 3);
  const stride = rows[0].length;
  const raw = new Uint8Array(height * (stride + 1));
  let prev: Uint8Array = new Uint8Array(stride);
  rows.forEach((row, y) => {
    const f = y % 5;
    raw[y * (stride + 1)] = f;
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? row[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
      const p = a + b - c;
      const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      const pred = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][f];
      raw[y * (stride + 1) + 1 + i] = (row[i] - pred) & 255;
    }
    prev = row;
  });
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, width);
  new DataView(ihdr.buffer).setUint32(4, height);
  ihdr[8] = depth;
  ihdr[9] = colorType;
  const idat = deflateSync(raw);
  // Split the data over two IDAT chunks and add an ancillary chunk, as some writers do.
  const parts = [
    chunk("IHDR", ihdr),
    ...(palette ? [chunk("PLTE", palette)] : []),
    chunk("tEXt", new TextEncoder().encode("Comment\0test")),
    chunk("IDAT", idat.subarray(0, idat.length >> 1)),
    chunk("IDAT", idat.subarray(idat.length >> 1)),
    chunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(8 + parts.reduce((s, p) => s + p.length, 0));
  out.set([137, 80, 78, 71, 13, 10, 26, 10]);
  let o = 8;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const gray8 = (r: number, g: number, b: number) =>
  r === g && r === b ? r : (9797 * r + 19234 * g + 3737 * b) >> 15;

Deno.test("png: gray images and masks round-trip", () => {
  const g = new Generator(3);
  for (const [w, h] of [[1, 1], [5, 3], [211, 9], [64, 48]]) {
    const img = new Uint8Array(w * h).map(() => Math.floor(g.uniform() * 256));
    const back = decodePng(encodePng(img, w, h));
    assertEquals([back.width, back.height], [w, h]);
    assertEquals(back.data, img);
  }
  assertEquals(decodePng(encodeMaskPng([0, 1, 7, 0], 2, 2)).data, new Uint8Array([0, 255, 255, 0]));
  assertThrows(() => encodePng(new Uint8Array(5), 2, 2), /5 bytes given for a 2x2 image/);
});

Deno.test("png: every fixture prediction decodes as sharp decodes it", async () => {
  const files = fixturePngs();
  assert(files.length > 400, `only ${files.length} fixture PNGs`);
  for (const f of files) {
    const bytes = Deno.readFileSync(f);
    const mine = decodePng(bytes, f);
    const { data, info } = await sharp(bytes).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    assertEquals([info.width, info.height, info.channels], [mine.width, mine.height, 1], f);
    assert(Buffer.compare(data, Buffer.from(mine.data)) === 0, `pixels differ in ${f}`);
  }
});

Deno.test("png: color types, bit depths, filters and interlacing follow cv2's gray conversion", async () => {
  const g = new Generator(4);
  const [w, h] = [11, 10];
  const rnd = (n: number, max: number) => Array.from({ length: n }, () => Math.floor(g.uniform() * max));
  // Gray at 1, 2, 4, 8 bits: scaled to 0..255; 16 bits: the high byte.
  for (const depth of [1, 2, 4, 8, 16]) {
    const values = rnd(w * h, 2 ** depth);
    const rows = Array.from({ length: h }, (_, y) => {
      const row = new Uint8Array(Math.ceil((w * depth) / 8));
      for (let x = 0; x < w; x++) {
        const v = values[y * w + x];
        if (depth === 16) {
          row[2 * x] = v >> 8;
          row[2 * x + 1] = v & 255;
        } else if (depth === 8) row[x] = v;
        else row[(x * depth) >> 3] |= v << (8 - depth - ((x * depth) & 7));
      }
      return row;
    });
    const want = values.map((v) => depth === 16 ? v >> 8 : v * (255 / (2 ** depth - 1)));
    assertEquals([...decodePng(buildPng(w, h, depth, 0, rows)).data], want, `gray ${depth}-bit`);
  }
  // Gray + alpha and RGBA at 8 and 16 bits, RGB at 16 bits: alpha dropped, libpng's weights.
  for (const [ct, c] of [[4, 2], [6, 4], [2, 3]]) {
    for (const depth of [8, 16]) {
      const samples = rnd(w * h * c, 2 ** depth);
      // Some pixels with R = G = B, which libpng passes through unchanged.
      if (c >= 3) {
        for (let i = 0; i < w * h; i += 3) samples[i * c + 1] = samples[i * c + 2] = samples[i * c];
      }
      const bytes = depth / 8;
      const rows = Array.from({ length: h }, (_, y) => {
        const row = new Uint8Array(w * c * bytes);
        for (let i = 0; i < w * c; i++) {
          const v = samples[y * w * c + i];
          if (bytes === 2) {
            row[2 * i] = v >> 8;
            row[2 * i + 1] = v & 255;
          } else row[i] = v;
        }
        return row;
      });
      const want = Array.from({ length: w * h }, (_, p) => {
        const s = samples.slice(p * c, p * c + c);
        if (c === 2) return depth === 16 ? s[0] >> 8 : s[0];
        if (depth === 8) return gray8(s[0], s[1], s[2]);
        return ((9797 * s[0] + 19234 * s[1] + 3737 * s[2] + 16384) >>> 15) >> 8;
      });
      assertEquals(
        [...decodePng(buildPng(w, h, depth, ct, rows)).data],
        want,
        `color type ${ct}, ${depth}-bit`,
      );
    }
  }
  // Palette at 1..8 bits: entries converted as RGB.
  for (const depth of [1, 2, 4, 8]) {
    const entries = 2 ** depth;
    const palette = new Uint8Array(rnd(entries * 3, 256));
    const idx = rnd(w * h, entries);
    const rows = Array.from({ length: h }, (_, y) => {
      const row = new Uint8Array(Math.ceil((w * depth) / 8));
      for (let x = 0; x < w; x++) row[(x * depth) >> 3] |= idx[y * w + x] << (8 - depth - ((x * depth) & 7));
      return row;
    });
    const want = idx.map((i) => gray8(palette[3 * i], palette[3 * i + 1], palette[3 * i + 2]));
    assertEquals([...decodePng(buildPng(w, h, depth, 3, rows, palette)).data], want, `palette ${depth}-bit`);
    if (depth === 2) {
      assertThrows(
        () => decodePng(buildPng(w, h, depth, 3, rows, palette.subarray(0, 3)), "pal.png"),
        /pal\.png: palette index \d is out of range \(1 entries\)/,
      );
    }
  }
  // Adam7 interlaced RGB and 8-bit palette files from libvips, checked against sharp's own RGB decode.
  const rgb = new Uint8Array(rnd(37 * 23 * 3, 256));
  for (const opts of [{ progressive: true }, { palette: true }, { progressive: true, palette: true }]) {
    const png = await sharp(rgb, { raw: { width: 37, height: 23, channels: 3 } }).png(opts).toBuffer();
    const bytes = new Uint8Array(png);
    if (opts.progressive) assertEquals(bytes[28], 1, "libvips wrote an interlaced file");
    const ref = await sharp(png).removeAlpha().raw().toBuffer();
    const want = Array.from({ length: 37 * 23 }, (_, p) => gray8(ref[3 * p], ref[3 * p + 1], ref[3 * p + 2]));
    assertEquals([...decodePng(bytes).data], want, JSON.stringify(opts));
  }
});

Deno.test("png: corrupt files are rejected with the file name", () => {
  const good = encodePng(new Uint8Array([0, 255, 255, 0]), 2, 2);
  assertThrows(() => decodePng(new Uint8Array([1, 2, 3]), "a.png"), /a\.png: not a PNG file/);
  const badCrc = good.slice();
  badCrc[20] ^= 1; // inside IHDR
  assertThrows(() => decodePng(badCrc, "b.png"), /b\.png: CRC mismatch in chunk IHDR/);
  assertThrows(() => decodePng(good.subarray(0, good.length - 12), "c.png"), /c\.png: truncated file/);
  // Swap the image data for rows with filter type 7.
  const ihdr = good.subarray(8, 33);
  const withFilter = (f: number) => {
    const idat = chunk("IDAT", deflateSync(new Uint8Array([0, 1, 2, f, 3, 4])));
    const out = new Uint8Array(33 + idat.length + 12);
    out.set(good.subarray(0, 8));
    out.set(ihdr, 8);
    out.set(idat, 33);
    out.set(chunk("IEND", new Uint8Array(0)), 33 + idat.length);
    return out;
  };
  assertEquals(decodePng(withFilter(2)).data, new Uint8Array([1, 2, 4, 6])); // "up" adds the row above
  assertThrows(() => decodePng(withFilter(7), "d.png"), /d\.png: unknown filter type 7 on row 1/);
  const short = chunk("IDAT", deflateSync(new Uint8Array([0, 1, 2])));
  const truncatedData = new Uint8Array([
    ...good.subarray(0, 33),
    ...short,
    ...chunk("IEND", new Uint8Array(0)),
  ]);
  assertThrows(() => decodePng(truncatedData, "e.png"), /e\.png: image data is shorter/);
});

Deno.test("png: decode speed against sharp on the fixture predictions", async () => {
  const bufs = fixturePngs().map((f) => Deno.readFileSync(f));
  let pixels = 0;
  let t = performance.now();
  for (const b of bufs) {
    const img = decodePng(b);
    pixels += img.width * img.height;
  }
  const mine = performance.now() - t;
  t = performance.now();
  for (const b of bufs) await sharp(b).raw().toBuffer();
  const theirs = performance.now() - t;
  console.log(
    `png decode, ${bufs.length} files / ${(pixels / 1e6).toFixed(1)} MP: own ${
      (pixels / 1e3 / mine).toFixed(0)
    } MP/s, ` +
      `sharp ${(pixels / 1e3 / theirs).toFixed(0)} MP/s`,
  );
  assert(pixels > 70e6);
});

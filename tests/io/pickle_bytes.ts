/**
 * Test helpers that write pickle bytes by hand, so malformed and edge-case pickles live in the tests
 * (no files made with Python).
 * @module
 */

export type Part = number | string | Uint8Array;

/** Pickle bytes from parts: a number is one byte, a string its latin-1 bytes, a Uint8Array itself. */
export function p(...parts: Part[]): Uint8Array {
  const out: number[] = [];
  for (const part of parts) {
    if (typeof part === "number") out.push(part);
    else if (typeof part === "string") { for (const c of part) out.push(c.charCodeAt(0)); }
    else out.push(...part);
  }
  return Uint8Array.from(out);
}
/** `n` as `bytes` little-endian two's-complement bytes. */
export const le = (n: number, bytes: number) =>
  Uint8Array.from({ length: bytes }, (_, i) => Number((BigInt(n) >> BigInt(8 * i)) & 0xffn));
/** UTF-8 bytes of `s`. */
export const utf8 = (s: string) => new TextEncoder().encode(s);
/** SHORT_BINUNICODE s */
export const su = (s: string) => p(0x8c, utf8(s).length, utf8(s));
/** BINUNICODE s */
export const bu = (s: string) => p("X", le(utf8(s).length, 4), utf8(s));
/** A float64, big-endian (BINFLOAT's payload). */
export const f64be = (x: number) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, x, false);
  return b;
};

/**
 * The BUILD of a numpy dtype's state `(3, order, None, None, None, -1, -1, 0)`, to follow the dtype's REDUCE;
 * `order` is the pickled byte-order string.
 */
export function dtypeState(order: Part): Uint8Array {
  return p("(", "K", 3, order, "N", "N", "N", "J", le(-1, 4), "J", le(-1, 4), "K", 0, "t", "b");
}

/**
 * A numpy array in its reduce form (`_reconstruct(ndarray, (0,), b'b')` then BUILD with
 * `(1, shape, dtype, fortran, data)`), without a protocol header or STOP, so it can be embedded.
 * `data` is the pickled data argument: raw bytes (`"B"` + length + bytes) or `_codecs.encode(...)`.
 */
export function ndarrayReduce(
  opts: { module: string; dtype: string; order: string; shape: number[]; fortran: boolean; data: Part },
): Uint8Array {
  return p(
    "c",
    `${opts.module}\n_reconstruct\n`,
    "c",
    "numpy\nndarray\n",
    "K",
    0,
    0x85,
    "C",
    1,
    "b",
    0x87,
    "R",
    "(",
    "K",
    1,
    "(",
    ...opts.shape.flatMap((d): Part[] => ["K", d]),
    "t",
    "c",
    "numpy\ndtype\n",
    bu(opts.dtype),
    0x89,
    0x88,
    0x87,
    "R",
    dtypeState(bu(opts.order)),
    opts.fortran ? 0x88 : 0x89,
    opts.data,
    "t",
    "b",
  );
}

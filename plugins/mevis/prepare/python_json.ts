/**
 * JSON read and written the way Python's `json.load` / `json.dump(obj, f, indent=4)` do, so that files
 * rewritten from MeViS metadata come out byte for byte like the original tool's.
 *
 * `JSON.parse` is not enough: it moves integer-like object keys to the front (Python keeps file order,
 * and the order decides expression numbering), and it forgets whether `1.0` was a float. Objects are
 * therefore parsed into `Map`s (insertion order, a repeated key keeps its first place and takes the
 * last value, as in a Python dict), floats into {@link PyFloat}, and integers beyond 2^53 into bigints.
 *
 * @example
 * ```ts
 * import { dumpPythonJson, parsePythonJson } from "./python_json.ts";
 * const v = parsePythonJson('{"10": 1.0, "2": "é"}', "example.json");
 * dumpPythonJson(v); // '{\n    "10": 1.0,\n    "2": "\\u00e9"\n}'
 * ```
 * @module
 */

/** A float as Python holds it: printed with `repr` (`1.0`, `1e-05`), never as an int. */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** A JSON value with Python's distinctions kept: ordered objects, ints apart from floats. */
export type PyJson = null | boolean | number | bigint | PyFloat | string | PyJson[] | PyObject;

/** A JSON object in file order. */
export type PyObject = Map<string, PyJson>;

/** Whether `v` is a JSON object (as opposed to a list or a scalar). */
export function isPyObject(v: PyJson | undefined): v is PyObject {
  return v instanceof Map;
}

/**
 * Parses JSON text like Python's `json.loads`, including its `NaN` / `Infinity` extensions.
 * Errors name `source` with the line and column.
 *
 * @example
 * ```ts
 * import { parsePythonJson } from "./python_json.ts";
 * const v = parsePythonJson('{"b": 1, "a": [2.5]}', "x.json") as Map<string, unknown>;
 * [...v.keys()]; // ["b", "a"]
 * ```
 */
export function parsePythonJson(text: string, source: string): PyJson {
  let pos = 0;

  const fail = (what: string): never => {
    const before = text.slice(0, pos).split("\n");
    throw new Error(
      `${source}: invalid JSON, ${what} at line ${before.length} column ${
        before[before.length - 1].length + 1
      }`,
    );
  };
  const skip = () => {
    while (pos < text.length) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
      else break;
    }
  };
  const literal = (word: string, value: PyJson): PyJson => {
    if (text.startsWith(word, pos)) {
      pos += word.length;
      return value;
    }
    return fail(`unexpected "${text[pos]}"`);
  };

  const parseString = (): string => {
    pos++; // opening quote
    let out = "";
    let start = pos;
    while (true) {
      if (pos >= text.length) fail("unterminated string");
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        out += text.slice(start, pos);
        pos++;
        return out;
      }
      if (c < 0x20) fail("control character in string");
      if (c !== 0x5c) {
        pos++;
        continue;
      }
      out += text.slice(start, pos);
      const e = text[pos + 1];
      pos += 2;
      switch (e) {
        case '"':
        case "\\":
        case "/":
          out += e;
          break;
        case "b":
          out += "\b";
          break;
        case "f":
          out += "\f";
          break;
        case "n":
          out += "\n";
          break;
        case "r":
          out += "\r";
          break;
        case "t":
          out += "\t";
          break;
        case "u": {
          const hex = text.slice(pos, pos + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail("bad \\u escape");
          out += String.fromCharCode(parseInt(hex, 16));
          pos += 4;
          break;
        }
        default:
          pos -= 2;
          fail("bad escape");
      }
      start = pos;
    }
  };

  const number = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?/y;
  const parseNumber = (): PyJson => {
    if (text.startsWith("-Infinity", pos)) return literal("-Infinity", new PyFloat(-Infinity));
    number.lastIndex = pos;
    const m = number.exec(text);
    if (!m) return fail(`unexpected "${text[pos]}"`);
    pos += m[0].length;
    if (m[1] !== undefined || m[2] !== undefined) return new PyFloat(Number(m[0]));
    const n = Number(m[0]);
    return Number.isSafeInteger(n) ? n : BigInt(m[0]);
  };

  const parseValue = (depth: number): PyJson => {
    if (depth > 10000) fail("nesting too deep");
    skip();
    const c = text[pos];
    if (c === "{") {
      pos++;
      const obj: PyObject = new Map();
      skip();
      if (text[pos] === "}") {
        pos++;
        return obj;
      }
      while (true) {
        skip();
        if (text[pos] !== '"') fail("expected a property name");
        const key = parseString();
        skip();
        if (text[pos] !== ":") fail('expected ":"');
        pos++;
        obj.set(key, parseValue(depth + 1));
        skip();
        if (text[pos] === ",") pos++;
        else if (text[pos] === "}") {
          pos++;
          return obj;
        } else fail('expected "," or "}"');
      }
    }
    if (c === "[") {
      pos++;
      const list: PyJson[] = [];
      skip();
      if (text[pos] === "]") {
        pos++;
        return list;
      }
      while (true) {
        list.push(parseValue(depth + 1));
        skip();
        if (text[pos] === ",") pos++;
        else if (text[pos] === "]") {
          pos++;
          return list;
        } else fail('expected "," or "]"');
      }
    }
    if (c === '"') return parseString();
    if (c === "t") return literal("true", true);
    if (c === "f") return literal("false", false);
    if (c === "n") return literal("null", null);
    if (c === "N") return literal("NaN", new PyFloat(NaN));
    if (c === "I") return literal("Infinity", new PyFloat(Infinity));
    if (c === undefined) return fail("unexpected end of input");
    return parseNumber();
  };

  const value = parseValue(0);
  skip();
  if (pos < text.length) fail("extra data");
  return value;
}

/**
 * Python's `repr(float)`: the shortest round-trip digits, fixed notation for exponents -4..15 (always
 * with a fractional part), scientific with a two-digit exponent otherwise.
 *
 * @example
 * ```ts
 * import { pythonFloatRepr } from "./python_json.ts";
 * pythonFloatRepr(1); // "1.0"
 * pythonFloatRepr(0.00001); // "1e-05"
 * ```
 */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (x === Infinity) return "Infinity";
  if (x === -Infinity) return "-Infinity";
  const sign = x < 0 || Object.is(x, -0) ? "-" : "";
  const [mant, e] = Math.abs(x).toExponential().split("e");
  const digits = mant.replace(".", "");
  const exp = Number(e);
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const ae = Math.abs(exp);
    return `${sign}${m}e${exp < 0 ? "-" : "+"}${ae < 10 ? "0" : ""}${ae}`;
  }
  if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
  const int = digits.slice(0, exp + 1).padEnd(exp + 1, "0");
  const frac = digits.slice(exp + 1);
  return `${sign}${int}.${frac || "0"}`;
}

/** A string literal as `json.dumps` writes it with `ensure_ascii=True`. */
function quote(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += "\\\\";
    else if (c >= 0x20 && c < 0x7f) out += s[i];
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else if (c === 0x08) out += "\\b";
    else if (c === 0x0c) out += "\\f";
    else out += "\\u" + c.toString(16).padStart(4, "0");
  }
  return out + '"';
}

/**
 * Serializes like Python's `json.dump(value, f, indent=indent)` (default separators, ASCII only, no
 * trailing newline). JavaScript numbers must be integers; floats go in as {@link PyFloat}.
 *
 * @example
 * ```ts
 * import { dumpPythonJson } from "./python_json.ts";
 * dumpPythonJson(new Map([["0", [1, 2]], ["1", []]]));
 * // '{\n    "0": [\n        1,\n        2\n    ],\n    "1": []\n}'
 * ```
 */
export function dumpPythonJson(value: PyJson, indent = 4): string {
  const parts: string[] = [];
  const write = (v: PyJson, level: number): void => {
    if (v === null) parts.push("null");
    else if (typeof v === "boolean") parts.push(v ? "true" : "false");
    else if (typeof v === "string") parts.push(quote(v));
    else if (typeof v === "bigint") parts.push(String(v));
    else if (typeof v === "number") {
      if (!Number.isInteger(v)) {
        throw new Error(`dumpPythonJson: ${v} is not an integer; wrap floats in PyFloat`);
      }
      parts.push(Object.is(v, -0) ? "0" : String(v));
    } else if (v instanceof PyFloat) parts.push(pythonFloatRepr(v.value));
    else if (Array.isArray(v)) {
      if (v.length === 0) return void parts.push("[]");
      const pad = "\n" + " ".repeat(indent * (level + 1));
      parts.push("[");
      v.forEach((item, i) => {
        parts.push(i === 0 ? pad : "," + pad);
        write(item, level + 1);
      });
      parts.push("\n" + " ".repeat(indent * level) + "]");
    } else {
      if (v.size === 0) return void parts.push("{}");
      const pad = "\n" + " ".repeat(indent * (level + 1));
      parts.push("{");
      let first = true;
      for (const [k, item] of v) {
        parts.push((first ? pad : "," + pad) + quote(k) + ": ");
        first = false;
        write(item, level + 1);
      }
      parts.push("\n" + " ".repeat(indent * level) + "}");
    }
  };
  write(value, 0);
  return parts.join("");
}

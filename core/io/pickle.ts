/**
 * A Python pickle reader (protocols 0 to 5) that never executes anything. It interprets the opcode
 * stream as a stack machine and builds JavaScript values; a GLOBAL (a reference to a Python callable
 * or class) resolves only through an allow-list of reconstructors the caller passes in, so a pickle
 * naming `os.system` or `builtins.eval` is an error that names the global and its byte offset.
 *
 * Python values map to: None → `null`, bool → boolean, int → number (bigint beyond 2^53), float →
 * number, str → string, bytes / bytearray → Uint8Array (a view into the input), list and tuple →
 * Array, dict → Map, set / frozenset → Set. Persistent ids (PERSID, BINPERSID) go to the caller's
 * `persistentLoad`.
 *
 * Ready-made allow-lists: {@link BUILTIN_GLOBALS} (OrderedDict, `_codecs.encode`, set, ...) and
 * {@link NUMPY_GLOBALS} (numpy arrays, numpy 1 and 2 module names, turned into {@link NumpyArray}s:
 * C-order typed data with a shape, Fortran-ordered arrays transposed into C order).
 *
 * @example
 * ```ts
 * import { BUILTIN_GLOBALS, NUMPY_GLOBALS, unpickle } from "./pickle.ts";
 * const value = unpickle(await Deno.readFile("model.pkl"), { globals: { ...BUILTIN_GLOBALS, ...NUMPY_GLOBALS } });
 * ```
 * @module
 */
import {
  decodeTensorData,
  dtypeSize,
  type NamedTensor,
  numelOf,
  type SafeDType,
  type TensorData,
} from "./safetensors.ts";

/** A malformed pickle, or one that needs something not allowed; the message names the byte offset. */
export class PickleError extends Error {
  override name = "PickleError";
}

/** Objects that accept BUILD (Python's `__setstate__`) implement this symbol. */
export const SET_STATE: unique symbol = Symbol("pickle.setState");

/** An object that BUILD can update. */
export interface Stateful {
  [SET_STATE](state: unknown): void;
}

/** How an allowed global behaves. Neither function may have side effects beyond building its result. */
export interface PickleGlobal {
  /** `f(*args)`: REDUCE, and NEWOBJ / INST / OBJ when `construct` is absent. */
  call?(args: unknown[]): unknown;
  /** `cls.__new__(cls, *args, **kwargs)`: NEWOBJ, NEWOBJ_EX, INST and OBJ. */
  construct?(args: unknown[], kwargs: Map<unknown, unknown>): unknown;
}

/** An allow-list: `"module.name"` (e.g. `"collections.OrderedDict"`) → behaviour. */
export type PickleGlobals = Readonly<Record<string, PickleGlobal>>;

/** A resolved global as it sits on the stack or inside values (e.g. a storage class in a torch pid). */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string, readonly impl: PickleGlobal) {}
  /** `module.name`. */
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** An instance of an opaque class (see {@link opaqueGlobal}): its class name, arguments and state. */
export class PyObject implements Stateful {
  state: unknown = undefined;
  constructor(readonly className: string, readonly args: unknown[]) {}
  [SET_STATE](state: unknown): void {
    this.state = state;
  }
}

/**
 * An allow-list entry that records instances of `className` as {@link PyObject}s instead of
 * rebuilding them: for harmless classes whose contents you want to read (e.g. `argparse.Namespace`).
 *
 * @example
 * ```ts
 * const globals = { ...BUILTIN_GLOBALS, "argparse.Namespace": opaqueGlobal("argparse.Namespace") };
 * ```
 */
export function opaqueGlobal(className: string): PickleGlobal {
  return {
    call: (args) => new PyObject(className, args),
    construct: (args) => new PyObject(className, args),
  };
}

/** Options of {@link unpickle}. */
export interface UnpickleOptions {
  /** The reconstructors a GLOBAL may name; anything else is an error. Default: none. */
  globals?: PickleGlobals;
  /** Resolves a persistent id (the tuple of PERSID / BINPERSID); without it those opcodes are errors. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Out-of-band buffers for protocol 5's NEXT_BUFFER, in order. */
  buffers?: Iterable<Uint8Array>;
  /** Where the pickle starts in `bytes` (default 0). */
  offset?: number;
  /** Names the input in error messages. */
  source?: string;
}

/**
 * Unpickles one pickle from `bytes` and returns its value. Bytes after the STOP opcode are ignored,
 * as Python's `pickle.loads` does; {@link unpickleAt} also returns where the pickle ended.
 *
 * @example
 * ```ts
 * unpickle(new Uint8Array([0x80, 0x02, 0x4b, 0x2a, 0x2e])); // 42
 * ```
 */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions = {}): unknown {
  return unpickleAt(bytes, options).value;
}

/**
 * Unpickles one pickle starting at `options.offset` and returns its value and the offset just past
 * its STOP opcode: for files that hold several pickles back to back (legacy `torch.save`).
 *
 * @example
 * ```ts
 * const first = unpickleAt(bytes);
 * const second = unpickleAt(bytes, { offset: first.end });
 * ```
 */
export function unpickleAt(
  bytes: Uint8Array,
  options: UnpickleOptions = {},
): { value: unknown; end: number } {
  return new Machine(bytes, options).run();
}

/**
 * Calls an allowed global as REDUCE would: for reconstructors that receive another global as an
 * argument (e.g. `torch._tensor._rebuild_from_type_v2`).
 */
export function callGlobal(fn: unknown, args: unknown[]): unknown {
  if (!(fn instanceof PyGlobal)) throw new PickleError(`cannot call ${describe(fn)}: not an allowed global`);
  if (!fn.impl.call) throw new PickleError(`${fn.qualifiedName} cannot be called`);
  return fn.impl.call(args);
}

const attributes = new WeakMap<object, unknown>();

/** The state BUILD gave a dict (e.g. a torch state dict's `_metadata`), if any. */
export function pickleAttributes(dict: Map<unknown, unknown>): unknown {
  return attributes.get(dict);
}

// Opcodes, by protocol of introduction (Python's Lib/pickle.py names).
const OP = {
  MARK: 0x28, // (
  STOP: 0x2e, // .
  POP: 0x30, // 0
  POP_MARK: 0x31, // 1
  DUP: 0x32, // 2
  FLOAT: 0x46, // F
  INT: 0x49, // I
  BININT: 0x4a, // J
  BININT1: 0x4b, // K
  LONG: 0x4c, // L
  BININT2: 0x4d, // M
  NONE: 0x4e, // N
  PERSID: 0x50, // P
  BINPERSID: 0x51, // Q
  REDUCE: 0x52, // R
  STRING: 0x53, // S
  BINSTRING: 0x54, // T
  SHORT_BINSTRING: 0x55, // U
  UNICODE: 0x56, // V
  BINUNICODE: 0x58, // X
  APPEND: 0x61, // a
  BUILD: 0x62, // b
  GLOBAL: 0x63, // c
  DICT: 0x64, // d
  EMPTY_DICT: 0x7d, // }
  APPENDS: 0x65, // e
  GET: 0x67, // g
  BINGET: 0x68, // h
  INST: 0x69, // i
  LONG_BINGET: 0x6a, // j
  LIST: 0x6c, // l
  EMPTY_LIST: 0x5d, // ]
  OBJ: 0x6f, // o
  PUT: 0x70, // p
  BINPUT: 0x71, // q
  LONG_BINPUT: 0x72, // r
  SETITEM: 0x73, // s
  TUPLE: 0x74, // t
  EMPTY_TUPLE: 0x29, // )
  SETITEMS: 0x75, // u
  BINFLOAT: 0x47, // G
  // protocol 2
  PROTO: 0x80,
  NEWOBJ: 0x81,
  EXT1: 0x82,
  EXT2: 0x83,
  EXT4: 0x84,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  LONG1: 0x8a,
  LONG4: 0x8b,
  // protocol 3
  BINBYTES: 0x42, // B
  SHORT_BINBYTES: 0x43, // C
  // protocol 4
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE8: 0x8d,
  BINBYTES8: 0x8e,
  EMPTY_SET: 0x8f,
  ADDITEMS: 0x90,
  FROZENSET: 0x91,
  NEWOBJ_EX: 0x92,
  STACK_GLOBAL: 0x93,
  MEMOIZE: 0x94,
  FRAME: 0x95,
  // protocol 5
  BYTEARRAY8: 0x96,
  NEXT_BUFFER: 0x97,
  READONLY_BUFFER: 0x98,
} as const;

const OP_NAME = new Map<number, string>(Object.entries(OP).map(([k, v]) => [v, k]));

// Python 2 module names that Python 3's unpickler maps by default (fix_imports).
const PY2_MODULES: Record<string, string> = { __builtin__: "builtins", copy_reg: "copyreg" };

const utf8 = new TextDecoder("utf-8", { fatal: true });

class Machine {
  private pos: number;
  private opStart = 0;
  private stack: unknown[] = [];
  private readonly marks: unknown[][] = [];
  private readonly memo = new Map<number, unknown>();
  private readonly view: DataView;
  private readonly buffers: Iterator<Uint8Array> | undefined;
  private readonly source: string;

  constructor(private readonly bytes: Uint8Array, private readonly options: UnpickleOptions) {
    this.pos = options.offset ?? 0;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.buffers = options.buffers?.[Symbol.iterator]();
    this.source = options.source ? `${options.source}: ` : "";
  }

  private fail(msg: string): never {
    const op = this.bytes[this.opStart];
    const name = OP_NAME.get(op) ?? `0x${op?.toString(16)}`;
    throw new PickleError(`${this.source}pickle ${msg} (opcode ${name} at byte offset ${this.opStart})`);
  }

  private need(n: number): number {
    const at = this.pos;
    if (n > this.bytes.length - at) {
      this.fail(`is truncated: needs ${n} more bytes at offset ${at} but ${this.bytes.length - at} remain`);
    }
    this.pos += n;
    return at;
  }

  private u8(): number {
    return this.bytes[this.need(1)];
  }

  private u16(): number {
    return this.view.getUint16(this.need(2), true);
  }

  private i32(): number {
    return this.view.getInt32(this.need(4), true);
  }

  private u32(): number {
    return this.view.getUint32(this.need(4), true);
  }

  private u64(): number {
    const v = this.view.getBigUint64(this.need(8), true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`has an impossible length ${v}`);
    return Number(v);
  }

  private take(n: number): Uint8Array {
    if (n < 0) this.fail(`has a negative length ${n}`);
    const at = this.need(n);
    return this.bytes.subarray(at, at + n);
  }

  private line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) this.fail(`is truncated: no end of line after offset ${this.pos}`);
    const text = latin1(this.bytes.subarray(this.pos, end));
    this.pos = end + 1;
    return text;
  }

  private pop(): unknown {
    if (this.stack.length === 0) this.fail("stack underflow");
    return this.stack.pop();
  }

  private top(): unknown {
    if (this.stack.length === 0) this.fail("stack underflow");
    return this.stack[this.stack.length - 1];
  }

  private popMark(): unknown[] {
    const items = this.stack;
    const prev = this.marks.pop();
    if (prev === undefined) this.fail("has no MARK to pop to");
    this.stack = prev;
    return items;
  }

  private memoGet(key: number): unknown {
    if (!this.memo.has(key)) this.fail(`memo key ${key} was never stored`);
    return this.memo.get(key);
  }

  private memoPut(key: number): void {
    if (!Number.isInteger(key) || key < 0) this.fail(`has an invalid memo key ${key}`);
    this.memo.set(key, this.top());
  }

  private resolve(module: string, name: string): PyGlobal {
    if (typeof module !== "string" || typeof name !== "string") {
      this.fail(`STACK_GLOBAL needs two strings, got ${describe(module)} and ${describe(name)}`);
    }
    const mod = PY2_MODULES[module] ?? module;
    const qualified = `${mod}.${name}`;
    const globals = this.options.globals ?? {};
    const impl = Object.hasOwn(globals, qualified) ? globals[qualified] : undefined;
    if (!impl) {
      this.fail(
        `global ${qualified} is not in the allow-list (${Object.keys(globals).length} names); ` +
          `nothing was run. Pass a reconstructor for it in \`globals\` if it is safe`,
      );
    }
    return new PyGlobal(mod, name, impl);
  }

  private invoke(fn: unknown, args: unknown, how: "call" | "construct", kwargs = new Map()): unknown {
    if (!(fn instanceof PyGlobal)) this.fail(`cannot call ${describe(fn)}`);
    if (!Array.isArray(args)) {
      this.fail(`arguments of ${fn.qualifiedName} are ${describe(args)}, not a tuple`);
    }
    const impl = fn.impl;
    try {
      if (how === "construct" && impl.construct) return impl.construct(args, kwargs);
      if (!impl.call) this.fail(`${fn.qualifiedName} cannot be called`);
      if (kwargs.size > 0) this.fail(`${fn.qualifiedName} takes no keyword arguments`);
      return impl.call(args);
    } catch (e) {
      if (e instanceof PickleError) throw e;
      return this.fail(`${fn.qualifiedName}: ${(e as Error).message}`);
    }
  }

  private persistent(pid: unknown): unknown {
    const load = this.options.persistentLoad;
    if (!load) this.fail("has a persistent id but no persistentLoad was given");
    try {
      return load(pid);
    } catch (e) {
      if (e instanceof PickleError) throw e;
      return this.fail(`persistent id ${describe(pid)}: ${(e as Error).message}`);
    }
  }

  private build(inst: unknown, state: unknown): void {
    if (inst !== null && typeof inst === "object" && SET_STATE in inst) {
      try {
        (inst as Stateful)[SET_STATE](state);
      } catch (e) {
        if (e instanceof PickleError) throw e;
        this.fail(`BUILD of ${describe(inst)}: ${(e as Error).message}`);
      }
    } else if (inst instanceof Map) {
      attributes.set(inst, state); // a dict subclass's instance attributes
    } else {
      this.fail(`cannot BUILD ${describe(inst)}`);
    }
  }

  run(): { value: unknown; end: number } {
    const { bytes } = this;
    if (this.pos < 0 || this.pos > bytes.length) {
      throw new PickleError(`${this.source}pickle offset ${this.pos} is outside the ${bytes.length} bytes`);
    }
    for (;;) {
      this.opStart = this.pos;
      if (this.pos >= bytes.length) {
        this.fail(`is truncated: ended at offset ${this.pos} without a STOP opcode`);
      }
      const op = bytes[this.pos++];
      switch (op) {
        case OP.PROTO: {
          const proto = this.u8();
          if (proto > 5) this.fail(`protocol ${proto} is not supported (0 to 5 are)`);
          break;
        }
        case OP.FRAME: {
          const len = this.u64();
          if (len > bytes.length - this.pos) {
            this.fail(`is truncated: a frame of ${len} bytes but ${bytes.length - this.pos} remain`);
          }
          break;
        }
        case OP.STOP:
          return { value: this.pop(), end: this.pos };
        case OP.MARK:
          this.marks.push(this.stack);
          this.stack = [];
          break;
        case OP.POP:
          if (this.stack.length > 0) this.stack.pop();
          else this.popMark();
          break;
        case OP.POP_MARK:
          this.popMark();
          break;
        case OP.DUP:
          this.stack.push(this.top());
          break;

        // ---- scalars
        case OP.NONE:
          this.stack.push(null);
          break;
        case OP.NEWTRUE:
          this.stack.push(true);
          break;
        case OP.NEWFALSE:
          this.stack.push(false);
          break;
        case OP.INT: {
          const text = this.line();
          if (text === "00") this.stack.push(false);
          else if (text === "01") this.stack.push(true);
          else this.stack.push(this.parseInt(text));
          break;
        }
        case OP.LONG:
          this.stack.push(this.parseInt(this.line().replace(/L$/, "")));
          break;
        case OP.BININT:
          this.stack.push(this.i32());
          break;
        case OP.BININT1:
          this.stack.push(this.u8());
          break;
        case OP.BININT2:
          this.stack.push(this.u16());
          break;
        case OP.LONG1:
          this.stack.push(decodeLong(this.take(this.u8())));
          break;
        case OP.LONG4:
          this.stack.push(decodeLong(this.take(this.i32())));
          break;
        case OP.FLOAT: {
          const text = this.line().trim();
          const v = text === "inf" ? Infinity : text === "-inf" ? -Infinity : Number(text);
          if (Number.isNaN(v) && text !== "nan") this.fail(`has an invalid float ${JSON.stringify(text)}`);
          this.stack.push(v);
          break;
        }
        case OP.BINFLOAT:
          this.stack.push(this.view.getFloat64(this.need(8), false)); // big-endian, unlike the rest
          break;

        // ---- strings and bytes
        case OP.STRING:
          this.stack.push(latin1(this.unquote(this.line())));
          break;
        case OP.BINSTRING:
          this.stack.push(latin1(this.take(this.i32())));
          break;
        case OP.SHORT_BINSTRING:
          this.stack.push(latin1(this.take(this.u8())));
          break;
        case OP.UNICODE:
          this.stack.push(rawUnicodeEscape(this.line()));
          break;
        case OP.BINUNICODE:
          this.stack.push(decodeUtf8(this.take(this.u32())));
          break;
        case OP.SHORT_BINUNICODE:
          this.stack.push(decodeUtf8(this.take(this.u8())));
          break;
        case OP.BINUNICODE8:
          this.stack.push(decodeUtf8(this.take(this.u64())));
          break;
        case OP.BINBYTES:
          this.stack.push(this.take(this.u32()));
          break;
        case OP.SHORT_BINBYTES:
          this.stack.push(this.take(this.u8()));
          break;
        case OP.BINBYTES8:
        case OP.BYTEARRAY8:
          this.stack.push(this.take(this.u64()));
          break;
        case OP.NEXT_BUFFER: {
          const next = this.buffers?.next();
          if (!next || next.done) this.fail("needs an out-of-band buffer but none (or no more) were given");
          this.stack.push(next.value);
          break;
        }
        case OP.READONLY_BUFFER:
          this.top();
          break;

        // ---- containers
        case OP.EMPTY_LIST:
          this.stack.push([]);
          break;
        case OP.EMPTY_TUPLE:
          this.stack.push([]);
          break;
        case OP.EMPTY_DICT:
          this.stack.push(new Map());
          break;
        case OP.EMPTY_SET:
          this.stack.push(new Set());
          break;
        case OP.LIST:
        case OP.TUPLE: {
          const items = this.popMark(); // first: popMark swaps this.stack
          this.stack.push(items);
          break;
        }
        case OP.TUPLE1:
          this.stack.push([this.pop()]);
          break;
        case OP.TUPLE2: {
          const b = this.pop();
          this.stack.push([this.pop(), b]);
          break;
        }
        case OP.TUPLE3: {
          const c = this.pop();
          const b = this.pop();
          this.stack.push([this.pop(), b, c]);
          break;
        }
        case OP.DICT: {
          const items = this.popMark();
          this.stack.push(this.setItems(new Map(), items));
          break;
        }
        case OP.FROZENSET: {
          const items = this.popMark();
          this.stack.push(new Set(items));
          break;
        }
        case OP.APPEND: {
          const v = this.pop();
          this.appendTo(this.top(), [v]);
          break;
        }
        case OP.APPENDS: {
          const items = this.popMark();
          this.appendTo(this.top(), items);
          break;
        }
        case OP.SETITEM: {
          const v = this.pop();
          const k = this.pop();
          this.setItems(this.top(), [k, v]);
          break;
        }
        case OP.SETITEMS: {
          const items = this.popMark();
          this.setItems(this.top(), items);
          break;
        }
        case OP.ADDITEMS: {
          const items = this.popMark();
          const target = this.top();
          if (!(target instanceof Set)) this.fail(`cannot add items to ${describe(target)}`);
          for (const item of items) target.add(item);
          break;
        }

        // ---- memo
        case OP.GET:
          this.stack.push(this.memoGet(this.parseIndex(this.line())));
          break;
        case OP.BINGET:
          this.stack.push(this.memoGet(this.u8()));
          break;
        case OP.LONG_BINGET:
          this.stack.push(this.memoGet(this.u32()));
          break;
        case OP.PUT:
          this.memoPut(this.parseIndex(this.line()));
          break;
        case OP.BINPUT:
          this.memoPut(this.u8());
          break;
        case OP.LONG_BINPUT:
          this.memoPut(this.u32());
          break;
        case OP.MEMOIZE:
          this.memoPut(this.memo.size);
          break;

        // ---- globals and objects
        case OP.GLOBAL: {
          const module = this.line();
          this.stack.push(this.resolve(module, this.line()));
          break;
        }
        case OP.STACK_GLOBAL: {
          const name = this.pop() as string;
          this.stack.push(this.resolve(this.pop() as string, name));
          break;
        }
        case OP.REDUCE: {
          const args = this.pop();
          const fn = this.pop();
          this.stack.push(this.invoke(fn, args, "call"));
          break;
        }
        case OP.NEWOBJ: {
          const args = this.pop();
          const cls = this.pop();
          this.stack.push(this.invoke(cls, args, "construct"));
          break;
        }
        case OP.NEWOBJ_EX: {
          const kwargs = this.pop();
          const args = this.pop();
          const cls = this.pop();
          if (!(kwargs instanceof Map)) this.fail(`keyword arguments are ${describe(kwargs)}, not a dict`);
          this.stack.push(this.invoke(cls, args, "construct", kwargs));
          break;
        }
        case OP.INST: {
          const module = this.line();
          const cls = this.resolve(module, this.line());
          const args = this.popMark();
          this.stack.push(this.invoke(cls, args, "construct"));
          break;
        }
        case OP.OBJ: {
          const [cls, ...args] = this.popMark();
          this.stack.push(this.invoke(cls, args, "construct"));
          break;
        }
        case OP.BUILD: {
          const state = this.pop();
          this.build(this.top(), state);
          break;
        }
        case OP.PERSID:
          this.stack.push(this.persistent(this.line()));
          break;
        case OP.BINPERSID:
          this.stack.push(this.persistent(this.pop()));
          break;
        case OP.EXT1:
        case OP.EXT2:
        case OP.EXT4: {
          const code = op === OP.EXT1 ? this.u8() : op === OP.EXT2 ? this.u16() : this.i32();
          this.fail(`uses extension code ${code} of the copyreg registry, which is not supported`);
          break;
        }
        default: {
          const ch = op >= 0x20 && op < 0x7f ? ` ('${String.fromCharCode(op)}')` : "";
          throw new PickleError(
            `${this.source}pickle has an unknown opcode 0x${op.toString(16).padStart(2, "0")}${ch} ` +
              `at byte offset ${this.opStart}`,
          );
        }
      }
    }
  }

  private appendTo(target: unknown, items: unknown[]): void {
    if (!Array.isArray(target)) this.fail(`cannot append to ${describe(target)}`);
    for (const item of items) target.push(item);
  }

  private setItems(target: unknown, items: unknown[]): Map<unknown, unknown> {
    if (!(target instanceof Map)) this.fail(`cannot set items on ${describe(target)}`);
    if (items.length % 2 !== 0) this.fail("has an odd number of dict items");
    for (let i = 0; i < items.length; i += 2) target.set(items[i], items[i + 1]);
    return target;
  }

  private parseInt(text: string): number | bigint {
    if (!/^\s*[+-]?\d+\s*$/.test(text)) this.fail(`has an invalid integer ${JSON.stringify(text)}`);
    return narrow(BigInt(text.trim()));
  }

  private parseIndex(text: string): number {
    const v = this.parseInt(text);
    if (typeof v !== "number" || v < 0) this.fail(`has an invalid memo key ${text}`);
    return v;
  }

  /** Python 2 `repr` of a byte string (STRING opcode) back to its bytes. */
  private unquote(text: string): Uint8Array {
    const q = text[0];
    if (text.length < 2 || (q !== "'" && q !== '"') || text[text.length - 1] !== q) {
      this.fail("STRING argument is not a quoted string");
    }
    const body = text.slice(1, -1);
    const out: number[] = [];
    const simple: Record<string, number> = {
      "\\": 0x5c,
      "'": 0x27,
      '"': 0x22,
      n: 0x0a,
      r: 0x0d,
      t: 0x09,
      a: 0x07,
      b: 0x08,
      f: 0x0c,
      v: 0x0b,
    };
    for (let i = 0; i < body.length; i++) {
      const c = body[i];
      if (c !== "\\") {
        out.push(c.charCodeAt(0));
        continue;
      }
      const e = body[++i];
      if (e === undefined) this.fail("STRING argument ends with a backslash");
      if (e in simple) out.push(simple[e]);
      else if (e === "\n") continue;
      else if (e === "x" && /^[0-9a-fA-F]{2}$/.test(body.slice(i + 1, i + 3))) {
        out.push(parseInt(body.slice(i + 1, i + 3), 16));
        i += 2;
      } else if (/[0-7]/.test(e)) {
        const m = /^[0-7]{1,3}/.exec(body.slice(i))![0];
        out.push(parseInt(m, 8) & 0xff);
        i += m.length - 1;
      } else out.push(0x5c, e.charCodeAt(0));
    }
    return Uint8Array.from(out);
  }
}

/** A bigint narrowed to a number where that is exact. */
function narrow(v: bigint): number | bigint {
  return v >= -BigInt(Number.MAX_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** LONG1 / LONG4 payload: little-endian two's complement. */
function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return narrow(v);
}

function latin1(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
}

/** UTF-8 as Python writes it for pickles ("surrogatepass": lone surrogates allowed). */
function decodeUtf8(b: Uint8Array): string {
  try {
    return utf8.decode(b);
  } catch {
    let s = "";
    for (let i = 0; i < b.length;) {
      const c = b[i];
      const n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
      let cp = n === 1 ? c : c & (0xff >> (n + 1));
      for (let k = 1; k < n; k++) cp = (cp << 6) | (b[i + k] & 0x3f);
      s += String.fromCodePoint(cp);
      i += n;
    }
    return s;
  }
}

/** Python's raw-unicode-escape (UNICODE opcode): latin-1 text with \uXXXX and \UXXXXXXXX escapes. */
function rawUnicodeEscape(text: string): string {
  return text.replace(
    /\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g,
    (_, u4, u8) => String.fromCodePoint(parseInt(u4 ?? u8, 16)),
  );
}

function describe(v: unknown): string {
  if (v === null) return "None";
  if (v instanceof PyGlobal) return v.qualifiedName;
  if (v instanceof PyObject) return `a ${v.className}`;
  if (Array.isArray(v)) return `a tuple/list of ${v.length}`;
  if (v instanceof Map) return "a dict";
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (typeof v === "object") return `a ${v.constructor?.name ?? "object"}`;
  return `${typeof v} ${String(v).slice(0, 40)}`;
}

// ---- built-in reconstructors -------------------------------------------------------------------

/** Bytes of a str under a Python codec name (only the codecs pickles use for raw data). */
function encodeString(s: string, codec: string): Uint8Array {
  const c = codec.toLowerCase().replace(/[-_]/g, "");
  if (c === "latin1" || c === "iso88591") {
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) {
      const code = s.charCodeAt(i);
      if (code > 0xff) throw new Error(`character U+${code.toString(16)} is not latin-1`);
      out[i] = code;
    }
    return out;
  }
  if (c === "utf8") return new TextEncoder().encode(s);
  throw new Error(`codec ${codec} is not supported (latin1 and utf-8 are)`);
}

function iterableArg(v: unknown): Iterable<unknown> {
  if (v === undefined) return [];
  if (Array.isArray(v) || v instanceof Set) return v;
  if (v instanceof Map) return v.keys();
  throw new Error(`expected a list, tuple or set, got ${describe(v)}`);
}

/**
 * Data-only reconstructors of the Python standard library: `collections.OrderedDict` (→ Map),
 * `_codecs.encode` (latin-1 / utf-8 → Uint8Array, as protocol 2 stores bytes), `builtins.set`,
 * `builtins.frozenset` (→ Set), `builtins.bytearray` and `builtins.bytes` (→ Uint8Array).
 */
export const BUILTIN_GLOBALS: PickleGlobals = {
  "collections.OrderedDict": {
    call: ([items]) => {
      const m = new Map<unknown, unknown>();
      for (const pair of iterableArg(items)) {
        if (!Array.isArray(pair) || pair.length !== 2) throw new Error("OrderedDict items must be pairs");
        m.set(pair[0], pair[1]);
      }
      return m;
    },
  },
  "_codecs.encode": {
    call: ([s, codec]) => {
      if (typeof s !== "string") throw new Error(`expected a str, got ${describe(s)}`);
      return encodeString(s, typeof codec === "string" ? codec : "utf-8");
    },
  },
  "builtins.set": { call: ([items]) => new Set(iterableArg(items)) },
  "builtins.frozenset": { call: ([items]) => new Set(iterableArg(items)) },
  "builtins.bytearray": { call: bytesFromArgs },
  "builtins.bytes": { call: bytesFromArgs },
};

function bytesFromArgs([v, codec]: unknown[]): Uint8Array {
  if (v === undefined) return new Uint8Array(0);
  if (v instanceof Uint8Array) return v.slice();
  if (typeof v === "string") return encodeString(v, typeof codec === "string" ? codec : "utf-8");
  if (Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 0 && x < 256)) return Uint8Array.from(v);
  throw new Error(`cannot make bytes from ${describe(v)}`);
}

// ---- numpy ---------------------------------------------------------------------------------------

/** numpy dtype codes (kind + item size) → safetensors dtype. */
const NUMPY_DTYPES: Record<string, SafeDType> = {
  f8: "F64",
  f4: "F32",
  f2: "F16",
  i8: "I64",
  i4: "I32",
  i2: "I16",
  i1: "I8",
  u1: "U8",
  b1: "BOOL",
};

/** A `numpy.dtype` as pickled: its code (e.g. `f4`) and byte order (`<`, `>`, `|`, `=`). */
export class NumpyDType implements Stateful {
  byteOrder = "=";
  readonly code: string;
  constructor(spec: string) {
    const m = /^([<>|=]?)([a-zA-Z]\d*)$/.exec(spec);
    if (!m) throw new Error(`unsupported numpy dtype spec ${JSON.stringify(spec)}`);
    if (m[1]) this.byteOrder = m[1];
    this.code = m[2];
  }
  [SET_STATE](state: unknown): void {
    // (version, byteorder, subarray, names, fields, elsize, alignment, flags)
    if (Array.isArray(state) && typeof state[1] === "string") this.byteOrder = state[1];
  }
  /** The safetensors dtype, or an error naming the numpy dtype. */
  get safeDType(): SafeDType {
    const d = NUMPY_DTYPES[this.code];
    if (!d) {
      throw new Error(`numpy dtype ${this.code} is not supported (${Object.keys(NUMPY_DTYPES).join(", ")})`);
    }
    return d;
  }
  /** Whether the data is big-endian (numpy's `=` means native, little-endian on every platform we run). */
  get bigEndian(): boolean {
    return this.byteOrder === ">";
  }
}

/** A numpy array rebuilt from a pickle: C-order data, ready to use as a tensor. */
export class NumpyArray implements NamedTensor, Stateful {
  dtype: SafeDType = "F64";
  shape: number[] = [0];
  data: TensorData = new Float64Array(0);

  /** ndarray.__setstate__: (version, shape, dtype, is_fortran, rawdata), or the 4-tuple without version. */
  [SET_STATE](state: unknown): void {
    if (!Array.isArray(state) || (state.length !== 5 && state.length !== 4)) {
      throw new Error(`ndarray state is ${describe(state)}, not a 4- or 5-tuple`);
    }
    const [shape, dtype, fortran, raw] = state.length === 5 ? state.slice(1) : state;
    if (!(dtype instanceof NumpyDType)) throw new Error(`ndarray dtype is ${describe(dtype)}`);
    if (!Array.isArray(raw) && !(raw instanceof Uint8Array) && typeof raw !== "string") {
      throw new Error(`ndarray data is ${describe(raw)}`);
    }
    if (Array.isArray(raw)) {
      throw new Error(`numpy arrays of Python objects (dtype ${dtype.code}) are not supported`);
    }
    const bytes = typeof raw === "string" ? encodeString(raw, "latin1") : raw;
    this.fill(bytes, dtype, checkShape(shape), fortran === true);
  }

  /** Sets data from raw element bytes laid out in C or Fortran order. */
  fill(bytes: Uint8Array, dtype: NumpyDType, shape: number[], fortran: boolean): void {
    const safe = dtype.safeDType;
    const n = numelOf(shape);
    if (bytes.length !== n * dtypeSize(safe)) {
      throw new Error(
        `ndarray of shape [${shape}] ${dtype.code} needs ${n * dtypeSize(safe)} bytes, has ${bytes.length}`,
      );
    }
    let data = decodeTensorData(safe, dtype.bigEndian ? byteSwap(bytes, dtypeSize(safe)) : bytes);
    if (fortran && shape.length > 1) {
      const strides: number[] = [];
      let s = 1;
      for (const d of shape) {
        strides.push(s);
        s *= d;
      }
      data = gatherStrided(data, shape, strides, 0);
    }
    this.dtype = safe;
    this.shape = shape;
    this.data = data;
  }
}

function checkShape(shape: unknown): number[] {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`invalid shape ${describe(shape)}`);
  }
  return shape as number[];
}

/** Reverses the bytes of each `size`-byte element (big-endian → little-endian). */
export function byteSwap(bytes: Uint8Array, size: number): Uint8Array {
  if (size === 1) return bytes;
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += size) {
    for (let k = 0; k < size; k++) out[i + k] = bytes[i + size - 1 - k];
  }
  return out;
}

/**
 * Gathers a strided view of `src` (element `offset + Σ index[k] * strides[k]`) into a new contiguous
 * C-order array of the same type. Throws if the view reaches outside `src`.
 *
 * @example
 * ```ts
 * // the transpose of a 2x3 C-order matrix
 * gatherStrided(new Float32Array([1, 2, 3, 4, 5, 6]), [3, 2], [1, 3], 0); // [1, 4, 2, 5, 3, 6]
 * ```
 */
export function gatherStrided<T extends TensorData>(
  src: T,
  shape: readonly number[],
  strides: readonly number[],
  offset: number,
): T {
  if (shape.length !== strides.length) {
    throw new RangeError(`shape [${shape}] and strides [${strides}] differ in length`);
  }
  const n = numelOf(shape);
  const ctor = src.constructor as new (n: number) => T;
  if (n === 0) return new ctor(0);
  let last = offset;
  for (let k = 0; k < shape.length; k++) {
    if (!Number.isSafeInteger(strides[k]) || strides[k] < 0) {
      throw new RangeError(`invalid stride ${strides[k]}`);
    }
    last += (shape[k] - 1) * strides[k];
  }
  if (!Number.isSafeInteger(offset) || offset < 0 || last >= src.length) {
    throw new RangeError(
      `a view of shape [${shape}], strides [${strides}], offset ${offset} needs ${last + 1} elements; ` +
        `the storage has ${src.length}`,
    );
  }
  // Contiguous C order: one slice.
  let expect = 1;
  let contiguous = true;
  for (let k = shape.length - 1; k >= 0; k--) {
    if (shape[k] !== 1 && strides[k] !== expect) contiguous = false;
    expect *= shape[k];
  }
  if (contiguous) return src.slice(offset, offset + n) as T;
  const out = new ctor(n);
  // One element type in and out; index both as the same loose array to copy numbers or bigints alike.
  const s = src as unknown as { [i: number]: number | bigint };
  const d = out as unknown as { [i: number]: number | bigint };
  const rank = shape.length;
  const inner = shape[rank - 1];
  const innerStride = strides[rank - 1];
  const index = new Array(rank).fill(0);
  let base = offset;
  for (let o = 0; o < n; o += inner) {
    for (let j = 0; j < inner; j++) d[o + j] = s[base + j * innerStride];
    // Advance the multi-index over all but the innermost dimension.
    for (let k = rank - 2; k >= 0; k--) {
      index[k]++;
      base += strides[k];
      if (index[k] < shape[k]) break;
      base -= index[k] * strides[k];
      index[k] = 0;
    }
  }
  return out;
}

function numpyDType(args: unknown[]): NumpyDType {
  const [spec] = args;
  if (typeof spec !== "string") throw new Error(`numpy.dtype of ${describe(spec)} is not supported`);
  return new NumpyDType(spec);
}

function reconstruct(): NumpyArray {
  return new NumpyArray();
}

/** numpy.core.multiarray.scalar(dtype, bytes): a numpy scalar as a number (bigint for big int64). */
function numpyScalar([dtype, raw]: unknown[]): unknown {
  if (!(dtype instanceof NumpyDType)) throw new Error(`scalar dtype is ${describe(dtype)}`);
  const a = new NumpyArray();
  const bytes = typeof raw === "string" ? encodeString(raw, "latin1") : raw;
  if (!(bytes instanceof Uint8Array)) throw new Error(`scalar data is ${describe(raw)}`);
  a.fill(bytes, dtype, [], false);
  const v = a.data[0];
  if (typeof v === "bigint") return narrow(v);
  return a.dtype === "BOOL" ? v !== 0 : v;
}

/** numpy.core.numeric._frombuffer(buffer, dtype, shape, order): protocol 5's array form. */
function fromBuffer([buf, dtype, shape, order]: unknown[]): NumpyArray {
  if (!(buf instanceof Uint8Array)) throw new Error(`buffer is ${describe(buf)}`);
  if (!(dtype instanceof NumpyDType)) throw new Error(`dtype is ${describe(dtype)}`);
  const a = new NumpyArray();
  a.fill(buf, dtype, checkShape(shape), order === "F");
  return a;
}

/** A global that may be named (passed as an argument) but not called, like `numpy.ndarray`. */
const marker: PickleGlobal = {};

/**
 * numpy's reconstructors under their numpy 1 (`numpy.core`) and numpy 2 (`numpy._core`) names:
 * `_reconstruct` + `ndarray` + `dtype` with BUILD (protocols 0 to 4), `_frombuffer` (protocol 5) and
 * `scalar`. Arrays become {@link NumpyArray}s with dtypes float64/32/16, int64/32/16/8, uint8, bool.
 */
export const NUMPY_GLOBALS: PickleGlobals = {
  ...Object.fromEntries(
    ["numpy.core", "numpy._core"].flatMap((core): [string, PickleGlobal][] => [
      [`${core}.multiarray._reconstruct`, { call: reconstruct }],
      [`${core}.multiarray.scalar`, { call: numpyScalar }],
      [`${core}.numeric._frombuffer`, { call: fromBuffer }],
    ]),
  ),
  "numpy.ndarray": marker,
  "numpy.dtype": { call: numpyDType, construct: numpyDType },
};

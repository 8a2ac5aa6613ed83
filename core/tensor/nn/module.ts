/**
 * The {@link Module} base class: named parameters, buffers and child modules with PyTorch's
 * state-dict names and layouts, `train()` / `eval()`, freezing, and strict loading that reports every
 * missing, unexpected and mis-shaped key at once.
 *
 * Parameters and buffers are both held as variables (parameters trainable, buffers not), so loading a
 * state dict assigns new values in place and the fields a subclass keeps stay valid.
 *
 * @example
 * ```ts
 * import { Module } from "./module.ts";
 * import * as ops from "../ops.ts";
 *
 * class Scale extends Module {
 *   readonly weight;
 *   constructor(n: number) {
 *     super();
 *     this.weight = this.registerParameter("weight", ops.ones([n]));
 *   }
 *   forward(x: ops.Tensor): ops.Tensor {
 *     return ops.mul(x, this.weight);
 *   }
 * }
 * const m = new Scale(3);
 * m.loadStateDict({ weight: ops.tensor([1, 2, 3]) }); // strict by default
 * [...m.stateDict().keys()]; // ["weight"]
 * ```
 * @module
 */
import * as ops from "../ops.ts";
import type { DType, Tensor, Variable } from "../ops.ts";
import type { NamedTensor } from "../../io/safetensors.ts";

/** A value a state dict may hold: a tensor, or raw data as `readSafetensors` returns it. */
export type StateDictValue = Tensor | NamedTensor;

/** A state dict to load: a Map or a plain object from dotted names to values. */
export type StateDictInput = Map<string, StateDictValue> | Record<string, StateDictValue>;

/** A key whose stored shape differs from the module's. */
export interface ShapeMismatch {
  key: string;
  /** The module's shape. */
  expected: number[];
  /** The state dict's shape. */
  got: number[];
}

/** What {@link Module.loadStateDict} found. */
export interface LoadReport {
  /** Keys the module has and the state dict lacks. */
  missing: string[];
  /** Keys the state dict has and the module lacks. */
  unexpected: string[];
  /** Keys present on both sides with different shapes (not loaded). */
  mismatched: ShapeMismatch[];
}

/** Raised by a strict {@link Module.loadStateDict}; `report` lists every problem. */
export class StateDictError extends Error {
  override name = "StateDictError";
  constructor(readonly report: LoadReport, context: string) {
    super(formatReport(report, context));
  }
}

/** Options of {@link Module.loadStateDict}. */
export interface LoadOptions {
  /** Throw when any key is missing, unexpected or mis-shaped (default true). Nothing is loaded then. */
  strict?: boolean;
}

/** A module whose forward maps one tensor to one tensor (what `Sequential` and `Conv2d.norm` hold). */
export interface UnaryModule extends Module {
  forward(x: Tensor): Tensor;
}

interface BufferSlot {
  variable: Variable;
  persistent: boolean;
}

/**
 * Base class of every layer. A subclass registers its parameters, buffers and children in its
 * constructor, in the original's order and under the original's (snake_case) names, and keeps the
 * returned handles in camelCase fields.
 */
export class Module {
  /** Training mode: dropout and drop-path are active only when true. */
  training = true;
  readonly #params = new Map<string, Variable>();
  readonly #buffers = new Map<string, BufferSlot>();
  readonly #children = new Map<string, Module>();

  /**
   * Registers a trainable parameter. The module takes over `init` (converted to float32 when it is
   * not) and returns the variable that holds it.
   */
  protected registerParameter(name: string, init: Tensor): Variable {
    this.#checkName(name);
    const value = init.dtype === "float32" ? init : castAndDispose(init, "float32");
    const v = ops.variable(value, true);
    ops.dispose(value); // the variable holds its own reference to the data
    this.#params.set(name, v);
    return v;
  }

  /**
   * Registers a buffer: state that is not trained. A persistent buffer is part of the state dict; a
   * non-persistent one (a cache, say) is not. The module takes over `init`.
   */
  protected registerBuffer(name: string, init: Tensor, { persistent = true } = {}): Variable {
    this.#checkName(name);
    const v = ops.variable(init, false);
    ops.dispose(init);
    this.#buffers.set(name, { variable: v, persistent });
    return v;
  }

  /** Registers a child module under `name` and returns it. */
  protected registerModule<M extends Module>(name: string, module: M): M {
    this.#checkName(name);
    this.#children.set(name, module);
    return module;
  }

  #checkName(name: string): void {
    if (name === "" || name.includes(".")) {
      throw new Error(`${this.constructor.name}: invalid name "${name}" (non-empty, no dots)`);
    }
    if (this.#params.has(name) || this.#buffers.has(name) || this.#children.has(name)) {
      throw new Error(`${this.constructor.name}: "${name}" is already registered`);
    }
  }

  /** The direct children, by name. */
  namedChildren(): [string, Module][] {
    return [...this.#children];
  }

  /** This module and every descendant with its dotted name (this module is `""`), each once. */
  namedModules(prefix = ""): [string, Module][] {
    const out: [string, Module][] = [];
    const seen = new Set<Module>();
    const visit = (m: Module, name: string) => {
      if (seen.has(m)) return;
      seen.add(m);
      out.push([name, m]);
      for (const [n, c] of m.#children) visit(c, name === "" ? n : `${name}.${n}`);
    };
    visit(this, prefix);
    return out;
  }

  /** Every parameter with its dotted name, in registration order (a shared parameter once). */
  namedParameters(): [string, Variable][] {
    const out: [string, Variable][] = [];
    const seen = new Set<Variable>();
    for (const [prefix, m] of this.namedModules()) {
      for (const [n, p] of m.#params) {
        if (seen.has(p)) continue;
        seen.add(p);
        out.push([join(prefix, n), p]);
      }
    }
    return out;
  }

  /** Every parameter, frozen ones included. */
  parameters(): Variable[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** The parameters an optimiser should update: those not frozen. */
  trainableParameters(): Variable[] {
    return this.parameters().filter((p) => p.trainable);
  }

  /** Every buffer with its dotted name; `persistent` tells whether it is part of the state dict. */
  namedBuffers(): [string, Variable, { persistent: boolean }][] {
    const out: [string, Variable, { persistent: boolean }][] = [];
    for (const [prefix, m] of this.namedModules()) {
      for (const [n, b] of m.#buffers) out.push([join(prefix, n), b.variable, { persistent: b.persistent }]);
    }
    return out;
  }

  /** Sets training mode on this module and every descendant. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  /** Evaluation mode: `train(false)`. */
  eval(): this {
    return this.train(false);
  }

  /**
   * Freezes (`false`) or unfreezes (`true`) every parameter below this module: a frozen variable is
   * not trainable, so optimisers and `valueAndGrads` without an explicit list leave it alone.
   */
  requiresGrad(flag = true): this {
    for (const p of this.parameters()) p.trainable = flag;
    return this;
  }

  /** Calls `fn` on every descendant, then on this module (PyTorch's `apply` order). */
  apply(fn: (m: Module) => void): this {
    for (const [, c] of this.#children) c.apply(fn);
    fn(this);
    return this;
  }

  /**
   * Parameters and persistent buffers under PyTorch's dotted names: each module's own parameters,
   * then its buffers, then its children in registration order. The tensors are the module's own
   * variables: read them, do not dispose them.
   */
  stateDict(): Map<string, Variable> {
    const out = new Map<string, Variable>();
    for (const [prefix, m] of this.namedModules()) {
      for (const [n, p] of m.#params) out.set(join(prefix, n), p);
      for (const [n, b] of m.#buffers) if (b.persistent) out.set(join(prefix, n), b.variable);
    }
    return out;
  }

  /**
   * Loads parameters and persistent buffers. Values may be tensors or `{dtype, shape, data}` records
   * (F64 and I64 are narrowed to float32 / int32, an int64 outside the int32 range is an error).
   * Every key is checked before anything is assigned: with `strict` (the default) any missing,
   * unexpected or mis-shaped key throws one {@link StateDictError} listing all of them and loads
   * nothing; otherwise the matching keys are loaded and the report returned.
   */
  loadStateDict(sd: StateDictInput, { strict = true }: LoadOptions = {}): LoadReport {
    const entries = sd instanceof Map ? sd : new Map(Object.entries(sd));
    const own = this.stateDict();
    const report: LoadReport = { missing: [], unexpected: [], mismatched: [] };
    const toLoad: [Variable, StateDictValue, string][] = [];
    for (const [key, target] of own) {
      const value = entries.get(key);
      if (value === undefined) {
        report.missing.push(key);
        continue;
      }
      if (!sameShape(target.shape, value.shape)) {
        report.mismatched.push({ key, expected: [...target.shape], got: [...value.shape] });
        continue;
      }
      toLoad.push([target, value, key]);
    }
    for (const key of entries.keys()) if (!own.has(key)) report.unexpected.push(key);
    const failed = report.missing.length + report.unexpected.length + report.mismatched.length > 0;
    if (strict && failed) throw new StateDictError(report, this.constructor.name);
    // Convert everything first so that a bad value (int64 overflow) leaves the module untouched.
    const converted = toLoad.map(([target, value, key]) => toTensor(value, target.dtype as DType, key));
    toLoad.forEach(([target], i) => {
      target.assign(converted[i]);
      ops.dispose(converted[i]);
    });
    return report;
  }

  /** Frees every parameter and buffer of this module and its descendants. */
  dispose(): void {
    for (const [, m] of this.namedModules()) {
      for (const p of m.#params.values()) p.dispose();
      for (const b of m.#buffers.values()) b.variable.dispose();
    }
  }
}

/**
 * A list of modules whose children are named `"0"`, `"1"`, ... as in PyTorch's `nn.ModuleList`.
 *
 * @example
 * ```ts
 * import { ModuleList } from "./module.ts";
 * import { Linear } from "./linear.ts";
 * const layers = new ModuleList([new Linear(4, 4), new Linear(4, 2)]);
 * layers.at(1).weight.shape; // [2, 4]; state-dict keys "1.weight", "1.bias"
 * ```
 */
export class ModuleList<M extends Module = Module> extends Module implements Iterable<M> {
  readonly #items: M[] = [];

  constructor(modules: Iterable<M> = []) {
    super();
    for (const m of modules) this.append(m);
  }

  /** Adds a module under the next index. */
  append(module: M): this {
    this.#items.push(this.registerModule(String(this.#items.length), module));
    return this;
  }

  /** The module at `index` (negative counts from the end). */
  at(index: number): M {
    const i = index < 0 ? this.#items.length + index : index;
    const m = this.#items[i];
    if (m === undefined) throw new Error(`ModuleList index ${index} out of range (length ${this.length})`);
    return m;
  }

  /** Number of modules. */
  get length(): number {
    return this.#items.length;
  }

  [Symbol.iterator](): Iterator<M> {
    return this.#items[Symbol.iterator]();
  }
}

function join(prefix: string, name: string): string {
  return prefix === "" ? name : `${prefix}.${name}`;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function castAndDispose(x: Tensor, dtype: DType): Tensor {
  const y = ops.cast(x, dtype);
  ops.dispose(x);
  return y;
}

function isNamedTensor(v: StateDictValue): v is NamedTensor {
  return ArrayBuffer.isView((v as NamedTensor).data);
}

/** A new tensor of `dtype` holding `value` (a tensor is cast or cloned; raw data converted). */
function toTensor(value: StateDictValue, dtype: DType, key: string): Tensor {
  if (!isNamedTensor(value)) return ops.cast(value, dtype); // cast of the same dtype is a copy
  const { data, shape } = value;
  if (dtype === "float32") {
    return ops.tensor(
      data instanceof Float32Array ? data : convert(data, new Float32Array(data.length)),
      shape,
    );
  }
  if (dtype === "bool") {
    const out = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = Number(data[i]) !== 0 ? 1 : 0;
    return ops.tensor(out, shape, "bool");
  }
  const out = new Int32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const x = Number(data[i]);
    if (!Number.isInteger(x) || x < -2147483648 || x > 2147483647) {
      throw new Error(`state dict "${key}": value ${data[i]} at ${i} does not fit int32`);
    }
    out[i] = x;
  }
  return ops.tensor(out, shape, "int32");
}

/** Copies any stored element type (bigint included) into `out` as numbers. */
function convert(data: NamedTensor["data"], out: Float32Array): Float32Array {
  for (let i = 0; i < data.length; i++) out[i] = Number(data[i]);
  return out;
}

function formatReport(r: LoadReport, context: string): string {
  const lines = [`${context}: state dict does not match the module`];
  if (r.missing.length) lines.push(`  missing (${r.missing.length}): ${r.missing.join(", ")}`);
  if (r.unexpected.length) lines.push(`  unexpected (${r.unexpected.length}): ${r.unexpected.join(", ")}`);
  if (r.mismatched.length) {
    lines.push(
      `  mis-shaped (${r.mismatched.length}): ` +
        r.mismatched.map((m) => `${m.key} module [${m.expected}] vs state dict [${m.got}]`).join(", "),
    );
  }
  return lines.join("\n");
}

/**
 * Parity cases produced by running the original PyTorch code (`../shared/fixtures/parity`, or the folder
 * in `DSHMP_PARITY_DIR`). Each case is `NAME.json` (how the original was called) and `NAME.safetensors`
 * (parameters under their state-dict keys, `input.*`, `output.*`, optional `output.debug.*`).
 *
 * A runner is a test file `tests/parity/<key>_test.ts`; it runs every case whose name is `<key>` or
 * starts with `<key>_`, unless a longer runner key also matches (so `clip_decoder_test.ts` also runs
 * `clip_decoder_nopad` while no `clip_decoder_nopad_test.ts` exists).
 * @module
 */
import { join } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import { type NamedTensor, readSafetensors } from "../../core/io/safetensors.ts";

/** The folder the parity cases are read from. */
export function parityDir(): string {
  return Deno.env.get("DSHMP_PARITY_DIR") ??
    fromFileUrl(new URL("../../../shared/fixtures/parity", import.meta.url));
}

/** Whether `deno task test:parity` asked for a failure on every case without a runner. */
export function strictParity(): boolean {
  return Deno.env.get("DSHMP_PARITY_STRICT") === "1";
}

/** Names of all cases in the folder (json files with a safetensors beside them). */
export function listCases(dir = parityDir()): string[] {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch (e) {
    throw new Error(`parity folder ${dir} cannot be read (${(e as Error).message}); set DSHMP_PARITY_DIR`);
  }
  const names = new Set(entries.map((e) => e.name));
  return entries
    .filter((e) =>
      e.isFile && e.name.endsWith(".json") && names.has(e.name.replace(/\.json$/, ".safetensors"))
    )
    .map((e) => e.name.replace(/\.json$/, ""))
    .sort();
}

/** Runner keys: the stems of `tests/parity/*_test.ts`. */
export function runnerKeys(): string[] {
  const here = fromFileUrl(new URL(".", import.meta.url));
  return [...Deno.readDirSync(here)]
    .filter((e) => e.isFile && e.name.endsWith("_test.ts") && e.name !== "coverage_test.ts")
    .map((e) => e.name.replace(/_test\.ts$/, ""))
    .sort();
}

/** The runner key that handles `caseName`, if any (the longest matching key). */
export function runnerFor(caseName: string, keys = runnerKeys()): string | undefined {
  return keys
    .filter((k) => caseName === k || caseName.startsWith(k + "_"))
    .sort((a, b) => b.length - a.length)[0];
}

/** The cases that the runner `key` handles. */
export function casesFor(key: string): string[] {
  const keys = runnerKeys();
  return listCases().filter((c) => runnerFor(c, keys) === key);
}

/** A loaded parity case. */
export interface ParityCase {
  name: string;
  /** The case's json: call, constructor args, notes, suggested tolerance. */
  // deno-lint-ignore no-explicit-any
  spec: Record<string, any>;
  tensors: Map<string, NamedTensor>;
  /** Parameters and buffers: every tensor not under `input.` or `output.`, optionally under a prefix. */
  stateDict(prefix?: string): Map<string, NamedTensor>;
  input(name: string): NamedTensor;
  output(name: string): NamedTensor;
  has(name: string): boolean;
}

/** Loads case `name` from the parity folder. */
export function loadCase(name: string, dir = parityDir()): ParityCase {
  const spec = JSON.parse(Deno.readTextFileSync(join(dir, `${name}.json`)));
  const file = join(dir, `${name}.safetensors`);
  const { tensors } = readSafetensors(Deno.readFileSync(file), file);
  const get = (key: string): NamedTensor => {
    const t = tensors.get(key);
    if (!t) throw new Error(`${file}: no tensor "${key}"`);
    return t;
  };
  return {
    name,
    spec,
    tensors,
    stateDict(prefix = "") {
      const out = new Map<string, NamedTensor>();
      for (const [k, v] of tensors) {
        if (k.startsWith("input.") || k.startsWith("output.")) continue;
        if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
      }
      return out;
    },
    input: (n) => get(`input.${n}`),
    output: (n) => get(`output.${n}`),
    has: (k) => tensors.has(k),
  };
}

/** Backends parity tests run on: `DSHMP_TEST_BACKENDS` (comma-separated), default `wasm,cpu`. */
export function backendsUnderTest(): string[] {
  return (Deno.env.get("DSHMP_TEST_BACKENDS") ?? "wasm,cpu").split(",").map((s) => s.trim()).filter(Boolean);
}

/**
 * The case's `suggested_tolerance` from `parity_index.json` (beside the cases, or in the folder above
 * them as in `../shared/fixtures`), e.g. "atol 1e-3 rtol 1e-3".
 */
export function suggestedTolerance(name: string, dir = parityDir()): { atol: number; rtol: number } {
  const candidates = [join(dir, "parity_index.json"), join(dir, "..", "parity_index.json")];
  const path = candidates.find((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  });
  if (!path) throw new Error(`no parity_index.json beside or above ${dir}`);
  const index = JSON.parse(Deno.readTextFileSync(path));
  const entry = index.cases?.find((c: { case: string }) => c.case === name);
  const text: string = entry?.suggested_tolerance ?? "";
  const atol = /atol\s+([0-9.eE+-]+)/.exec(text);
  const rtol = /rtol\s+([0-9.eE+-]+)/.exec(text);
  if (!atol || !rtol) throw new Error(`${path}: no usable suggested_tolerance for ${name} ("${text}")`);
  return { atol: Number(atol[1]), rtol: Number(rtol[1]) };
}

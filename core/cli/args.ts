/**
 * The one module that calls the argument parser of the runtime. It wraps `node:util`'s `parseArgs`
 * because JSR is unreachable from our build machines; moving to `jsr:@std/cli`'s `parseArgs` is a change
 * to this file only.
 *
 * @example
 * ```ts
 * import { parseFlags } from "./args.ts";
 * parseFlags(["--seed=3", "--resume"], { seed: { type: "string" }, resume: { type: "boolean" } });
 * // { seed: "3", resume: true }
 * ```
 * @module
 */
import { parseArgs } from "node:util";

/** How `parseFlags` reads one flag. */
export interface RawFlagOption {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
}

/** Parsed flag values by name. */
export type RawFlagValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/**
 * Parses `argv` (flags only: no positionals) strictly: an unknown flag or a missing value throws.
 */
export function parseFlags(argv: readonly string[], options: Record<string, RawFlagOption>): RawFlagValues {
  const { values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false });
  return values as RawFlagValues;
}

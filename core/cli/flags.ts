/**
 * Command lines of the form `[flags] [KEY VALUE ...]`, as detectron2's tools take them: flags first, then
 * config overrides. Flags are declared with a type and a doc line; an unknown flag is rejected with the
 * closest known one; everything from the first word that is not a flag (or after `--`) is left as
 * overrides, so values like `SEED -1` pass through. {@link formatHelp} lists the declared flags.
 *
 * @example
 * ```ts
 * import { parseCommandLine } from "./flags.ts";
 * const { values, rest } = parseCommandLine(["--config-file", "a.yaml", "SEED", "-1"], {
 *   "config-file": { type: "string", doc: "config file", arg: "FILE" },
 * });
 * values["config-file"]; // "a.yaml"
 * rest; // ["SEED", "-1"]
 * ```
 * @module
 */
import { closest } from "../suggest.ts";
import { parseFlags, type RawFlagOption } from "./args.ts";

/** One declared flag. */
export interface FlagSpec {
  /** `string` takes a value, `int` an integer value, `boolean` none. */
  type: "string" | "int" | "boolean";
  /** What the flag does, one line (shown by `--help`). */
  doc: string;
  /** A one-letter alias (`-h`). */
  short?: string;
  /** The flag may be repeated; its value is a list. */
  multiple?: boolean;
  /** The value's placeholder in the help text (`FILE`). */
  arg?: string;
  /** The value when the flag is absent (shown by `--help`). */
  default?: string | number | boolean;
}

/** Declared flags by long name (without the dashes). */
export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

type One<S extends FlagSpec> = S["type"] extends "boolean" ? boolean
  : S["type"] extends "int" ? number
  : string;

/** The parsed values of declared flags: lists for `multiple`, undefined when absent without default. */
export type FlagValues<F extends FlagSpecs> = {
  [K in keyof F]: F[K]["multiple"] extends true ? One<F[K]>[]
    : F[K]["type"] extends "boolean" ? boolean
    : F[K] extends { default: string | number } ? One<F[K]>
    : One<F[K]> | undefined;
};

/** A command line that cannot be used; the message says why. */
export class UsageError extends Error {
  override name = "UsageError";
}

function flagError(name: string, known: readonly string[]): UsageError {
  const near = closest(name, known);
  const hint = near === undefined ? "" : ` (did you mean --${near}?)`;
  return new UsageError(`unknown flag --${name}${hint}; see --help`);
}

/**
 * Splits `argv` into declared flag values and the rest (overrides), checking every flag.
 */
export function parseCommandLine<F extends FlagSpecs>(
  argv: readonly string[],
  flags: F,
): { values: FlagValues<F>; rest: string[] } {
  const names = Object.keys(flags);
  const shorts = new Map(Object.entries(flags).filter(([, s]) => s.short).map(([n, s]) => [s.short!, n]));
  const normalized: string[] = [];
  let rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i];
    if (token === "--") {
      rest = argv.slice(i + 1);
      break;
    }
    let name: string | undefined;
    let inline: string | undefined;
    if (token.startsWith("--")) {
      const eq = token.indexOf("=");
      name = eq < 0 ? token.slice(2) : token.slice(2, eq);
      inline = eq < 0 ? undefined : token.slice(eq + 1);
      if (!Object.hasOwn(flags, name)) throw flagError(name, names);
    } else if (/^-[A-Za-z]$/.test(token)) {
      name = shorts.get(token.slice(1));
      if (name === undefined) throw flagError(token.slice(1), names);
    } else if (token.startsWith("-") && !/^-[\d.]/.test(token)) {
      throw flagError(token.replace(/^-+/, ""), names);
    } else {
      rest = argv.slice(i);
      break;
    }
    const spec = flags[name];
    if (spec.type === "boolean") {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value (got "${inline}")`);
      normalized.push(`--${name}`);
      continue;
    }
    if (inline === undefined) {
      if (i + 1 >= argv.length) {
        throw new UsageError(`--${name} needs a value${spec.arg ? ` (${spec.arg})` : ""}`);
      }
      inline = argv[++i];
    }
    normalized.push(`--${name}=${inline}`);
  }
  const options: Record<string, RawFlagOption> = {};
  for (const [name, spec] of Object.entries(flags)) {
    options[name] = {
      type: spec.type === "boolean" ? "boolean" : "string",
      multiple: spec.multiple ?? false,
    };
  }
  let raw;
  try {
    raw = parseFlags(normalized, options);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(flags)) {
    const v = raw[name];
    const convert = (x: string | boolean): string | number | boolean => {
      if (spec.type !== "int") return x;
      const n = Number(x);
      if (!Number.isSafeInteger(n) || String(x).trim() === "") {
        throw new UsageError(`--${name} expects an integer, got "${x}"`);
      }
      return n;
    };
    if (v === undefined) {
      values[name] = spec.multiple ? [] : spec.type === "boolean" ? (spec.default ?? false) : spec.default;
    } else values[name] = Array.isArray(v) ? v.map(convert) : convert(v);
  }
  return { values: values as FlagValues<F>, rest };
}

/** The options section of a help text: one line per flag with its doc and default. */
export function formatHelp(flags: FlagSpecs): string {
  const rows = Object.entries(flags).map(([name, spec]) => {
    const short = spec.short ? `-${spec.short}, ` : "    ";
    const arg = spec.type === "boolean" ? "" : ` ${spec.arg ?? (spec.type === "int" ? "N" : "VALUE")}`;
    const extra = [
      spec.multiple ? "repeatable" : "",
      spec.default !== undefined && spec.default !== false ? `default: ${spec.default}` : "",
    ].filter(Boolean).join("; ");
    return [`  ${short}--${name}${arg}`, extra ? `${spec.doc} (${extra})` : spec.doc];
  });
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return rows.map(([left, right]) => left.padEnd(width) + right).join("\n");
}

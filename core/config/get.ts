/**
 * Reading a config value by its dotted key. With a typed config (`ConfigOf<typeof defaults>`) the key is
 * checked at compile time and the result typed; with a plain `Config` the result is a `ConfigValue`.
 * A missing key is an error naming the key and the closest existing one.
 *
 * @example
 * ```ts
 * import { get } from "./get.ts";
 * const cfg = { SOLVER: { STEPS: [40000, 50000] } } as const;
 * get(cfg, "SOLVER.STEPS"); // readonly [40000, 50000]
 * ```
 * @module
 */
import { closest } from "../suggest.ts";
import { ConfigError } from "./error.ts";
import type { ConfigNode, ConfigValue } from "./values.ts";

type Primitive = null | undefined | boolean | number | string | bigint;

/** Every dotted key of a typed config `C`, groups included. */
export type ConfigPath<C> = C extends Primitive | readonly unknown[] ? never
  : {
    [K in keyof C & string]: C[K] extends Primitive | readonly unknown[] ? K : K | `${K}.${ConfigPath<C[K]>}`;
  }[keyof C & string];

/** The type of the value at dotted key `P` of `C`. */
export type ConfigPathValue<C, P extends string> = P extends `${infer H}.${infer R}`
  ? H extends keyof C ? ConfigPathValue<C[H], R> : never
  : P extends keyof C ? C[P]
  : never;

/** The value at a dotted key of a typed config. */
export function get<C extends object, P extends ConfigPath<C>>(cfg: C, key: P): ConfigPathValue<C, P>;
/** The value at a dotted key of a plain config. */
export function get(cfg: ConfigNode, key: string): ConfigValue;
export function get(cfg: object, key: string): unknown {
  let node: unknown = cfg;
  const parts = key.split(".");
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (typeof node !== "object" || node === null || Array.isArray(node) || !Object.hasOwn(node, part)) {
      const at = parts.slice(0, i).join(".");
      const siblings = typeof node === "object" && node !== null && !Array.isArray(node)
        ? Object.keys(node)
        : [];
      const near = closest(part, siblings);
      const hint = near === undefined ? "" : ` (did you mean ${at ? `${at}.` : ""}${near}?)`;
      throw new ConfigError(`config has no key ${key}${hint}`);
    }
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/**
 * The registries object every task builds once and hands to the plugins: `backbones` (visual and
 * language), `decoders` (pixel, frame and clip decoders), `losses` (criteria and matchers), `datasets`,
 * `models`, `evaluators` and `converters`. An entry is a {@link Factory} `(cfg, ctx) => instance`: the config
 * is read only there, the classes behind it take plain typed options.
 *
 * @example
 * ```ts
 * import { createRegistries } from "./registries.ts";
 * import { Generator } from "./random.ts";
 * const registries = createRegistries();
 * registries.backbones.register("Tiny", (_cfg, ctx) => ({ seed: ctx.generator.nextUint32() }));
 * const ctx = { registries, generator: new Generator(0) };
 * registries.backbones.get("Tiny")({}, ctx);
 * ```
 * @module
 */
import type { Config } from "./config/merge.ts";
import type { Generator } from "./random.ts";
import { Registry } from "./registry.ts";

/** What every factory receives besides the config. */
export interface BuildContext {
  /** The registries, so a model factory can build its parts by name. */
  registries: Registries;
  /** The one seeded generator (initialisation, dropout, sampling). */
  generator: Generator;
  /** Anything else a caller hands down (a tokenizer, a dataset root, a device): an open bag. */
  [extra: string]: unknown;
}

/** A registry entry: builds an instance from the (frozen) config and the build context. */
export type Factory<T = unknown> = (cfg: Config, ctx: BuildContext) => T;

/** The registries a plugin can add to. */
export interface Registries {
  readonly backbones: Registry<Factory>;
  readonly decoders: Registry<Factory>;
  readonly losses: Registry<Factory>;
  readonly datasets: Registry<Factory>;
  readonly models: Registry<Factory>;
  readonly evaluators: Registry<Factory>;
  readonly converters: Registry<Factory>;
}

/** The names of the registries, in the order listings show them. */
export const REGISTRY_NAMES: readonly (keyof Registries)[] = [
  "backbones",
  "decoders",
  "losses",
  "datasets",
  "models",
  "evaluators",
  "converters",
];

/**
 * A fresh, empty set of registries. Tasks create one and let the loaded plugins register into it.
 *
 * @example
 * ```ts
 * import { createRegistries } from "./registries.ts";
 * createRegistries().models.list(); // []
 * ```
 */
export function createRegistries(): Registries {
  return Object.freeze(
    Object.fromEntries(REGISTRY_NAMES.map((name) => [name, new Registry<Factory>(name)])),
  ) as unknown as Registries;
}

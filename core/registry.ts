/**
 * Named registries through which plugins provide backbones, decoders, losses, datasets, models,
 * evaluators and converters. An entry is a factory `(cfg, ctx) => instance`: the config is translated
 * only at this boundary, the classes behind it take plain typed options.
 *
 * @example
 * ```ts
 * import { Registry } from "./registry.ts";
 * const backbones = new Registry<(cfg: unknown) => string>("backbones");
 * backbones.register("Tiny", () => "tiny");
 * backbones.get("Tiny")(undefined); // "tiny"
 * ```
 * @module
 */
import { closest } from "./suggest.ts";

/** Options of {@link Registry.register}. */
export interface RegisterOptions {
  /** Replace an existing entry of the same name instead of failing. */
  override?: boolean;
  /** Who registered it (a plugin name), shown in listings and duplicate errors. */
  owner?: string;
}

/** Raised when a name is registered twice or looked up without being registered. */
export class RegistryError extends Error {
  override name = "RegistryError";
}

/** A named table of factories. */
export class Registry<T> {
  readonly #entries = new Map<string, { value: T; owner?: string }>();

  constructor(readonly kind: string) {}

  /** Adds `value` under `name`; a duplicate is an error unless `{ override: true }`. */
  register(name: string, value: T, options: RegisterOptions = {}): void {
    if (typeof name !== "string" || name.length === 0) {
      throw new RegistryError(`${this.kind}: a registered name must be a non-empty string`);
    }
    const existing = this.#entries.get(name);
    if (existing && !options.override) {
      const by = existing.owner ? ` by plugin "${existing.owner}"` : "";
      throw new RegistryError(
        `${this.kind}: "${name}" is already registered${by}; pass { override: true } to replace it`,
      );
    }
    this.#entries.set(name, { value, owner: options.owner });
  }

  /** The entry under `name`; a miss lists what is registered and the closest name. */
  get(name: string): T {
    const entry = this.#entries.get(name);
    if (entry) return entry.value;
    const names = this.list();
    const near = closest(name, names);
    const hint = near === undefined ? "" : ` Did you mean "${near}"?`;
    const known = names.length ? names.join(", ") : "(nothing yet: is the plugin that provides it loaded?)";
    throw new RegistryError(`${this.kind}: no entry named "${name}".${hint} Registered: ${known}`);
  }

  /** Whether `name` is registered. */
  has(name: string): boolean {
    return this.#entries.has(name);
  }

  /** The plugin that registered `name`, if known. */
  ownerOf(name: string): string | undefined {
    return this.#entries.get(name)?.owner;
  }

  /** Registered names, sorted. */
  list(): string[] {
    return [...this.#entries.keys()].sort();
  }
}

/**
 * The error every config problem raises: a bad file, an unknown key, a wrong type, a `_BASE_` cycle.
 * Its message starts with where the problem is (a file path or "command line").
 *
 * @example
 * ```ts
 * import { ConfigError } from "./error.ts";
 * throw new ConfigError("configs/a.yaml: SOLVER.MAX_ITER expects an int, got 5.5");
 * ```
 * @module
 */

/** A config file, key or value that cannot be used. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

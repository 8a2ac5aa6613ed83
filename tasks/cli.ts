/**
 * What every task CLI shares: one argument parser with detectron2's flags (`--config-file`,
 * `--eval-only`, `--resume`, `--num-gpus`, `--num-machines`, `--machine-rank`, `--dist-url`), the port's
 * flags (`--dataset`, `--device`, `--seed`, `--output`, repeated `--plugin`), the task's own flags, and
 * trailing `KEY VALUE` config overrides; then the config with its plugins and a registries object.
 *
 * The shortcut flags become overrides placed before the trailing ones (which therefore win):
 * `--seed` sets `SEED`, `--output` `OUTPUT_DIR`, `--device` `MODEL.DEVICE`, `--dataset` the task's data
 * set key (`DATASETS.TEST`, or `DATASETS.TRAIN` for training; comma-separated for several).
 *
 * @example
 * ```ts ignore
 * import { buildTaskContext, runTask } from "./cli.ts";
 * const spec = { name: "eval", summary: "Evaluate a model.", issue: 10 };
 * if (import.meta.main) {
 *   await runTask(spec, async ({ cfg, registries }) => {
 *     // ... build the model from cfg through the registries
 *     return 0;
 *   });
 * }
 * ```
 * @module
 */
import { ConfigError } from "../core/config/error.ts";
import { loadConfig, type LoadedConfig } from "../core/config/load.ts";
import {
  type FlagSpecs,
  type FlagValues,
  formatHelp,
  parseCommandLine,
  UsageError,
} from "../core/cli/flags.ts";
import { PluginError, registerPlugins } from "../core/plugin.ts";
import { Generator } from "../core/random.ts";
import { type BuildContext, createRegistries, type Registries } from "../core/registries.ts";
import { RegistryError } from "../core/registry.ts";
import { type BackendInfo, DeviceError, useDevice } from "../core/tensor/backend.ts";
import { get } from "../core/config/get.ts";
import type { Config } from "../core/config/merge.ts";
import { builtinPlugins } from "../mod.ts";

/** The flags every task takes. */
export const COMMON_FLAGS = {
  "config-file": { type: "string", arg: "FILE", doc: "YAML config file (its _BASE_ chain is read too)" },
  "eval-only": { type: "boolean", doc: "only evaluate (detectron2 compatible)" },
  "resume": { type: "boolean", doc: "resume from the last checkpoint in OUTPUT_DIR" },
  "num-gpus": { type: "int", default: 1, doc: "devices per machine (detectron2 compatible)" },
  "num-machines": { type: "int", default: 1, doc: "machines (detectron2 compatible)" },
  "machine-rank": { type: "int", default: 0, doc: "rank of this machine (detectron2 compatible)" },
  "dist-url": { type: "string", arg: "URL", default: "auto", doc: "rendezvous URL (detectron2 compatible)" },
  "dataset": { type: "string", arg: "NAME[,NAME]", doc: "data set(s) to use (sets the task's DATASETS key)" },
  "device": { type: "string", arg: "DEVICE", doc: "sets MODEL.DEVICE (cpu, wasm, cuda, ...)" },
  "seed": { type: "int", doc: "sets SEED (negative: from the clock)" },
  "output": { type: "string", arg: "DIR", doc: "sets OUTPUT_DIR" },
  "plugin": {
    type: "string",
    arg: "SPEC",
    multiple: true,
    doc: "load a plugin: path, file URL, npm: or jsr:",
  },
  "help": { type: "boolean", short: "h", doc: "show this help and exit" },
} as const satisfies FlagSpecs;

/** What a task declares about its command line. */
export interface TaskSpec<F extends FlagSpecs = Record<never, never>> {
  /** The task's name, as in `deno task <name>`. */
  name: string;
  /** One line saying what the task does. */
  summary: string;
  /** The task's own flags, besides {@link COMMON_FLAGS}. */
  flags?: F;
  /** The key `--dataset` sets; default `DATASETS.TEST`. */
  datasetKey?: string;
  /** Example command lines for the help text. */
  examples?: readonly string[];
}

/** A parsed task command line. */
export interface TaskArgs<F extends FlagSpecs = Record<never, never>> {
  configFile?: string;
  evalOnly: boolean;
  resume: boolean;
  numGpus: number;
  numMachines: number;
  machineRank: number;
  distUrl: string;
  dataset?: string;
  device?: string;
  seed?: number;
  output?: string;
  /** `--plugin` specifiers, in order. */
  plugins: string[];
  /** All config overrides, flat `KEY VALUE` pairs: the shortcut flags' first, then the trailing ones. */
  overrides: string[];
  /** The task's own flags. */
  flags: FlagValues<F>;
}

/**
 * Everything a task needs after its command line: the arguments, config, plugins and registries. It is
 * also a {@link BuildContext}, so it can be handed to registry factories as it is.
 */
export interface TaskContext<F extends FlagSpecs = Record<never, never>> extends LoadedConfig, BuildContext {
  args: TaskArgs<F>;
  /** The registries, with every loaded plugin registered. */
  registries: Registries;
  /** The seed in effect (`SEED`, or one drawn from the clock when `SEED` is negative). */
  seed: number;
  /** The one generator, seeded with {@link TaskContext.seed}. */
  generator: Generator;
}

/** Thrown by {@link parseTaskArgs} for `--help`; its message is the help text. */
export class HelpRequested extends Error {
  override name = "HelpRequested";
}

/** The help text of a task. */
export function taskHelp<F extends FlagSpecs>(spec: TaskSpec<F>): string {
  const datasetKey = spec.datasetKey ?? "DATASETS.TEST";
  const lines = [
    `Usage: deno task ${spec.name} [OPTIONS] [KEY VALUE ...]`,
    "",
    spec.summary,
    "",
    "Options:",
    formatHelp({ ...COMMON_FLAGS, ...(spec.flags ?? {}) }),
    "",
    "Config overrides:",
    "  KEY VALUE pairs after the options set config keys; values parse as YAML and yacs tuples work:",
    `  SOLVER.MAX_ITER 100  SOLVER.STEPS '(40000, 50000)'  ${datasetKey} '("mevis_valid_u",)'`,
    "  Shortcut flags (--seed, --output, --device, --dataset) apply first; trailing pairs win.",
  ];
  if (spec.examples?.length) lines.push("", "Examples:", ...spec.examples.map((e) => `  ${e}`));
  return lines.join("\n");
}

/**
 * Parses a task's command line. Throws {@link HelpRequested} for `-h`/`--help` and `UsageError` for an
 * unknown flag, a missing value or an odd number of override words.
 *
 * @example
 * ```ts
 * import { parseTaskArgs } from "./cli.ts";
 * const args = parseTaskArgs(["--config-file", "c.yaml", "--eval-only", "MODEL.WEIGHTS", "w"], {
 *   name: "eval",
 *   summary: "Evaluate.",
 * });
 * args.overrides; // ["MODEL.WEIGHTS", "w"]
 * ```
 */
export function parseTaskArgs<F extends FlagSpecs = Record<never, never>>(
  argv: readonly string[],
  spec: TaskSpec<F>,
): TaskArgs<F> {
  const own = spec.flags ?? ({} as F);
  for (const name of Object.keys(own)) {
    if (Object.hasOwn(COMMON_FLAGS, name)) {
      throw new UsageError(`task ${spec.name} redeclares the common flag --${name}`);
    }
  }
  const parsed = parseCommandLine(argv, { ...COMMON_FLAGS, ...own } as FlagSpecs);
  const values = parsed.values as FlagValues<typeof COMMON_FLAGS>;
  const rest = parsed.rest;
  if (values.help) throw new HelpRequested(taskHelp(spec));
  if (rest.length % 2 !== 0) {
    throw new UsageError(
      `config overrides come as KEY VALUE pairs, got ${rest.length} words (${rest.join(" ")}); "${
        rest[rest.length - 1]
      }" has no value`,
    );
  }
  const shortcuts: string[] = [];
  if (values.seed !== undefined) shortcuts.push("SEED", String(values.seed));
  if (values.output !== undefined) shortcuts.push("OUTPUT_DIR", JSON.stringify(values.output));
  if (values.device !== undefined) shortcuts.push("MODEL.DEVICE", JSON.stringify(values.device));
  if (values.dataset !== undefined) {
    const names = values.dataset.split(",").map((s) => s.trim()).filter(Boolean);
    shortcuts.push(spec.datasetKey ?? "DATASETS.TEST", JSON.stringify(names));
  }
  const ownValues = Object.fromEntries(Object.keys(own).map((k) => [k, parsed.values[k]]));
  return {
    configFile: values["config-file"],
    evalOnly: values["eval-only"],
    resume: values.resume,
    numGpus: values["num-gpus"],
    numMachines: values["num-machines"],
    machineRank: values["machine-rank"],
    distUrl: values["dist-url"],
    dataset: values.dataset,
    device: values.device,
    seed: values.seed,
    output: values.output,
    plugins: values.plugin,
    overrides: [...shortcuts, ...rest],
    flags: ownValues as FlagValues<F>,
  };
}

/** Options of {@link buildTaskContext}. */
export interface BuildTaskOptions {
  /** Where relative paths start; defaults to the cwd. */
  cwd?: string;
}

/**
 * Parses the command line, loads the built-in plugins plus those named by `PLUGINS` and `--plugin`,
 * reads and checks the config, and registers every plugin into fresh registries.
 *
 * @example
 * ```ts ignore
 * import { buildTaskContext } from "./cli.ts";
 * const { cfg, registries } = await buildTaskContext(Deno.args, { name: "eval", summary: "Evaluate." });
 * ```
 */
export async function buildTaskContext<F extends FlagSpecs = Record<never, never>>(
  argv: readonly string[],
  spec: TaskSpec<F>,
  options: BuildTaskOptions = {},
): Promise<TaskContext<F>> {
  const args = parseTaskArgs(argv, spec);
  const loaded = await loadConfig({
    file: args.configFile,
    overrides: args.overrides,
    plugins: [...Object.keys(builtinPlugins), ...args.plugins],
    builtins: builtinPlugins,
    cwd: options.cwd,
  });
  const registries = createRegistries();
  await registerPlugins(loaded.plugins, registries);
  const configured = loaded.cfg.SEED as number;
  const seed = configured >= 0 ? configured : crypto.getRandomValues(new Uint32Array(1))[0] & 0x7fffffff;
  return { ...loaded, args, registries, seed, generator: new Generator(seed) };
}

/** The error kinds a task reports as a one-line message (exit 1) rather than a stack trace. */
function isUserError(e: unknown): e is Error {
  return e instanceof UsageError || e instanceof ConfigError || e instanceof PluginError ||
    e instanceof RegistryError || e instanceof DeviceError;
}

/**
 * Runs a task: builds its context from `argv`, calls `main`, and exits with its code. `--help` prints
 * the help and exits 0; a usage, config, plugin, registry or device error prints `<task>: <message>` to stderr
 * and exits 1; other errors propagate.
 */
export async function runTask<F extends FlagSpecs = Record<never, never>>(
  spec: TaskSpec<F>,
  main: (ctx: TaskContext<F>) => number | void | Promise<number | void>,
  argv: readonly string[] = Deno.args,
): Promise<never> {
  let code: number;
  try {
    const ctx = await buildTaskContext(argv, spec);
    code = (await main(ctx)) ?? 0;
  } catch (e) {
    if (e instanceof HelpRequested) {
      console.log(e.message);
      Deno.exit(0);
    }
    if (!isUserError(e)) throw e;
    console.error(`${spec.name}: ${e.message}`);
    code = 1;
  }
  Deno.exit(code);
}

/**
 * Selects the tensor backend for `MODEL.DEVICE`. The detectron2 default `cuda` (not named by `--device`
 * or a `MODEL.DEVICE` override) falls back to wasm with a one-line notice when the GPU backend cannot
 * load; a device the user named stays strict.
 */
export async function selectDevice(
  cfg: Config,
  args: { device?: string; overrides: readonly string[] },
  opts: { threads?: number } = {},
): Promise<BackendInfo> {
  const device = String(get(cfg, "MODEL.DEVICE"));
  const named = args.device !== undefined ||
    args.overrides.some((w, i) => i % 2 === 0 && w === "MODEL.DEVICE");
  if (named || device.trim().toLowerCase() !== "cuda") return await useDevice(device, opts);
  try {
    return await useDevice(device, opts);
  } catch (e) {
    const why = (e as Error).message.split("\n")[0].replace(/\.?\s*Install it.*$/, "");
    const info = await useDevice("wasm", opts);
    console.error(`note: MODEL.DEVICE "cuda" (the default) is unavailable (${why}); using wasm`);
    return info;
  }
}

/**
 * Training checkpoints in the project's native format, saved and resumed as detectron2's
 * `DetectionCheckpointer` + `PeriodicCheckpointer` do. A checkpoint named `model_0004999` is three files
 * in `OUTPUT_DIR`:
 *
 * | file                              | holds                                                             |
 * | --------------------------------- | ----------------------------------------------------------------- |
 * | `model_0004999.safetensors`       | the model's state dict under the original's key names             |
 * | `model_0004999.optim.safetensors` | AdamW's moments, `<param>.exp_avg` and `<param>.exp_avg_sq`       |
 * | `model_0004999.json`              | iteration, config hash, generator states, scheduler state, steps |
 *
 * Every file is written to a temporary file and renamed; the sidecar is written last and the
 * `last_checkpoint` pointer (the model file's name, as detectron2 writes it) after it, so the pointer
 * only ever names a complete checkpoint. The name carries the iteration that just finished; a resumed
 * run starts at the next one.
 *
 * @example
 * ```ts ignore
 * import { Checkpointer } from "./checkpointer.ts";
 * const ckpt = new Checkpointer("output", { module: model, optimizer, scheduler, generators: { main: gen } });
 * await ckpt.save("model_0004999", 4999);
 * const restored = await ckpt.resume(); // { iteration: 4999, ... } or null without last_checkpoint
 * ```
 * @module
 */
import { join } from "node:path";
import * as ops from "../tensor/ops.ts";
import type { Tensor } from "../tensor/ops.ts";
import type { LoadReport, Module } from "../tensor/nn/module.ts";
import { writeFileAtomic, writeJsonAtomic } from "../io/atomic.ts";
import { loadSafetensors, type NamedTensor, saveSafetensors, type TensorInput } from "../io/safetensors.ts";
import { readCheckpoint } from "../io/checkpoint.ts";
import { dumpConfig } from "../config/write.ts";
import type { Config } from "../config/merge.ts";
import type { Generator, GeneratorState } from "../random.ts";
import type { AdamW } from "./optimizer.ts";
import type { LRScheduler, LRSchedulerState } from "./lr_scheduler.ts";

/** The pointer file naming the newest checkpoint, as detectron2 names it. */
export const LAST_CHECKPOINT = "last_checkpoint";
/** The sidecar's `format` value. */
export const SIDECAR_FORMAT = "dshmp-checkpoint/1";

/** The JSON sidecar of a checkpoint. */
export interface CheckpointSidecar {
  format: typeof SIDECAR_FORMAT;
  /** The iteration that had just finished when the checkpoint was taken. */
  iteration: number;
  /** {@link configHash} of the run's config, or null when unknown. */
  configHash: string | null;
  /** The model file, relative to the sidecar's folder. */
  model: string;
  /** The optimizer's moments file (relative) and each parameter's step count; null without optimizer. */
  optimizer: { file: string; steps: Record<string, number> } | null;
  scheduler: LRSchedulerState | null;
  /** The saved generators' states, by name. */
  generators: Record<string, GeneratorState>;
  /** When it was written (ISO 8601). */
  savedAt: string;
}

/** What a {@link Checkpointer} saves and restores; only `module` is required. */
export interface CheckpointTargets {
  module: Module;
  optimizer?: AdamW;
  scheduler?: LRScheduler;
  /** Generators whose state continues across a resume (the model's dropout, the data's ...). */
  generators?: Record<string, Generator>;
  /** {@link configHash} of the run's config, recorded in the sidecar and compared on resume. */
  configHash?: string;
}

/** What {@link Checkpointer.resume} restored. */
export interface ResumeInfo {
  /** The iteration of the checkpoint (the next run starts one later). */
  iteration: number;
  /** The model file loaded. */
  path: string;
  sidecar: CheckpointSidecar;
  /** Set when the checkpoint was taken under another config: a sentence saying so. */
  configWarning?: string;
}

/**
 * The SHA-256 of a config's YAML text (`sha256:<hex>`), to tell on resume whether the config changed.
 *
 * @example
 * ```ts
 * import { configHash } from "./checkpointer.ts";
 * await configHash({ SOLVER: { MAX_ITER: 10 } }); // "sha256:…"
 * ```
 */
export async function configHash(cfg: Config): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(dumpConfig(cfg)));
  return "sha256:" + [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The checkpoint name of an iteration, `model_0004999`.
 *
 * @example
 * ```ts
 * import { checkpointName } from "./checkpointer.ts";
 * checkpointName(4999); // "model_0004999"
 * ```
 */
export function checkpointName(iteration: number): string {
  return `model_${String(iteration).padStart(7, "0")}`;
}

const SAFE_DTYPE = { float32: "F32", int32: "I32", bool: "BOOL" } as const;

function tensorRecord(tensors: Iterable<[string, Tensor]>): Map<string, TensorInput> {
  const out = new Map<string, TensorInput>();
  for (const [name, t] of tensors) {
    const dtype = SAFE_DTYPE[t.dtype as keyof typeof SAFE_DTYPE];
    if (dtype === undefined) throw new Error(`checkpoint: tensor ${name} has unsupported dtype ${t.dtype}`);
    out.set(name, { dtype, shape: t.shape, data: ops.toArray(t) });
  }
  return out;
}

function toTensor(name: string, t: NamedTensor): Tensor {
  if (t.dtype !== "F32") throw new Error(`checkpoint: ${name} is ${t.dtype}, F32 expected`);
  return ops.tensor(t.data as Float32Array, t.shape);
}

/** Saves and restores training state in a folder; see the module documentation. */
export class Checkpointer {
  readonly dir: string;
  readonly #targets: CheckpointTargets;

  constructor(dir: string, targets: CheckpointTargets) {
    this.dir = dir;
    this.#targets = targets;
  }

  /**
   * Writes checkpoint `name` (e.g. {@link checkpointName}`(iteration)` or `model_final`) for the
   * iteration that just finished, then points `last_checkpoint` at it. Returns the model file's path.
   */
  async save(name: string, iteration: number): Promise<string> {
    const { module, optimizer, scheduler, generators = {}, configHash = null } = this.#targets;
    await Deno.mkdir(this.dir, { recursive: true });
    const modelFile = `${name}.safetensors`;
    const optimFile = `${name}.optim.safetensors`;
    const meta = { format: "pt", iteration: String(iteration) };
    await saveSafetensors(join(this.dir, modelFile), tensorRecord(module.stateDict()), meta);
    let optimizerEntry: CheckpointSidecar["optimizer"] = null;
    if (optimizer !== undefined) {
      const state = optimizer.stateDict();
      try {
        await saveSafetensors(join(this.dir, optimFile), tensorRecord(state.tensors), meta);
      } finally {
        ops.dispose([...state.tensors.values()]);
      }
      optimizerEntry = { file: optimFile, steps: state.steps };
    }
    const sidecar: CheckpointSidecar = {
      format: SIDECAR_FORMAT,
      iteration,
      configHash,
      model: modelFile,
      optimizer: optimizerEntry,
      scheduler: scheduler?.stateDict() ?? null,
      generators: Object.fromEntries(Object.entries(generators).map(([k, g]) => [k, g.getState()])),
      savedAt: new Date().toISOString(),
    };
    await writeJsonAtomic(join(this.dir, `${name}.json`), sidecar);
    await writeFileAtomic(join(this.dir, LAST_CHECKPOINT), modelFile);
    return join(this.dir, modelFile);
  }

  /** The model file `last_checkpoint` names (a path in {@link Checkpointer.dir}), or null when none. */
  async lastCheckpoint(): Promise<string | null> {
    try {
      const name = (await Deno.readTextFile(join(this.dir, LAST_CHECKPOINT))).trim();
      return name === "" ? null : join(this.dir, name);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return null;
      throw e;
    }
  }

  /**
   * Restores everything from the checkpoint `last_checkpoint` names: the model strictly, the
   * optimizer's moments and steps, the scheduler, the generators. Returns null when there is no
   * checkpoint. The files are read and the sidecar checked for every part before anything changes;
   * a mismatched model or optimizer is then reported by their strict loaders.
   */
  async resume(): Promise<ResumeInfo | null> {
    const path = await this.lastCheckpoint();
    if (path === null) return null;
    const sidecarPath = path.replace(/\.safetensors$/, ".json");
    let sidecar: CheckpointSidecar;
    try {
      sidecar = JSON.parse(await Deno.readTextFile(sidecarPath));
    } catch (e) {
      throw new Error(`resume: cannot read ${sidecarPath} (${(e as Error).message})`);
    }
    if (sidecar.format !== SIDECAR_FORMAT) {
      throw new Error(`resume: ${sidecarPath} has format ${sidecar.format}, expected ${SIDECAR_FORMAT}`);
    }
    const { module, optimizer, scheduler, generators = {} } = this.#targets;
    const missing = [
      ...Object.keys(generators).filter((k) => sidecar.generators[k] === undefined).map((k) =>
        `generator ${k}`
      ),
      ...(optimizer && !sidecar.optimizer ? ["optimizer state"] : []),
      ...(scheduler && !sidecar.scheduler ? ["scheduler state"] : []),
    ];
    if (missing.length > 0) throw new Error(`resume: ${sidecarPath} lacks ${missing.join(", ")}`);
    const model = await loadSafetensors(path);
    const moments = optimizer && sidecar.optimizer
      ? await loadSafetensors(join(this.dir, sidecar.optimizer.file))
      : null;

    module.loadStateDict(model.tensors, { strict: true });
    if (optimizer && moments && sidecar.optimizer) {
      const tensors = new Map([...moments.tensors].map(([k, t]) => [k, toTensor(k, t)]));
      try {
        optimizer.loadStateDict({ tensors, steps: sidecar.optimizer.steps });
      } finally {
        ops.dispose([...tensors.values()]);
      }
    }
    if (scheduler && sidecar.scheduler) scheduler.loadStateDict(sidecar.scheduler);
    for (const [k, g] of Object.entries(generators)) g.setState(sidecar.generators[k]);
    const info: ResumeInfo = { iteration: sidecar.iteration, path, sidecar };
    const own = this.#targets.configHash;
    if (own !== undefined && sidecar.configHash !== null && own !== sidecar.configHash) {
      info.configWarning = `${path} was saved under another config (${sidecar.configHash}, now ${own})`;
    }
    return info;
  }
}

/**
 * Loads model weights only (`MODEL.WEIGHTS`: any format `readCheckpoint` reads: safetensors, a
 * PyTorch `.pth`, a detectron2 `.pkl`), as detectron2 loads weights for a fresh run or `--eval-only`.
 * Not strict by default, as detectron2 (a backbone-only file leaves the heads as initialised); the
 * report lists what did not match.
 *
 * @example
 * ```ts ignore
 * import { loadWeights } from "./checkpointer.ts";
 * const report = await loadWeights(model, "weights/dshmp_swin_tiny.safetensors", { strict: true });
 * ```
 */
export async function loadWeights(
  module: Module,
  path: string,
  { strict = false }: { strict?: boolean } = {},
): Promise<LoadReport> {
  const { tensors } = await readCheckpoint(path);
  return module.loadStateDict(tensors, { strict });
}

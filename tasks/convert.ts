/**
 * `deno task convert`: turns a published checkpoint into a safetensors file for `MODEL.WEIGHTS`.
 *
 * - `--from model_final_86143f.pkl` (a detectron2 / Mask2Former pickle): what the original's
 *   `tools/process_ckpt.py` does: the frame decoder's query tables cut to
 *   `MODEL.MASK_FORMER.NUM_OBJECT_QUERIES` rows (give the paper config for its 20), `static_query`
 *   renamed `query_feat`. The result initialises training.
 * - `--from dshmp.pth` (a PyTorch checkpoint such as the published DsHmp model): its `model` state dict
 *   as it is; `iteration` and the other plain entries go to the file's metadata.
 * - `--raw`: any supported checkpoint as it is: same names, values and dtypes (F64 stays F64).
 * - `--converter NAME`: any `converters` registry entry (a plugin's).
 *
 * When `MODEL.META_ARCHITECTURE` is registered, the model is built and a detectron2-style report says
 * which of its tensors the file fills, which it skips for their shape, which stay initialised and
 * which checkpoint tensors nothing uses.
 *
 * @example
 * ```sh
 * deno task convert --config-file configs/dshmp_swin_tiny.yaml --from model_final_86143f.pkl
 * deno task convert --from dshmp_swin_tiny.pth --out weights/dshmp_swin_tiny.safetensors
 * ```
 * @module
 */
import { UsageError } from "../core/cli/flags.ts";
import type { FlagSpecs } from "../core/cli/flags.ts";
import { CheckpointFormatError, readCheckpoint } from "../core/io/checkpoint.ts";
import { dtypeSize, type NamedTensor, numelOf, saveSafetensors } from "../core/io/safetensors.ts";
import type { CheckpointConverter, Shaped } from "../core/io/weights.ts";
import type { Factory } from "../core/registries.ts";
import { useBackend } from "../core/tensor/backend.ts";
import { loadReport, MASK2FORMER_CONVERTER, RAW_CONVERTER } from "../plugins/mask2former/convert/mod.ts";
import { runTask, type TaskContext, type TaskSpec } from "./cli.ts";

/** The convert task's command line. */
export const convertSpec = {
  name: "convert",
  summary: "Convert a Mask2Former .pkl (process_ckpt.py) or a PyTorch .pth (e.g. the published DsHmp " +
    "model) to safetensors for MODEL.WEIGHTS.",
  flags: {
    from: {
      type: "string",
      arg: "FILE",
      doc: "checkpoint to convert: detectron2 .pkl, PyTorch .pth (zip or legacy), or safetensors",
    },
    out: { type: "string", arg: "FILE", doc: "safetensors file to write (default: beside --from)" },
    raw: { type: "boolean", doc: "convert as it is: same names, values and dtypes (no process_ckpt)" },
    converter: {
      type: "string",
      arg: "NAME",
      doc: "use this converters-registry entry (default: by format)",
    },
  },
  examples: [
    "# Mask2Former COCO weights -> DsHmp initialisation (process_ckpt.py: 20 queries from the config):",
    "deno task convert --config-file configs/dshmp_swin_tiny.yaml --from model_final_86143f.pkl",
    "# The published DsHmp checkpoint -> safetensors (its model state dict; iteration kept as metadata):",
    "deno task convert --config-file configs/dshmp_swin_tiny.yaml --from dshmp_swin_tiny.pth",
    "# Any checkpoint unchanged:",
    "deno task convert --raw --from weights.pth --out weights.safetensors",
  ],
} as const satisfies TaskSpec<FlagSpecs>;

/**
 * The default output path: the input's name with `.safetensors` for its extension (`.converted` added
 * when the input is a safetensors file already).
 *
 * @example
 * ```ts
 * import { defaultOutPath } from "./convert.ts";
 * defaultOutPath("w/model_final_86143f.pkl"); // "w/model_final_86143f.safetensors"
 * ```
 */
export function defaultOutPath(from: string): string {
  const slash = from.lastIndexOf("/");
  const dot = from.lastIndexOf(".");
  const stem = dot > slash + 1 ? from.slice(0, dot) : from;
  return from.endsWith(".safetensors") ? `${stem}.converted.safetensors` : `${stem}.safetensors`;
}

function megabytes(tensors: Map<string, NamedTensor>): number {
  let bytes = 0;
  for (const t of tensors.values()) bytes += numelOf(t.shape) * dtypeSize(t.dtype);
  return bytes / 1e6;
}

function dtypeCounts(tensors: Map<string, NamedTensor>): string {
  const counts = new Map<string, number>();
  for (const t of tensors.values()) counts.set(t.dtype, (counts.get(t.dtype) ?? 0) + 1);
  return [...counts].map(([d, n]) => `${d} ${n}`).join(", ");
}

const seconds = (t0: number) => `${((performance.now() - t0) / 1000).toFixed(2)} s`;

async function main(ctx: TaskContext<typeof convertSpec.flags>): Promise<number> {
  const { from, raw } = ctx.args.flags;
  if (from === undefined) throw new UsageError("--from FILE is required (see --help)");
  const out = ctx.args.flags.out ?? defaultOutPath(from);
  if (out === from) throw new UsageError(`--out ${out} would overwrite the input`);

  let t0 = performance.now();
  let ckpt;
  try {
    ckpt = await readCheckpoint(from);
  } catch (e) {
    if (!(e instanceof CheckpointFormatError)) throw e;
    console.error(`convert: ${e.message}`);
    return 1;
  }
  console.log(
    `Read ${from} (${ckpt.format}, ${ckpt.tensors.size} tensors, ${megabytes(ckpt.tensors).toFixed(1)} MB) ` +
      `in ${seconds(t0)}`,
  );

  const name = ctx.args.flags.converter ??
    (raw ? RAW_CONVERTER : ckpt.format === "pickle" ? MASK2FORMER_CONVERTER : RAW_CONVERTER);
  const factory = ctx.registries.converters.get(name) as Factory<CheckpointConverter>;
  const converter = factory(ctx.cfg, ctx);
  t0 = performance.now();
  const result = converter.convert(ckpt, from);
  console.log(`Converter ${name}: ${converter.summary}`);
  for (const note of result.notes) console.log(`  ${note}`);
  await saveSafetensors(out, result.tensors, result.metadata);
  console.log(
    `Wrote ${out} (${result.tensors.size} tensors: ${dtypeCounts(result.tensors)}; ` +
      `${megabytes(result.tensors).toFixed(1)} MB) in ${seconds(t0)}`,
  );
  console.log(`  metadata: ${Object.keys(result.metadata).join(", ")}`);

  const arch = String((ctx.cfg.MODEL as Record<string, unknown>).META_ARCHITECTURE);
  if (!ctx.registries.models.has(arch)) {
    console.log(
      `\nNo model report: MODEL.META_ARCHITECTURE "${arch}" is not registered ` +
        `(models: ${ctx.registries.models.list().join(", ") || "none"}). The report needs the model: ` +
        `give its config (--config-file) once its plugin registers it.`,
    );
    return 0;
  }
  await useBackend("wasm"); // building only allocates the weights
  const model = ctx.registries.models.get(arch)(ctx.cfg, ctx) as {
    stateDict(): Map<string, Shaped>;
    dispose?(): void;
  };
  try {
    const target = new Map([...model.stateDict()].map(([k, v]) => [k, [...v.shape]]));
    const { text } = loadReport(
      { format: "safetensors", extra: result.metadata, tensors: result.tensors },
      target,
      { source: out },
    );
    console.log(`\nLoading ${out} into ${arch} (${ctx.args.configFile ?? "default config"}):\n${text}`);
  } finally {
    model.dispose?.();
  }
  return 0;
}

if (import.meta.main) await runTask(convertSpec, main);

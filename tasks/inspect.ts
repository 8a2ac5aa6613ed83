/**
 * `deno task inspect`: shows the loaded plugins and registries and builds the config's model
 * (`MODEL.META_ARCHITECTURE` from the `models` registry) to print its parameter counts per top-level
 * prefix (small containers broken down one level); `--state-dict-keys FILE` writes `{name: shape}` of
 * every state-dict entry as JSON.
 *
 * It builds the model for real (under a second for DsHmp's 92M parameters) but without RoBERTa: the
 * text encoder's 125M parameters are listed from its shapes alone (`robertaStateDictEntries`), which
 * is what a strict checkpoint load checks.
 *
 * @example
 * ```sh
 * deno task inspect --config-file configs/dshmp_swin_tiny.yaml --state-dict-keys out.json
 * ```
 * @module
 */
import type { FlagSpecs } from "../core/cli/flags.ts";
import type { Config } from "../core/config/merge.ts";
import { REGISTRY_NAMES } from "../core/registries.ts";
import { useBackend } from "../core/tensor/backend.ts";
import type { Module } from "../core/tensor/nn/mod.ts";
import { DsHmp } from "../plugins/dshmp/model/dshmp_model.ts";
import type { DshmpBuildContext } from "../plugins/dshmp/model/build.ts";
import { ROBERTA_BASE_CONFIG, robertaStateDictEntries } from "../plugins/dshmp/text_encoder/roberta.ts";
import { runTask, type TaskContext, type TaskSpec } from "./cli.ts";

/** The inspect task's command line. */
export const inspectSpec = {
  name: "inspect",
  summary: "Show the loaded plugins and registries, and a model's parameters per prefix.",
  flags: {
    "state-dict-keys": {
      type: "string",
      arg: "FILE",
      doc: "write the model's state-dict names and shapes as JSON ({name: shape})",
    },
  },
  examples: [
    "deno task inspect --config-file configs/dshmp_swin_tiny.yaml",
    "deno task inspect --config-file configs/dshmp_swin_tiny.yaml --state-dict-keys keys.json",
  ],
} as const satisfies TaskSpec<FlagSpecs>;

/** One state-dict entry: its name, shape and whether it is a trained parameter. */
export interface StateDictEntryInfo {
  name: string;
  shape: number[];
  parameter: boolean;
}

/**
 * The state-dict entries of the config's model, in state-dict order. A DsHmp is built without its
 * text encoder, whose roberta-base entries are appended from their shapes.
 *
 * @example
 * ```ts ignore
 * const entries = modelStateDictEntries(cfg, ctx);
 * entries.length; // 1312 for the paper config (1315 with the criteria's buffers)
 * ```
 */
export function modelStateDictEntries(cfg: Config, ctx: DshmpBuildContext): StateDictEntryInfo[] {
  const name = String((cfg.MODEL as Record<string, unknown>).META_ARCHITECTURE);
  const model = ctx.registries.models.get(name)(cfg, { ...ctx, textEncoder: null }) as Module;
  try {
    const params = new Set(model.namedParameters().map(([n]) => n));
    const entries = [...model.stateDict()].map(([n, v]) => ({
      name: n,
      shape: [...v.shape],
      parameter: params.has(n),
    }));
    if (model instanceof DsHmp && model.textEncoder === null) {
      for (const e of robertaStateDictEntries(ROBERTA_BASE_CONFIG, "text_encoder.")) {
        entries.push({ name: e.name, shape: e.shape, parameter: e.kind === "parameter" });
      }
    }
    return entries;
  } finally {
    model.dispose();
  }
}

/**
 * Parameter counts (trained parameters only) per first and second dotted component.
 *
 * @example
 * ```ts
 * import { parameterCounts } from "./inspect.ts";
 * parameterCounts([{ name: "a.b.w", shape: [2, 3], parameter: true }, { name: "a.c", shape: [4], parameter: false }]);
 * // Map { "a" => { total: 6, parts: Map { "a.b" => 6 } } }
 * ```
 */
export function parameterCounts(
  entries: readonly StateDictEntryInfo[],
): Map<string, { total: number; parts: Map<string, number> }> {
  const out = new Map<string, { total: number; parts: Map<string, number> }>();
  for (const e of entries) {
    if (!e.parameter) continue;
    const [top, second] = e.name.split(".");
    const n = e.shape.reduce((p, d) => p * d, 1);
    const group = out.get(top) ?? { total: 0, parts: new Map() };
    group.total += n;
    if (second !== undefined) {
      const key = `${top}.${second}`;
      group.parts.set(key, (group.parts.get(key) ?? 0) + n);
    }
    out.set(top, group);
  }
  return out;
}

async function main(ctx: TaskContext<typeof inspectSpec.flags>): Promise<number> {
  await useBackend("wasm"); // the CPU default; only allocates the weights here
  console.log(`plugins: ${ctx.plugins.map((p) => p.name).join(", ")}`);
  for (const r of REGISTRY_NAMES) console.log(`${r}: ${ctx.registries[r].list().join(", ") || "(none)"}`);
  const entries = modelStateDictEntries(ctx.cfg, ctx);
  const counts = parameterCounts(entries);
  const fmt = (n: number) => `${(n / 1e6).toFixed(2)}M`.padStart(9) + ` (${n})`;
  console.log(`\nparameters of ${String((ctx.cfg.MODEL as Record<string, unknown>).META_ARCHITECTURE)}:`);
  let total = 0;
  for (const [top, { total: n, parts }] of counts) {
    total += n;
    console.log(`  ${top.padEnd(34)} ${fmt(n)}`);
    // Break down small containers (sem_seg_head: pixel decoder and predictor).
    if (parts.size > 1 && parts.size <= 3) {
      for (const [k, m] of parts) console.log(`    ${k.padEnd(32)} ${fmt(m)}`);
    }
  }
  console.log(`  ${"total".padEnd(34)} ${fmt(total)}`);
  console.log(
    `state-dict entries: ${entries.length} (${entries.filter((e) => !e.parameter).length} buffers)`,
  );
  const file = ctx.args.flags["state-dict-keys"];
  if (file) {
    await Deno.writeTextFile(
      file,
      JSON.stringify(Object.fromEntries(entries.map((e) => [e.name, e.shape])), null, 1),
    );
    console.log(`wrote ${file}`);
  }
  return 0;
}

if (import.meta.main) await runTask(inspectSpec, main);

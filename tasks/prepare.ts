/**
 * `deno task prepare`: writes the refer-id files that training's contrastive loss reads
 * (`idx2refer.json`, `idx2positive.json`, `idx2negative.json`, `meta_expressions_idx.json`) into each
 * MeViS split folder, as the original's `tools/get_refer_id.py` does.
 *
 * ```sh
 * deno task prepare                                   # datasets/mevis, splits train and valid_u
 * deno task prepare --root /data/mevis --splits train
 * ```
 * @module
 */
import { parseFlags } from "../core/cli/args.ts";
import { join } from "node:path";
import { DEFAULT_SPLITS, prepareReferIds } from "../plugins/mevis/prepare/get_refer_id.ts";

const HELP = `Usage: deno task prepare [--root DIR] [--splits LIST] [--separate-obj-ids]

Writes idx2refer.json, idx2positive.json, idx2negative.json and meta_expressions_idx.json
beside <root>/<split>/meta_expressions.json (the original's tools/get_refer_id.py).

Options:
  --root DIR            MeViS folder (default: $DSHMP_DATASETS/mevis, else datasets/mevis)
  --splits LIST         comma-separated split folders (default: ${DEFAULT_SPLITS.join(",")})
  --separate-obj-ids    join obj_id entries with "," in referent keys (the original joins them
                        with nothing, so [1, 23] and [12, 3] name the same referent)
  -h, --help            show this help
`;

/** The default MeViS folder: `$DSHMP_DATASETS/mevis`, else `datasets/mevis`. */
export function defaultRoot(): string {
  const base = Deno.env.get("DSHMP_DATASETS");
  return base ? join(base, "mevis") : join("datasets", "mevis");
}

/**
 * Runs the task with command-line arguments; returns the exit code.
 *
 * @example
 * ```ts
 * import { main } from "./prepare.ts";
 * Deno.exit(await main(["--root", "datasets/mevis", "--splits", "valid_u"]));
 * ```
 */
export async function main(argv: string[]): Promise<number> {
  let values: { root?: string; splits?: string; "separate-obj-ids"?: boolean; help?: boolean };
  try {
    values = parseFlags(argv, {
      root: { type: "string" },
      splits: { type: "string" },
      "separate-obj-ids": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    }) as typeof values;
  } catch (e) {
    console.error(`prepare: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const root = values.root ?? defaultRoot();
  const splits = values.splits === undefined
    ? DEFAULT_SPLITS
    : values.splits.split(",").map((s) => s.trim()).filter(Boolean);
  if (splits.length === 0) {
    console.error("prepare: --splits names no split");
    return 2;
  }
  try {
    await prepareReferIds({
      root,
      splits,
      separateObjIds: values["separate-obj-ids"],
      onSplit: (s) =>
        console.log(
          `${s.split}: ${s.videos} videos, ${s.expressions} expressions, ${s.referents} referents -> ${s.dir}`,
        ),
    });
  } catch (e) {
    console.error(`prepare: ${(e as Error).message}`);
    return 1;
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));

/**
 * Regenerates `engine_tiny_wasm.json`, the golden losses of the tiny model's training run on the CI
 * backend (`wasm`), which tests/engine/reproducibility_test.ts compares bitwise:
 *
 * ```sh
 * deno run -A tests/golden/regenerate_engine.ts
 * ```
 *
 * Regenerate only for an intended change of the numbers (the engine's arithmetic, the tiny model, the
 * TF.js version), and say why in the commit.
 *
 * @module
 */
import { useBackend } from "../../core/tensor/backend.ts";
import { goldenRecord } from "./tiny_model.ts";

/** Where the golden file lives. */
export const GOLDEN_PATH = new URL("./engine_tiny_wasm.json", import.meta.url);

if (import.meta.main) {
  await useBackend("wasm");
  const dir = await Deno.makeTempDir({ prefix: "dshmp_golden_" });
  try {
    const record = await goldenRecord(dir);
    const header = {
      about: "Golden losses of the tiny model's training run on the wasm backend, compared bitwise by " +
        "tests/engine/reproducibility_test.ts.",
      regenerate: "deno run -A tests/golden/regenerate_engine.ts",
      backend: "wasm",
    };
    await Deno.writeTextFile(GOLDEN_PATH, JSON.stringify({ ...header, ...record }, null, 2) + "\n");
    console.log(`wrote ${GOLDEN_PATH.pathname}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * `deno task bench --suite model` without `--config-file` times the paper's config (here shrunk by
 * overrides so that it takes seconds): the built-in defaults alone are no model, and once made it end
 * in a stack trace.
 */
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "../assert.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));

Deno.test("bench: the model suite without --config-file times the paper's config", async () => {
  const small = [
    ...["MODEL.SWIN.EMBED_DIM", "24", "MODEL.SWIN.DEPTHS", "[1,1,1,1]", "MODEL.SWIN.NUM_HEADS", "[1,1,1,1]"],
    ...["MODEL.SEM_SEG_HEAD.CONVS_DIM", "32", "MODEL.SEM_SEG_HEAD.MASK_DIM", "32"],
    ...["MODEL.SEM_SEG_HEAD.TRANSFORMER_ENC_LAYERS", "1", "MODEL.MASK_FORMER.HIDDEN_DIM", "32"],
    ...["MODEL.MASK_FORMER.DEC_LAYERS", "2", "MODEL.VITA.HIDDEN_DIM", "32"],
    ...["MODEL.VITA.ENC_LAYERS", "1", "MODEL.VITA.DEC_LAYERS", "1"],
  ];
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "bench", "--suite", "model", "--repeats", "1", ...small],
    cwd: REPO,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout);
  assertEquals(code, 0, out + new TextDecoder().decode(stderr));
  for (const part of ["Swin-T backbone (PWAM)", "MSDeformAttn pixel decoder", "DsHmp inference"]) {
    assert(new RegExp(`^model +${part.replace(/[()]/g, "\\$&")}.* ms `, "m").test(out), out);
  }
});

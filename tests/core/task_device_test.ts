// A task asked for the optional GPU backend without its package stops with the install instructions
// and a non-zero exit code, not a stack trace.
import { assert, assertEquals } from "../assert.ts";

Deno.test("--device gpu without @tensorflow/tfjs-node-gpu: install instructions, exit 1", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "tasks/bench.ts", "--device", "gpu", "--suite", "ops"],
    cwd: new URL("../..", import.meta.url),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 1);
  assert.match(stderr, /^bench: /);
  assert.match(stderr, /deno add npm:@tensorflow\/tfjs-node-gpu@4\.22\.0/);
  assert.match(stderr, /CUDA 11\.2 and cuDNN 8\.1/);
  assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
});

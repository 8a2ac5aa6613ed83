// Every case in the parity folder must have a runner. Under `deno task test:parity`
// (DSHMP_PARITY_STRICT=1) a case without one fails; under `deno task test` it is listed, since the port
// is being built module by module.
import { assert } from "../assert.ts";
import { listCases, parityDir, runnerFor, runnerKeys, strictParity } from "./harness.ts";

Deno.test("parity: every case in the parity folder has a runner", () => {
  const cases = listCases();
  assert.ok(cases.length > 0, `no parity cases found in ${parityDir()}`);
  const keys = runnerKeys();
  const missing = cases.filter((c) => runnerFor(c, keys) === undefined);
  if (missing.length === 0) return;
  const msg = `${missing.length}/${cases.length} parity cases in ${parityDir()} have no runner yet: ${
    missing.join(", ")
  }`;
  if (strictParity()) assert.fail(msg);
  console.log(`${msg}\n(deno task test:parity fails on these)`);
});

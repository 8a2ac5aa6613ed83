/** Backend selection, the device mapping, install messages, wasm threads, webgpu and the memory guard. */
import {
  assert,
  assertClose,
  assertMatch,
  assertRejects,
  assertStrictEquals,
  assertThrows,
} from "../assert.ts";
import {
  activeBackend,
  checkMemory,
  DEVICE_NAMES,
  hasWebgpuAdapter,
  memoryInfo,
  resolveDevice,
  setMemoryBudget,
  useBackend,
  useDevice,
} from "../../core/tensor/backend.ts";
import * as ops from "../../core/tensor/ops.ts";
import { eq, normals, t, uniforms } from "./_util.ts";

Deno.test("resolveDevice maps detectron2's MODEL.DEVICE values and the backend names", () => {
  eq(resolveDevice("cuda"), { backend: "gpu" });
  eq(resolveDevice("cuda:1"), { backend: "gpu" });
  eq(resolveDevice("GPU"), { backend: "gpu" });
  const cpu = resolveDevice("cpu");
  assertStrictEquals(cpu.backend, "wasm");
  assertMatch(cpu.note!, /wasm/);
  eq(resolveDevice("tfjs-cpu"), { backend: "cpu" });
  for (const name of ["auto", "wasm", "webgpu", "gpu", "tensorflow-cpu"]) {
    eq(resolveDevice(name), { backend: name });
  }
  for (const name of ["auto", "wasm", "cpu", "webgpu", "gpu", "tensorflow-cpu", "cuda"]) {
    assert(DEVICE_NAMES.includes(name), `DEVICE_NAMES lists ${name}`);
  }
  assertThrows(() => resolveDevice("tpu"), /unknown device "tpu".*wasm/);
});

Deno.test("gpu and tensorflow-cpu: loaded when installed, otherwise an error that says how to install", async () => {
  for (const [name, pkg] of [["gpu", "tfjs-node-gpu"], ["tensorflow-cpu", "tfjs-node"]] as const) {
    try {
      const info = await useBackend(name);
      assertStrictEquals(info.tfName, "tensorflow");
      console.log(`${name}: @tensorflow/${pkg} is installed and loaded`);
    } catch (e) {
      const msg = (e as Error).message;
      assert(msg.includes(`deno add npm:@tensorflow/${pkg}@4.22.0`), msg);
      assert(msg.includes(`deno install --allow-scripts=npm:@tensorflow/${pkg}@4.22.0`), msg);
      if (name === "gpu") assert(msg.includes("CUDA 11.2") && msg.includes("cuDNN 8.1"), msg);
    }
  }
  const auto = await useBackend("auto");
  if (auto.name !== "gpu") {
    assertStrictEquals(auto.name, "wasm");
    assertMatch(auto.note!, /gpu unavailable/);
  }
  await assertRejects(() => useBackend("tpu"), /unknown backend "tpu"/);
});

Deno.test("wasm: the default CPU backend, on DSHMP_THREADS (default: all cores) threads", async () => {
  const info = await useDevice("cpu");
  assertStrictEquals(info.name, "wasm");
  assertStrictEquals(activeBackend()!.tfName, "wasm");
  assert(info.threads! >= 1);
  const want = Number(Deno.env.get("DSHMP_THREADS") ?? navigator.hardwareConcurrency);
  // Threads are fixed by the first wasm initialisation of the process; they match unless another
  // test file of the same run initialised wasm first with another count (then the note says so).
  assert(info.threads === want || info.note !== undefined, `threads ${info.threads}, wanted ${want}`);
  const ref = await useDevice("tfjs-cpu");
  assertStrictEquals(ref.name, "cpu");
});

Deno.test("wasm: 2 threads give bitwise the same results as 1 thread", async () => {
  const run = async (threads: number) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("./_threads_probe.ts", import.meta.url).pathname],
      env: { DSHMP_THREADS: String(threads) },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert(out.success, new TextDecoder().decode(out.stderr));
    return JSON.parse(text.trim().split("\n").at(-1)!) as { info: { threads: number }; bits: number[][] };
  };
  const [one, two] = await Promise.all([run(1), run(2)]);
  assertStrictEquals(one.info.threads, 1);
  assertStrictEquals(two.info.threads, 2, "two wasm threads started");
  eq(two.bits, one.bits);
});

Deno.test("memory guard: fails loudly over the budget", async () => {
  await useBackend("wasm");
  const x = ops.zeros([1024]); // 4 KiB
  try {
    setMemoryBudget(1024);
    assertThrows(() => checkMemory("test step"), /test step: .* over the memory budget/);
    setMemoryBudget(memoryInfo().numBytes + 1);
    checkMemory("within budget");
    assert(memoryInfo().heapBytes! > 0, "wasm reports its heap");
    assertThrows(() => setMemoryBudget(-1), "positive");
  } finally {
    setMemoryBudget(null);
    x.dispose();
  }
});

Deno.test("webgpu: the same numbers as cpu where an adapter exists, else a clear error", async () => {
  if (!(await hasWebgpuAdapter())) {
    console.log("webgpu: no adapter on this machine; checking the error message only");
    await assertRejects(() => useBackend("webgpu"), /no WebGPU adapter/);
    return;
  }
  const xd = normals(1 * 3 * 6 * 6, 1);
  const wd = normals(4 * 3 * 3 * 3, 2, 0.3);
  const gd = uniforms(1 * 4 * 4 * 2, 3, -1.1, 1.1);
  // Values are read with `await data()` (dataSync fails on webgpu).
  const compute = async () => {
    const x = ops.variable(t(xd, [1, 3, 6, 6]));
    const w = ops.variable(t(wd, [4, 3, 3, 3]));
    const native = ops.conv2d(x, w, null, { padding: 1 });
    const { value, grads } = ops.valueAndGrads(() => {
      const y = ops.conv2d(x, w, null, { padding: 1, stride: 2 });
      const up = ops.interpolate(y, { size: [5, 7] });
      const s = ops.gridSample(up, t(gd, [1, 4, 4, 2]));
      return ops.sum(ops.square(ops.layerNorm(s, null, null, 1e-5)));
    }, [x, w]);
    const out = [native, value, grads[x.name], grads[w.name]];
    const data = await Promise.all(out.map(async (o) => Array.from(await o.data())));
    ops.dispose([...out, x, w]);
    return data;
  };
  await useBackend("webgpu");
  assertStrictEquals(activeBackend()!.name, "webgpu");
  const gpu = await compute();
  await useBackend("cpu");
  const cpu = await compute();
  // float32 on both, different summation orders: relative error ~1e-6 on O(1) values.
  gpu.forEach((g, i) => assertClose(g, cpu[i], { atol: 1e-4, rtol: 1e-4, label: `webgpu output ${i}` }));
  console.log("webgpu: adapter found; conv2d, interpolate, gridSample, layerNorm and gradients match cpu");
});

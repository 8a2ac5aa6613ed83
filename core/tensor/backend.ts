/**
 * Backend selection for the tensor engine (TF.js underneath).
 *
 * | name             | what                                                     | needs                       |
 * |------------------|----------------------------------------------------------|-----------------------------|
 * | `wasm`           | XNNPACK in WebAssembly; the default on CPU               | nothing (bundled)           |
 * | `cpu`            | TF.js plain-JS kernels; the reference, ~50x slower       | nothing                     |
 * | `webgpu`         | `@tensorflow/tfjs-backend-webgpu` over `navigator.gpu`   | a WebGPU adapter            |
 * | `gpu`            | `@tensorflow/tfjs-node-gpu` (libtensorflow, CUDA)        | optional package, CUDA 11.2 |
 * | `tensorflow-cpu` | `@tensorflow/tfjs-node` (libtensorflow on CPU)           | optional package            |
 * | `auto`           | `gpu` when its package loads, else `wasm`                |                             |
 *
 * detectron2's `MODEL.DEVICE` / `--device` values go through {@link resolveDevice}: `cuda`, `cuda:N` and
 * `gpu` mean `gpu`; `cpu` means `wasm` (the fast CPU backend; ask for the reference with `tfjs-cpu`).
 *
 * `wasm` runs on `DSHMP_THREADS` threads (default: the core count). TF.js disables threads under
 * Node-like runtimes and hands Emscripten `blob:` URLs that Deno's `node:worker_threads` cannot load, and
 * it caps XNNPACK at half the reported cores; this module writes the pthread worker and main script to
 * a temporary folder, rewrites the URLs when the workers start, and reports enough cores for the
 * requested count. Results are bitwise the same as on one thread.
 *
 * @example
 * ```ts
 * import { activeBackend, useBackend, useDevice } from "./backend.ts";
 * await useBackend("wasm");
 * console.log(activeBackend()); // { name: "wasm", tfName: "wasm", threads: 2, ... }
 * await useDevice("cpu"); // detectron2's MODEL.DEVICE "cpu" -> wasm
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import os from "node:os";

/** Backends {@link useBackend} accepts. */

/** A device or backend that cannot be used here; the message says why and what to do. */
export class DeviceError extends Error {
  override name = "DeviceError";
}
export type BackendName = "auto" | "wasm" | "cpu" | "webgpu" | "gpu" | "tensorflow-cpu";

/** Every backend name, in the order of the table above. */
export const BACKEND_NAMES: readonly BackendName[] = [
  "auto",
  "wasm",
  "cpu",
  "webgpu",
  "gpu",
  "tensorflow-cpu",
];

/** Every value {@link resolveDevice} accepts (`--device`, `MODEL.DEVICE`); `cuda:N` is accepted too. */
export const DEVICE_NAMES: readonly string[] = [...BACKEND_NAMES, "cuda", "tfjs-cpu"];

/** What {@link useBackend} selected. */
export interface BackendInfo {
  /** The name asked for after resolving `auto`. */
  name: Exclude<BackendName, "auto">;
  /** TF.js's backend name (`tensorflow` for both tfjs-node packages). */
  tfName: string;
  /** Threads XNNPACK runs on (`wasm` only). */
  threads?: number;
  /** Why the backend differs from what was asked for (thread fallback, `auto` choice), if it does. */
  note?: string;
}

/** The exact-version install recipe for the optional libtensorflow packages. */
const TFJS_NODE_VERSION = "4.22.0";

/** Message for a tfjs-node package that is missing or whose native binding does not load. */
export function tfjsNodeInstallHelp(pkg: "@tensorflow/tfjs-node-gpu" | "@tensorflow/tfjs-node"): string {
  const gpu = pkg.endsWith("-gpu");
  return [
    `backend "${
      gpu ? "gpu" : "tensorflow-cpu"
    }" needs the optional package ${pkg}. Install it for Deno with:`,
    `  deno add npm:${pkg}@${TFJS_NODE_VERSION}`,
    `  deno install --allow-scripts=npm:${pkg}@${TFJS_NODE_VERSION}`,
    "(its install script downloads libtensorflow, so this needs internet access; Deno skips install scripts " +
    "unless --allow-scripts names the package).",
    gpu
      ? "It needs an NVIDIA driver with CUDA 11.2 and cuDNN 8.1 on the library path (libtensorflow 2.9 GPU build)."
      : "It runs libtensorflow on the CPU (no CUDA needed).",
    "Run with --allow-ffi so the native binding can load. Otherwise use --device cpu (wasm).",
  ].join("\n");
}

let active: BackendInfo | null = null;
let wasmThreads: number | null = null;

/** The backend {@link useBackend} selected last, or null before the first call. */
export function activeBackend(): BackendInfo | null {
  return active ? { ...active } : null;
}

/**
 * Maps a `--device` / `MODEL.DEVICE` value to a backend: `cuda`, `cuda:N`, `gpu` -> `gpu`;
 * `cpu` -> `wasm` (TF.js's reference `cpu` backend is `tfjs-cpu`); backend names map to themselves.
 *
 * @example
 * ```ts
 * import { resolveDevice } from "./backend.ts";
 * resolveDevice("cuda:0"); // { backend: "gpu" }
 * resolveDevice("cpu"); // { backend: "wasm", note: "..." }
 * ```
 */
export function resolveDevice(device: string): { backend: BackendName; note?: string } {
  const d = device.trim().toLowerCase();
  if (d === "cuda" || d === "gpu" || /^cuda:\d+$/.test(d)) return { backend: "gpu" };
  if (d === "cpu") {
    return {
      backend: "wasm",
      note: 'device "cpu" runs on the wasm backend (use "tfjs-cpu" for the reference)',
    };
  }
  if (d === "tfjs-cpu") return { backend: "cpu" };
  if ((BACKEND_NAMES as readonly string[]).includes(d)) return { backend: d as BackendName };
  throw new DeviceError(`unknown device "${device}"; expected one of ${DEVICE_NAMES.join(", ")} (or cuda:N)`);
}

/**
 * Selects the backend for a `--device` / `MODEL.DEVICE` value (see {@link resolveDevice}).
 *
 * @example
 * ```ts
 * import { useDevice } from "./backend.ts";
 * const info = await useDevice("cpu"); // info.name === "wasm"
 * ```
 */
export async function useDevice(device: string, opts: { threads?: number } = {}): Promise<BackendInfo> {
  const { backend, note } = resolveDevice(device);
  const info = await useBackend(backend, opts);
  if (note && !info.note) active!.note = info.note = note;
  return info;
}

/**
 * Makes `name` the active TF.js backend, loading it on first use.
 *
 * @param opts.threads wasm threads (default `DSHMP_THREADS`, else the core count); fixed at the first
 *   wasm initialisation of the process.
 * @throws with install instructions when `gpu` / `tensorflow-cpu` is missing, or a clear message when
 *   `webgpu` has no adapter.
 * @example
 * ```ts
 * import { useBackend } from "./backend.ts";
 * await useBackend("cpu"); // the reference backend
 * ```
 */
export async function useBackend(
  name: BackendName | string,
  opts: { threads?: number } = {},
): Promise<BackendInfo> {
  if (name === "cuda") name = "gpu";
  switch (name) {
    case "auto": {
      try {
        const info = await useBackend("gpu", opts);
        return info;
      } catch (e) {
        const info = await useBackend("wasm", opts);
        const why = (e as Error).message.split("\n")[0];
        active!.note = info.note = `auto: gpu unavailable (${why}); using wasm`;
        return info;
      }
    }
    case "cpu":
      await setTf("cpu");
      // Silence its one-time banner advertising tfjs-node (see the `gpu` backend instead).
      (tf.findBackend("cpu") as unknown as { firstUse?: boolean }).firstUse = false;
      return setActive({ name: "cpu", tfName: "cpu" });
    case "wasm":
      return await useWasm(opts.threads);
    case "webgpu":
      return await useWebgpu();
    case "gpu":
    case "tensorflow-cpu":
      return await useTfjsNode(name);
    default:
      throw new DeviceError(`unknown backend "${name}"; expected one of ${BACKEND_NAMES.join(", ")}`);
  }
}

function setActive(info: BackendInfo): BackendInfo {
  active = info;
  return { ...info };
}

async function setTf(tfName: string): Promise<void> {
  const ok = await tf.setBackend(tfName);
  if (!ok) throw new DeviceError(`TF.js could not initialise backend "${tfName}"`);
  await tf.ready();
}

// ---- wasm ---------------------------------------------------------------------------------------

/** The file URL of the wasm package's `dist/` folder (where the .wasm binaries are). */
export function wasmDistUrl(): string {
  try {
    const resolved = import.meta.resolve("@tensorflow/tfjs-backend-wasm");
    if (resolved.startsWith("file:")) return new URL("./", resolved).href;
  } catch {
    // not resolvable through the import map: fall back to the repository's node_modules
  }
  return new URL("../../node_modules/@tensorflow/tfjs-backend-wasm/dist/", import.meta.url).href;
}

function requestedThreads(explicit?: number): number {
  const env = readEnv("DSHMP_THREADS");
  const n = explicit ?? (env ? Number(env) : navigator.hardwareConcurrency || 1);
  if (!Number.isInteger(n) || n < 1) {
    throw new DeviceError(`thread count must be a positive integer, got ${explicit ?? env} (DSHMP_THREADS)`);
  }
  return n;
}

function readEnv(key: string): string | undefined {
  try {
    return Deno.env.get(key);
  } catch {
    return undefined; // no --allow-env: use the default
  }
}

async function useWasm(threadsOpt?: number): Promise<BackendInfo> {
  const wasm = await import("@tensorflow/tfjs-backend-wasm");
  let note: string | undefined;
  if (wasmThreads === null) {
    const want = requestedThreads(threadsOpt);
    wasm.setWasmPaths(wasmDistUrl());
    let restore: (() => void) | null = null;
    if (want > 1) {
      try {
        restore = prepareWasmThreads(wasmDistUrl(), want);
        wasm.setThreadsCount(want);
      } catch (e) {
        note = `wasm threads unavailable (${(e as Error).message}); running on 1 thread`;
        tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
      }
    } else {
      tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
    }
    try {
      await setTf("wasm");
    } catch (e) {
      const hint = want > 1 ? " (DSHMP_THREADS=1 runs wasm without worker threads)" : "";
      throw new DeviceError(`backend wasm failed to initialise: ${(e as Error).message ?? e}${hint}`);
    } finally {
      restore?.();
    }
    wasmThreads = wasm.getThreadsCount();
    if (want > 1 && wasmThreads < want && !note) note = `asked for ${want} wasm threads, got ${wasmThreads}`;
  } else {
    await setTf("wasm");
    if (threadsOpt !== undefined && threadsOpt !== wasmThreads) {
      note = `wasm already runs on ${wasmThreads} threads in this process (asked for ${threadsOpt})`;
    }
  }
  return setActive({ name: "wasm", tfName: "wasm", threads: wasmThreads, note });
}

/**
 * Makes TF.js's threaded wasm build start in Deno. Returns the function that undoes the temporary
 * patches once the backend has initialised (the pthread pool is created during initialisation).
 */
function prepareWasmThreads(distUrl: string, threads: number): () => void {
  const source = Deno.readTextFileSync(new URL("tf-backend-wasm.node.js", distUrl));
  const workerMatch = source.match(/\nvar wasmWorkerContents = (".*");\n/);
  const begin = source.indexOf("var WasmBackendModuleThreadedSimd = (function () {");
  const end = source.indexOf("module.exports = WasmBackendModuleThreadedSimd;", begin);
  if (!workerMatch || begin < 0 || end < 0) throw new Error("unexpected tfjs-backend-wasm layout");
  // TF.js escapes newlines before making its Blob; the worker sets `location`, which Deno forbids.
  const workerScript = (JSON.parse(workerMatch[1]) as string)
    .replace(/\n/g, "\\n")
    .replace("location:{href:__filename},", "");
  // The factory refers to the bundle's module-level names; the worker evaluates it on its own.
  const mainScript = "var require$$0 = require('fs'); var require$$1 = require('path');" +
    " var require$$3 = require('perf_hooks'); var require$$4 = require('os'); var commonjsGlobal = globalThis;\n" +
    source.slice(begin, end);
  const dir = Deno.makeTempDirSync({ prefix: "dshmp-wasm-" });
  const workerFile = `${dir}/pthread-worker.cjs`; // .cjs: Deno runs it as CommonJS, with require
  const mainFile = `${dir}/threaded-simd.cjs`;
  Deno.writeTextFileSync(workerFile, workerScript);
  Deno.writeTextFileSync(mainFile, mainScript);

  // Emscripten assigns node's Worker to the global and then constructs workers from blob: URLs.
  const g = globalThis as unknown as Record<string, unknown>;
  const original = Object.getOwnPropertyDescriptor(g, "Worker");
  let current: unknown = g.Worker;
  Object.defineProperty(g, "Worker", {
    configurable: true,
    get: () => current,
    set: (base: new (url: unknown, opts?: unknown) => { postMessage(m: unknown, ...r: unknown[]): void }) => {
      current = class extends base {
        constructor(url: unknown, opts?: unknown) {
          super(typeof url === "string" && url.startsWith("blob:") ? workerFile : url, opts);
        }
        // Emscripten refs a worker while its pthread runs; XNNPACK's pool threads run for the life of
        // the process and must not keep it from exiting.
        ref(): void {}
        override postMessage(msg: unknown, ...rest: unknown[]): void {
          const m = msg as { cmd?: string; urlOrBlob?: unknown };
          if (m?.cmd === "load" && typeof m.urlOrBlob !== "string") msg = { ...m, urlOrBlob: mainFile };
          super.postMessage(msg, ...rest);
        }
      };
    },
  });
  // XNNPACK in TF.js uses at most half the reported cores.
  const cpus = os.cpus;
  os.cpus = () => {
    let real: ReturnType<typeof cpus> = [];
    try {
      real = cpus();
    } catch {
      // no --allow-sys: the requested count alone decides
    }
    const model = real[0] ?? { model: "cpu", speed: 0, times: { user: 0, nice: 0, sys: 0, idle: 0, irq: 0 } };
    return Array.from({ length: Math.max(real.length, 2 * threads) }, () => model);
  };
  tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", true);
  // Once initialised, every pool worker has loaded both scripts: the files can go.
  return () => {
    os.cpus = cpus;
    if (original) Object.defineProperty(g, "Worker", original);
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // a leftover temp folder is harmless
    }
  };
}

// ---- webgpu -------------------------------------------------------------------------------------

/** Whether a WebGPU adapter exists (Deno's `navigator.gpu`). */
export async function hasWebgpuAdapter(): Promise<boolean> {
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (!gpu) return false;
  try {
    return (await gpu.requestAdapter()) !== null;
  } catch {
    return false;
  }
}

async function useWebgpu(): Promise<BackendInfo> {
  if (!(await hasWebgpuAdapter())) {
    throw new DeviceError(
      "backend webgpu: no WebGPU adapter (navigator.gpu.requestAdapter() returned null). It needs a GPU " +
        "with Vulkan/Metal/D3D12 drivers; on Linux without a GPU, `apt-get install mesa-vulkan-drivers` gives " +
        "a software adapter (lavapipe; correct but ~100x slower than wasm). Use --device cpu for wasm.",
    );
  }
  await import("@tensorflow/tfjs-backend-webgpu");
  await setTf("webgpu");
  return setActive({ name: "webgpu", tfName: "webgpu" });
}

// ---- tfjs-node ----------------------------------------------------------------------------------

async function useTfjsNode(name: "gpu" | "tensorflow-cpu"): Promise<BackendInfo> {
  const pkg = name === "gpu" ? "@tensorflow/tfjs-node-gpu" : "@tensorflow/tfjs-node";
  if (!tf.findBackend("tensorflow")) {
    // Built at run time so that `deno check` and `deno install` never try to resolve it.
    const specifier = [pkg, ""].join("");
    try {
      await import(specifier);
    } catch (e) {
      throw new DeviceError(`${tfjsNodeInstallHelp(pkg)}\n(loading ${pkg} failed: ${(e as Error).message})`);
    }
    if (!tf.findBackend("tensorflow")) {
      throw new DeviceError(
        `${tfjsNodeInstallHelp(pkg)}\n(${pkg} loaded but registered no "tensorflow" backend with this ` +
          `TF.js; it must be version ${TFJS_NODE_VERSION} like @tensorflow/tfjs)`,
      );
    }
  }
  await setTf("tensorflow");
  return setActive({ name, tfName: "tensorflow" });
}

// ---- memory guard -------------------------------------------------------------------------------

/** Past this the wasm heap stops growing and allocations were seen to overwrite live tensors. */
export const WASM_HEAP_LIMIT_BYTES = 3.5 * 2 ** 30;

let budgetBytes: number | null = null;

/** Sets the live-tensor byte budget {@link checkMemory} enforces (null: the backend's default). */
export function setMemoryBudget(bytes: number | null): void {
  if (bytes !== null && !(bytes > 0)) throw new Error(`memory budget must be positive, got ${bytes}`);
  budgetBytes = bytes;
}

/** The live-tensor byte budget: set, else `DSHMP_MEMORY_BUDGET_MB`, else 3.2 GiB on wasm, else none. */
export function memoryBudget(): number {
  if (budgetBytes !== null) return budgetBytes;
  const env = readEnv("DSHMP_MEMORY_BUDGET_MB");
  if (env) return Number(env) * 2 ** 20;
  return tf.getBackend() === "wasm" ? 3.2 * 2 ** 30 : Infinity;
}

/** Live tensors, their bytes and (on wasm) the WebAssembly heap size. */
export function memoryInfo(): { numTensors: number; numBytes: number; heapBytes?: number } {
  const m = tf.memory();
  const info: { numTensors: number; numBytes: number; heapBytes?: number } = {
    numTensors: m.numTensors,
    numBytes: m.numBytes,
  };
  if (tf.getBackend() === "wasm") {
    const w = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm;
    if (w?.HEAPU8) info.heapBytes = w.HEAPU8.buffer.byteLength;
  }
  return info;
}

/**
 * Throws when live tensors exceed the budget or the wasm heap nears its limit, so that work is chunked
 * instead of silently corrupted.
 *
 * @example
 * ```ts
 * import { checkMemory } from "./backend.ts";
 * checkMemory("after the backbone"); // throws "... over the memory budget ..." when over
 * ```
 */
export function checkMemory(label = "tensor memory", budget = memoryBudget()): void {
  const info = memoryInfo();
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
  if (info.numBytes > budget) {
    throw new Error(
      `${label}: ${gib(info.numBytes)} in ${info.numTensors} live tensors is over the memory budget of ` +
        `${gib(budget)} (set DSHMP_MEMORY_BUDGET_MB, or use smaller chunks / TEST_RUN_CHUNK_SIZE)`,
    );
  }
  if (info.heapBytes !== undefined && info.heapBytes > WASM_HEAP_LIMIT_BYTES) {
    throw new Error(
      `${label}: the wasm heap reached ${gib(info.heapBytes)}, past the ${gib(WASM_HEAP_LIMIT_BYTES)} ` +
        "where allocations corrupt memory; restart with smaller chunks",
    );
  }
}

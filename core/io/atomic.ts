/**
 * Atomic file writes: the bytes go to a temporary file in the destination's folder, are flushed to
 * disk, and the temporary file is renamed over the destination. A reader sees the old file or the
 * new one, never a half-written one, and a crash mid-write leaves the old file intact.
 *
 * @example
 * ```ts
 * import { writeFileAtomic, writeJsonAtomic } from "./atomic.ts";
 * await writeFileAtomic("out/last_checkpoint", "model_0004999.safetensors");
 * await writeJsonAtomic("out/metrics.json", { iteration: 4999, loss: 0.25 });
 * ```
 * @module
 */

/**
 * Writes `data` (bytes, or a string written as UTF-8) to `path` atomically. The temporary file is
 * `.<name>.tmp-<pid>-<random>` beside `path` (same file system, so the rename is atomic) and is
 * removed if anything fails. The file data is fsynced before the rename; the folder is fsynced after
 * it where the platform allows opening a folder (not on Windows).
 *
 * @example
 * ```ts
 * await writeFileAtomic("weights.safetensors", new Uint8Array([1, 2, 3]));
 * ```
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const { dir, base } = splitPath(path);
  const rand = crypto.getRandomValues(new Uint32Array(1))[0].toString(36);
  const tmp = `${dir}.${base}.tmp-${Deno.pid}-${rand}`;
  try {
    const file = await Deno.open(tmp, { write: true, createNew: true });
    try {
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  await syncFolder(dir || ".");
}

/**
 * Writes `value` as pretty-printed JSON (2-space indent, trailing newline) to `path` atomically.
 *
 * @example
 * ```ts
 * await writeJsonAtomic("out/state.json", { iteration: 54999 });
 * ```
 */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const text = JSON.stringify(value, null, 2);
  if (text === undefined) throw new TypeError(`${path}: value is not JSON-serializable`);
  await writeFileAtomic(path, text + "\n");
}

// Persists the rename itself; opening a folder fails on Windows, where there is nothing to do.
async function syncFolder(dir: string): Promise<void> {
  let handle: Deno.FsFile;
  try {
    handle = await Deno.open(dir, { read: true });
  } catch {
    return;
  }
  try {
    await handle.sync();
  } catch {
    // Some file systems refuse fsync on a folder; the data itself is already synced.
  } finally {
    handle.close();
  }
}

/** Splits a path into its folder (with the trailing separator, "" for none) and file name. */
function splitPath(path: string): { dir: string; base: string } {
  const i = Math.max(path.lastIndexOf("/"), Deno.build.os === "windows" ? path.lastIndexOf("\\") : -1);
  return { dir: path.slice(0, i + 1), base: path.slice(i + 1) };
}

import { writeFileAtomic, writeJsonAtomic } from "../../core/io/atomic.ts";
import { assertEquals, assertRejects } from "../assert.ts";

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const names = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

Deno.test("writeFileAtomic writes bytes or text, replaces an existing file and leaves no temp file", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/out.bin`;
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    assertEquals(await Deno.readFile(path), new Uint8Array([1, 2, 3]));
    await writeFileAtomic(path, "héllo");
    assertEquals(await Deno.readTextFile(path), "héllo");
    const big = new Uint8Array(3 << 20).map((_, i) => i % 251);
    await writeFileAtomic(path, big);
    assertEquals(await Deno.readFile(path), big);
    assertEquals(names(dir), ["out.bin"]);
  });
});

Deno.test("writeFileAtomic in the current folder (a bare file name)", async () => {
  await withTempDir(async (dir) => {
    const cwd = Deno.cwd();
    Deno.chdir(dir);
    try {
      await writeFileAtomic("bare.txt", "x");
    } finally {
      Deno.chdir(cwd);
    }
    assertEquals(await Deno.readTextFile(`${dir}/bare.txt`), "x");
  });
});

Deno.test("a failed atomic write leaves the old file intact and cleans up", async () => {
  await withTempDir(async (dir) => {
    await assertRejects(() => writeFileAtomic(`${dir}/missing/sub/file`, "x"), /No such file|not found/i);
    // Renaming over a folder fails after the temp file was written: it must be removed.
    await Deno.mkdir(`${dir}/target`);
    await Deno.writeTextFile(`${dir}/target/keep`, "old");
    await assertRejects(() => writeFileAtomic(`${dir}/target`, "new"));
    assertEquals(names(dir), ["target"]);
    assertEquals(await Deno.readTextFile(`${dir}/target/keep`), "old");
  });
});

Deno.test("writeJsonAtomic writes indented JSON with a trailing newline", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/state.json`;
    await writeJsonAtomic(path, { iteration: 54999, lr: [1e-4] });
    const text = await Deno.readTextFile(path);
    assertEquals(text, '{\n  "iteration": 54999,\n  "lr": [\n    0.0001\n  ]\n}\n');
    await assertRejects(() => writeJsonAtomic(path, undefined), /not JSON-serializable/);
    assertEquals(JSON.parse(await Deno.readTextFile(path)).iteration, 54999);
  });
});

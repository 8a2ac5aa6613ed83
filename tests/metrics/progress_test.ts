/** The progress bar: plain lines in logs only when due, redraws on a terminal, ETA while running. */
import { formatSeconds, Progress } from "../../core/progress.ts";
import { assert, assertEquals, assertMatch } from "../assert.ts";

Deno.test("progress: logs get periodic lines and a final one", () => {
  const out: string[] = [];
  const bar = new Progress(10, "score", {
    write: (t) => out.push(t),
    tty: false,
    intervalMs: 1e9,
    unit: "frames",
  });
  for (let i = 0; i < 10; i++) bar.tick();
  assertEquals(out, []); // nothing before the first interval has passed
  bar.done();
  bar.done();
  assertEquals(out.length, 1);
  assertMatch(out[0], /^score 10\/10 100% \d+\.\ds [\d.]+ frames\/s\n$/);
  const every: string[] = [];
  const chatty = new Progress(4, "x", { write: (t) => every.push(t), tty: false, intervalMs: 0 });
  chatty.tick(2);
  assertMatch(every[0], /^x 2\/4 50% .* ETA /);
});

Deno.test("progress: a terminal gets a redrawn bar; quiet writes nothing", () => {
  const out: string[] = [];
  const bar = new Progress(4, "t", { write: (t) => out.push(t), tty: true });
  bar.tick();
  assert(out[0].startsWith("\rt [######------------------] 1/4 25%"), out[0]);
  bar.done();
  assert(out[out.length - 1].endsWith("\x1b[K\n"));
  const silent: string[] = [];
  const q = new Progress(4, "q", { write: (t) => silent.push(t), quiet: true });
  q.tick(4);
  q.done();
  assertEquals([silent, q.count], [[], 4]);
  assertEquals([formatSeconds(3.25), formatSeconds(245), formatSeconds(7500)], ["3.3s", "4m05s", "2h05m"]);
});

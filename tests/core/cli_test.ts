import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertMatch, assertThrows } from "../assert.ts";
import { parseCommandLine, UsageError } from "../../core/cli/flags.ts";
import { buildTaskContext, COMMON_FLAGS, HelpRequested, parseTaskArgs, taskHelp } from "../../tasks/cli.ts";
import { demoSpec } from "../../tasks/demo.ts";
import { evalSpec } from "../../tasks/eval.ts";
import { trainSpec } from "../../tasks/train.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

Deno.test("--help and -h: the help lists every option, the task's own ones too", () => {
  for (const flag of ["--help", "-h"]) {
    const e = assertThrows(() => parseTaskArgs([flag], demoSpec));
    assert(e instanceof HelpRequested);
    assertEquals(e.message, taskHelp(demoSpec));
  }
  const help = taskHelp(demoSpec);
  assertMatch(help, /^Usage: deno task demo \[OPTIONS\] \[KEY VALUE \.\.\.\]/);
  for (const name of [...Object.keys(COMMON_FLAGS), "video", "text"]) {
    assert(help.includes(`--${name}`), name);
  }
  assertMatch(help, /--config-file FILE +YAML config file/);
  assertMatch(help, /--num-gpus N +devices per machine \(detectron2 compatible\) \(default: 1\)/);
  assertMatch(help, /--plugin SPEC .*\(repeatable\)/);
});

Deno.test("unknown flags are rejected with the closest flag", () => {
  const e = assertThrows(() => parseTaskArgs(["--config-fle", "a.yaml"], evalSpec));
  assert(e instanceof UsageError);
  assertEquals(e.message, "unknown flag --config-fle (did you mean --config-file?); see --help");
  assertThrows(() => parseTaskArgs(["-x"], evalSpec), "unknown flag --x");
  assertThrows(() => parseTaskArgs(["--video", "v"], evalSpec), "unknown flag --video");
  assertThrows(() => parseTaskArgs(["--config-file"], evalSpec), "--config-file needs a value (FILE)");
  assertThrows(() => parseTaskArgs(["--seed", "x"], evalSpec), '--seed expects an integer, got "x"');
  assertThrows(() => parseTaskArgs(["--resume=yes"], evalSpec), "--resume takes no value");
});

Deno.test("odd override words are rejected, naming the word without a value", () => {
  assertThrows(
    () => parseTaskArgs(["MODEL.WEIGHTS", "w", "OUTPUT_DIR"], evalSpec),
    'config overrides come as KEY VALUE pairs, got 3 words (MODEL.WEIGHTS w OUTPUT_DIR); "OUTPUT_DIR" has no value',
  );
});

Deno.test("the original's eval command line parses", async () => {
  const argv = [
    "--config-file",
    "configs/dshmp_swin_tiny.yaml",
    "--eval-only",
    "MODEL.WEIGHTS",
    "w",
    "OUTPUT_DIR",
    "out",
  ];
  const args = parseTaskArgs(argv, evalSpec);
  assertEquals(args.configFile, "configs/dshmp_swin_tiny.yaml");
  assertEquals([args.evalOnly, args.resume, args.numGpus, args.numMachines, args.machineRank], [
    true,
    false,
    1,
    1,
    0,
  ]);
  assertEquals(args.overrides, ["MODEL.WEIGHTS", "w", "OUTPUT_DIR", "out"]);
  const ctx = await buildTaskContext(argv, evalSpec, { cwd: ROOT });
  assertEquals(ctx.cfg.OUTPUT_DIR, "out");
  assertEquals((ctx.cfg.MODEL as { WEIGHTS: string }).WEIGHTS, "w");
  assertEquals(ctx.files, [
    "configs/Base-YouTubeVIS-VideoInstanceSegmentation.yaml",
    "configs/dshmp_swin_tiny.yaml",
  ]);
  // detectron2's launcher flags parse too.
  const d2 = parseTaskArgs(
    ["--num-gpus", "8", "--num-machines", "2", "--machine-rank", "1", "--dist-url", "tcp://h:1", "--resume"],
    trainSpec,
  );
  assertEquals([d2.numGpus, d2.numMachines, d2.machineRank, d2.distUrl, d2.resume], [
    8,
    2,
    1,
    "tcp://h:1",
    true,
  ]);
});

Deno.test("shortcut flags become overrides that trailing pairs can override", async () => {
  const args = parseTaskArgs(
    [
      "--seed",
      "-1",
      "--output",
      "o",
      "--device",
      "wasm",
      "--dataset",
      "a, b",
      "--plugin",
      "x.ts",
      "--plugin",
      "y.ts",
      "SEED",
      "4",
    ],
    trainSpec,
  );
  assertEquals(args.plugins, ["x.ts", "y.ts"]);
  assertEquals(args.overrides, [
    "SEED",
    "-1",
    "OUTPUT_DIR",
    '"o"',
    "MODEL.DEVICE",
    '"wasm"',
    "DATASETS.TRAIN",
    '["a","b"]',
    "SEED",
    "4",
  ]);
  const ctx = await buildTaskContext(
    ["--dataset", "mevis_valid_u", "--device", "cpu", "--seed", "3"],
    evalSpec,
    {
      cwd: ROOT,
    },
  );
  assertEquals((ctx.cfg.DATASETS as { TEST: string[] }).TEST, ["mevis_valid_u"]);
  assertEquals((ctx.cfg.MODEL as { DEVICE: string }).DEVICE, "cpu");
  assertEquals(ctx.seed, 3);
  // Values starting with a dash pass through after the flags.
  assertEquals(parseCommandLine(["SEED", "-1"], {}).rest, ["SEED", "-1"]);
  assertEquals(parseTaskArgs(["--", "--not-a-flag", "v"], evalSpec).overrides, ["--not-a-flag", "v"]);
  const demo = parseTaskArgs(["--video", "frames/", "--text", "the cat"], demoSpec);
  assertEquals([demo.flags.video, demo.flags.text], ["frames/", "the cat"]);
});

async function runTaskProcess(task: string, args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", `tasks/${task}.ts`, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("a task run as a subprocess: config built, then a one-line usage error and exit 1", async () => {
  const r = await runTaskProcess("demo", [
    "--config-file",
    "configs/dshmp_swin_tiny.yaml",
    "MODEL.WEIGHTS",
    "w",
  ]);
  assertEquals(
    [r.code, r.stdout, r.stderr],
    [1, "", "demo: --frames DIR is required: a folder of the video's JPEG or PNG frames\n"],
  );
  const help = await runTaskProcess("train", ["--help"]);
  assertEquals(help.code, 0);
  assert(help.stdout.startsWith("Usage: deno task train"));
  const bad = await runTaskProcess("train", [
    "--config-file",
    "configs/dshmp_swin_tiny.yaml",
    "SOLVER.MAX_ITERS",
    "1",
  ]);
  assertEquals([bad.code, bad.stdout], [1, ""]);
  assertEquals(
    bad.stderr,
    "train: command line: unknown config key SOLVER.MAX_ITERS (did you mean SOLVER.MAX_ITER?)\n",
  );
});

/**
 * Where one DsHmp training step spends its time: the forward pass of each part (text encoder, backbone,
 * pixel decoder, frame decoder, frame criterion, clip decoder, clip criterion), the backward pass and
 * the whole step, in milliseconds and in engine kernels. `deno task bench --suite train` prints it for
 * the tiny config on the synthetic data; on a CPU backend the kernel count, not the arithmetic, sets
 * most of a small model's time.
 *
 * The parts are timed by wrapping their `forward` for the duration of the profile (the model is left
 * as it was); they do not overlap, and what the forward pass does between them (preprocessing, text
 * feature assembly, the targets) is the difference to `forward`.
 *
 * @example
 * ```ts ignore
 * const training = await createDshmpTraining(cfg, ctx);
 * const profile = await profileTrainStep(training, { steps: 3 });
 * for (const p of profile.parts) console.log(p.name, p.ms.toFixed(1), p.kernels);
 * ```
 * @module
 */
import * as ops from "../../../core/tensor/ops.ts";
import { countKernels, type KernelCounter } from "../../../core/tensor/kernel_counter.ts";
import { Generator } from "../../../core/random.ts";
import type { DshmpTraining } from "./train_adapter.ts";

/** One part's mean forward cost per step. */
export interface PartCost {
  name: string;
  ms: number;
  kernels: number;
}

/** What {@link profileTrainStep} returns: means over the timed steps. */
export interface TrainStepProfile {
  /** Forward passes of the parts, in call order. */
  parts: PartCost[];
  forward: PartCost;
  backward: PartCost;
  /** Forward + backward of one clip (the optimizer step is not included). */
  step: PartCost;
}

/** Options of {@link profileTrainStep}. */
export interface TrainStepProfileOptions {
  /** Timed steps (default 3), after `warmup` untimed ones (default 2). */
  steps?: number;
  warmup?: number;
  /** The `iteration` passed to the losses (default 100: past warm-up, contrastive weight ramping). */
  iteration?: number;
}

type Method = (...args: unknown[]) => unknown;

/** The named parts of the model whose forward is timed: [label, object, method name]. */
function parts(training: DshmpTraining): [string, Record<string, unknown>, string][] {
  const m = training.model;
  const head = m.semSegHead;
  const list: [string, unknown, string][] = [
    ["text encoder", m.textEncoder, "forward"],
    ["backbone", m.backbone, "forward"],
    ["pixel decoder", head.pixelDecoder, "forwardFeatures"],
    ["frame decoder", head.predictor, "forward"],
    ["frame criterion", m.criterion, "forward"],
    ["clip decoder", m.vitaModule, "forward"],
    ["clip criterion", m.vitaCriterion, "forward"],
  ];
  return list.filter(([, o]) => o !== null) as [string, Record<string, unknown>, string][];
}

/** Profiles `steps` training steps of one clip each (see the module doc). */
export async function profileTrainStep(
  training: DshmpTraining,
  { steps = 3, warmup = 2, iteration = 100 }: TrainStepProfileOptions = {},
): Promise<TrainStepProfile> {
  const model = training.model;
  const params = model.trainableParameters();
  const totals = new Map<string, { ms: number; kernels: number }>();
  let counter: KernelCounter | null = null;
  const restore: (() => void)[] = [];
  for (const [name, obj, method] of parts(training)) {
    const original = obj[method] as Method;
    const own = Object.hasOwn(obj, method);
    obj[method] = function (this: unknown, ...args: unknown[]) {
      const k0 = counter?.count ?? 0;
      const t0 = performance.now();
      try {
        return original.apply(this, args);
      } finally {
        const t = totals.get(name) ?? { ms: 0, kernels: 0 };
        t.ms += performance.now() - t0;
        t.kernels += (counter?.count ?? 0) - k0;
        totals.set(name, t);
      }
    };
    restore.push(() => own ? obj[method] = original : delete obj[method]);
  }
  const forward = { ms: 0, kernels: 0 };
  const backward = { ms: 0, kernels: 0 };
  const wasTraining = model.training;
  model.train();
  try {
    for (let k = 0; k < warmup + steps; k++) {
      const timed = k >= warmup;
      if (k === warmup) totals.clear();
      const batch = await training.data(k, new Generator(k));
      counter = countKernels();
      const t0 = performance.now();
      let tf = 0;
      let kf = 0;
      try {
        const { value, grads } = ops.valueAndGrads(() => {
          const losses = model.trainModel(batch, iteration);
          const total = Object.values(losses).reduce((a, b) => ops.add(a, b));
          tf = performance.now();
          kf = counter!.count;
          return total;
        }, params);
        await value.data();
        ops.dispose([value, ...Object.values(grads)]);
      } finally {
        counter.stop();
      }
      if (timed) {
        forward.ms += tf - t0;
        forward.kernels += kf;
        backward.ms += performance.now() - tf;
        backward.kernels += counter.count - kf;
      }
      counter = null;
    }
  } finally {
    restore.forEach((r) => r());
    model.train(wasTraining);
  }
  const mean = (name: string, c: { ms: number; kernels: number }): PartCost => ({
    name,
    ms: c.ms / steps,
    kernels: Math.round(c.kernels / steps),
  });
  return {
    parts: parts(training).map(([name]) => mean(name, totals.get(name) ?? { ms: 0, kernels: 0 })),
    forward: mean("forward", forward),
    backward: mean("backward", backward),
    step: mean("step", { ms: forward.ms + backward.ms, kernels: forward.kernels + backward.kernels }),
  };
}

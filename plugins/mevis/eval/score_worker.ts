/**
 * Worker thread of {@link scoreSplit}: receives every job and a shared counter block once, then claims
 * and scores expressions until none is left, posting each score and finally `idle`. Started by
 * `score_split.ts` with `new Worker(new URL("./score_worker.ts", import.meta.url), { type: "module" })`.
 *
 * @example
 * ```ts ignore
 * const w = new Worker(new URL("./score_worker.ts", import.meta.url), { type: "module" });
 * w.postMessage({ jobs, predDir: "pred", perFrame: false, control: new SharedArrayBuffer(8) });
 * w.onmessage = (e) => console.log(e.data); // { kind: "done", id, score } ... { kind: "idle" }
 * ```
 * @module
 */
import { claimAndScore, type FromWorker, type ToWorker } from "./score_split.ts";

const scope = self as unknown as {
  onmessage: ((ev: MessageEvent<ToWorker>) => void) | null;
  postMessage(msg: FromWorker): void;
};

scope.onmessage = (ev) => {
  const { jobs, predDir, perFrame, control } = ev.data;
  try {
    claimAndScore(jobs, predDir, perFrame, new Int32Array(control), (id, score) => {
      scope.postMessage({ kind: "done", id, score });
    });
    scope.postMessage({ kind: "idle" });
  } catch (e) {
    scope.postMessage({ kind: "error", message: (e as Error).message });
  }
};

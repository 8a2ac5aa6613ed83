/**
 * A progress bar with rate and ETA on stderr for long tasks (scoring, evaluation, conversion).
 *
 * On a terminal it redraws one line at most ten times a second; otherwise (logs, CI, pipes) it writes a
 * plain line every `intervalMs` (default 10 s) and a final one, so logs stay short. `quiet` silences it.
 *
 * @example
 * ```ts
 * import { Progress } from "./progress.ts";
 * const bar = new Progress(440, "score");
 * for (let i = 0; i < 440; i++) bar.tick();
 * bar.done(); // "score 440/440 100% 1.2s 367/s"
 * ```
 * @module
 */

/** Options of {@link Progress}. */
export interface ProgressOptions {
  /** Where to write (default: stderr). */
  write?: (text: string) => void;
  /** Whether to redraw in place (default: whether stderr is a terminal). */
  tty?: boolean;
  /** Milliseconds between plain lines when not a terminal (default 10000). */
  intervalMs?: number;
  /** Write nothing at all. */
  quiet?: boolean;
  /** Unit shown after the rate, e.g. "frames" (default: items). */
  unit?: string;
}

const encoder = new TextEncoder();

/** A progress bar for `total` units of work. */
export class Progress {
  readonly total: number;
  readonly label: string;
  #count = 0;
  #start = performance.now();
  #last = -Infinity;
  #write: (text: string) => void;
  #tty: boolean;
  #interval: number;
  #quiet: boolean;
  #unit: string;
  #finished = false;

  /**
   * @param total units of work expected (0 or less: unknown, no percentage or ETA)
   * @param label a short name printed first on the line
   */
  constructor(total: number, label: string, options: ProgressOptions = {}) {
    this.total = total;
    this.label = label;
    this.#write = options.write ?? ((t) => Deno.stderr.writeSync(encoder.encode(t)));
    this.#tty = options.tty ?? Deno.stderr.isTerminal();
    this.#interval = options.intervalMs ?? 10_000;
    this.#quiet = options.quiet ?? false;
    this.#unit = options.unit ?? "items";
    // A terminal shows the bar at once; a log gets its first line after one interval.
    if (!this.#tty) this.#last = this.#start;
  }

  /** Units done so far. */
  get count(): number {
    return this.#count;
  }

  /** Records `n` more units done and redraws when due. */
  tick(n = 1): void {
    this.#count += n;
    if (this.#quiet || this.#finished) return;
    const now = performance.now();
    if (now - this.#last < (this.#tty ? 100 : this.#interval)) return;
    this.#last = now;
    this.#write(this.#tty ? `\r${this.line(now)}\x1b[K` : `${this.line(now)}\n`);
  }

  /** Writes the final line; later ticks are counted but not shown. */
  done(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#quiet) return;
    this.#write(
      this.#tty ? `\r${this.line(performance.now())}\x1b[K\n` : `${this.line(performance.now())}\n`,
    );
  }

  /** The status line at time `now` (ms, `performance.now()` clock). */
  line(now = performance.now()): string {
    const elapsed = (now - this.#start) / 1000;
    const rate = elapsed > 0 ? this.#count / elapsed : 0;
    const parts = [this.label];
    if (this.total > 0) {
      const frac = Math.min(1, this.#count / this.total);
      if (this.#tty) {
        const width = 24;
        const full = Math.round(frac * width);
        parts.push(`[${"#".repeat(full)}${"-".repeat(width - full)}]`);
      }
      parts.push(`${this.#count}/${this.total}`, `${Math.floor(frac * 100)}%`);
    } else {
      parts.push(`${this.#count}`);
    }
    parts.push(formatSeconds(elapsed), `${rate >= 100 ? rate.toFixed(0) : rate.toFixed(1)} ${this.#unit}/s`);
    if (!this.#finished && this.total > 0 && rate > 0 && this.#count < this.total) {
      parts.push(`ETA ${formatSeconds((this.total - this.#count) / rate)}`);
    }
    return parts.join(" ");
  }
}

/**
 * Seconds as `12.3s`, `4m05s` or `2h03m`.
 *
 * @example
 * ```ts
 * formatSeconds(245); // "4m05s"
 * ```
 */
export function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

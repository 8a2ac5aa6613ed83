/**
 * The loss-curve picture `OUTPUT_DIR/loss_curve.svg`: total loss and each loss term against the
 * iteration, drawn from the rows of `metrics.jsonl`, with an optional logarithmic loss axis.
 *
 * Deep supervision gives one term per decoder layer (`loss_ce_0` ... `loss_ce_8` beside `loss_ce`); by
 * default the picture sums each family into one line (`loss_ce (10 terms)`), which keeps it readable
 * for DsHmp's dozens of terms. Long runs are reduced to at most `maxPoints` points per line by
 * averaging consecutive iterations, so the file stays small.
 *
 * @example
 * ```ts
 * import { renderLossCurve } from "./loss_curve.ts";
 * const svg = renderLossCurve([
 *   { iteration: 0, total_loss: 2, loss_ce: 1.5, loss_mask: 0.5, lr: 1e-4, time: 1, data_time: 0 },
 *   { iteration: 1, total_loss: 1, loss_ce: 0.7, loss_mask: 0.3, lr: 1e-4, time: 1, data_time: 0 },
 * ], { logScale: true });
 * svg.startsWith("<svg"); // true
 * ```
 * @module
 */
import { writeFileAtomic } from "../io/atomic.ts";
import { isLossRow, type MetricsRow } from "./metrics_log.ts";

/** Options of {@link renderLossCurve}. */
export interface LossCurveOptions {
  /** Logarithmic loss axis (default false); non-positive values are left out then. */
  logScale?: boolean;
  /** Sum the per-layer terms `<name>_<k>` into their family `<name>` (default true). */
  groupLayers?: boolean;
  /** Points per line at most; longer runs are averaged in buckets (default 1000). */
  maxPoints?: number;
  /** Title above the plot (default "training loss"). */
  title?: string;
}

// Columns of a loss row that are not loss terms.
const NOT_TERMS = new Set(["iteration", "total_loss", "lr", "time", "data_time", "grad_norm"]);
const PALETTE = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
];

/** One line of the picture: a label and its (iteration, loss) points. */
export interface Series {
  label: string;
  points: [number, number][];
}

/** The lines to draw: total first, then each term (or term family) in first-seen order. */
export function lossSeries(rows: readonly MetricsRow[], groupLayers = true): Series[] {
  const family = (k: string) => (groupLayers ? k.replace(/_\d+$/, "") : k);
  const members = new Map<string, Set<string>>();
  const byLabel = new Map<string, [number, number][]>([["total_loss", []]]);
  for (const row of rows) {
    if (!isLossRow(row)) continue;
    byLabel.get("total_loss")!.push([row.iteration, row.total_loss]);
    const sums = new Map<string, number>();
    for (const [k, v] of Object.entries(row)) {
      if (NOT_TERMS.has(k) || typeof v !== "number") continue;
      const f = family(k);
      sums.set(f, (sums.get(f) ?? 0) + v);
      if (!members.has(f)) members.set(f, new Set());
      members.get(f)!.add(k);
    }
    for (const [f, v] of sums) {
      if (!byLabel.has(f)) byLabel.set(f, []);
      byLabel.get(f)!.push([row.iteration, v]);
    }
  }
  return [...byLabel].map(([name, points]) => {
    const n = members.get(name)?.size ?? 1;
    return { label: n > 1 ? `${name} (${n} terms)` : name, points };
  });
}

function downsample(points: [number, number][], maxPoints: number): [number, number][] {
  if (points.length <= maxPoints) return points;
  const out: [number, number][] = [];
  const size = points.length / maxPoints;
  for (let b = 0; b < maxPoints; b++) {
    const chunk = points.slice(Math.floor(b * size), Math.floor((b + 1) * size));
    if (chunk.length === 0) continue;
    const x = chunk.reduce((s, p) => s + p[0], 0) / chunk.length;
    const y = chunk.reduce((s, p) => s + p[1], 0) / chunk.length;
    out.push([x, y]);
  }
  return out;
}

/** Round tick values covering [lo, hi] (about `count` of them, steps of 1, 2 or 5 times a power of 10). */
function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (hi <= lo) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push(Number(t.toPrecision(12)));
  }
  return ticks;
}

// Math.min(...xs) would overflow the call stack on long arrays.
function extent(values: number[]): [number, number] {
  return values.reduce<[number, number]>(([lo, hi], v) => [Math.min(lo, v), Math.max(hi, v)], [
    Infinity,
    -Infinity,
  ]);
}

const escapeXml = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const fmt = (
  v: number,
) => (Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(1) : `${v}`);

/**
 * The loss curve of `rows` (the rows of `metrics.jsonl`; evaluation rows are ignored) as an SVG
 * document. With no loss rows yet it draws empty axes.
 */
export function renderLossCurve(rows: readonly MetricsRow[], opts: LossCurveOptions = {}): string {
  const { logScale = false, groupLayers = true, maxPoints = 1000, title = "training loss" } = opts;
  const series = lossSeries(rows, groupLayers).map((s) => ({
    label: s.label,
    points: downsample(s.points.filter(([, y]) => Number.isFinite(y) && (!logScale || y > 0)), maxPoints),
  }));
  const W = 960, H = 540, left = 70, right = 260, top = 40, bottom = 50;
  const pw = W - left - right, ph = H - top - bottom;
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => (logScale ? Math.log10(p[1]) : p[1]));
  let [x0, x1] = xs.length ? extent(xs) : [0, 1];
  let [y0, y1] = ys.length ? extent(ys) : [0, 1];
  if (x1 === x0) x1 = x0 + 1;
  if (logScale) [y0, y1] = [Math.floor(y0), Math.ceil(y1)];
  else y0 = Math.min(0, y0);
  if (y1 === y0) y1 = y0 + 1;
  const px = (x: number) => left + ((x - x0) / (x1 - x0)) * pw;
  const py = (y: number) => top + ph - ((y - y0) / (y1 - y0)) * ph;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ` +
    `font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${left + pw / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(title)}</text>`,
  ];
  const yTicks = logScale ? Array.from({ length: y1 - y0 + 1 }, (_, i) => y0 + i) : niceTicks(y0, y1);
  for (const t of yTicks) {
    const y = py(t).toFixed(1);
    out.push(
      `<line x1="${left}" y1="${y}" x2="${left + pw}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="${left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${
        logScale ? fmt(10 ** t) : fmt(t)
      }</text>`,
    );
  }
  for (const t of niceTicks(x0, x1, 8)) {
    const x = px(t).toFixed(1);
    out.push(
      `<line x1="${x}" y1="${top + ph}" x2="${x}" y2="${top + ph + 5}" stroke="black"/>`,
      `<text x="${x}" y="${top + ph + 18}" text-anchor="middle">${fmt(t)}</text>`,
    );
  }
  out.push(
    `<rect x="${left}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="black"/>`,
    `<text x="${left + pw / 2}" y="${H - 12}" text-anchor="middle">iteration</text>`,
    `<text transform="translate(16 ${top + ph / 2}) rotate(-90)" text-anchor="middle">loss${
      logScale ? " (log scale)" : ""
    }</text>`,
  );
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const dash = i >= PALETTE.length ? ` stroke-dasharray="5 3"` : "";
    const width = i === 0 ? 2 : 1.2;
    if (s.points.length > 0) {
      const d = s.points
        .map(([x, y], j) =>
          `${j === 0 ? "M" : "L"}${px(x).toFixed(1)} ${py(logScale ? Math.log10(y) : y).toFixed(1)}`
        )
        .join("");
      out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="${width}"${dash}/>`);
    }
    const ly = top + 10 + i * 16;
    out.push(
      `<line x1="${left + pw + 12}" y1="${ly}" x2="${left + pw + 32}" y2="${ly}" stroke="${color}" ` +
        `stroke-width="${width}"${dash}/>`,
      `<text x="${left + pw + 38}" y="${ly}" dominant-baseline="middle">${escapeXml(s.label)}</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}

/**
 * Renders the curve of `rows` and writes it to `path` atomically (a viewer never sees half a file).
 *
 * @example
 * ```ts
 * import { writeLossCurve } from "./loss_curve.ts";
 * await writeLossCurve("out/loss_curve.svg", [{ iteration: 0, total_loss: 1, lr: 0, time: 0, data_time: 0 }]);
 * ```
 */
export async function writeLossCurve(
  path: string,
  rows: readonly MetricsRow[],
  opts: LossCurveOptions = {},
): Promise<void> {
  await writeFileAtomic(path, renderLossCurve(rows, opts));
}

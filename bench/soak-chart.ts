/**
 * A small SVG line chart of the soak samples: one panel per figure group, time on the x axis. Written here rather
 * than with a charting library because the charting libraries that render SVG without a browser (Vega) bring dozens
 * of packages for what is a handful of polylines, and this output must stay diffable in docs/.
 */

export interface Series {
  readonly label: string;
  readonly values: readonly number[];
}

export interface Panel {
  readonly title: string;
  readonly unit: string;
  readonly series: readonly Series[];
}

const WIDTH = 900;
const PANEL_HEIGHT = 150;
const MARGIN = { left: 70, right: 190, top: 28, bottom: 22 };
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A round number at or above `v` (1, 2 or 5 times a power of ten), so the axis reads easily. */
function niceMax(v: number): number {
  if (!(v > 0)) {
    return 1;
  }
  const p = 10 ** Math.floor(Math.log10(v));
  return ([1, 2, 5, 10].find((m) => m * p >= v) ?? 10) * p;
}

/** Renders the panels stacked, sharing the time axis `seconds`. */
export function renderChart(title: string, seconds: readonly number[], panels: readonly Panel[]): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;
  const tMax = Math.max(1, ...seconds);
  const x = (t: number) => MARGIN.left + (t / tMax) * plotW;
  const parts: string[] = [];
  panels.forEach((panel, i) => {
    const top = 30 + i * PANEL_HEIGHT;
    const yMax = niceMax(Math.max(0, ...panel.series.flatMap((s) => s.values.filter(Number.isFinite))));
    const y = (v: number) => top + MARGIN.top + plotH - (Math.max(0, v) / yMax) * plotH;
    parts.push(
      `<text x="${MARGIN.left}" y="${top + 18}" font-weight="bold">${esc(panel.title)} (${esc(panel.unit)})</text>`,
      `<rect x="${MARGIN.left}" y="${top + MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`,
    );
    for (const frac of [0, 0.5, 1]) {
      const yy = y(yMax * frac);
      parts.push(
        `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${yy}" y2="${yy}" stroke="#ddd"/>`,
        `<text x="${MARGIN.left - 6}" y="${yy + 4}" text-anchor="end">${yMax * frac}</text>`,
      );
    }
    panel.series.forEach((s, j) => {
      const colour = COLOURS[j % COLOURS.length] ?? '#000';
      const points = s.values
        .map((v, k) => (Number.isFinite(v) ? `${x(seconds[k] ?? 0).toFixed(1)},${y(v).toFixed(1)}` : ''))
        .filter(Boolean)
        .join(' ');
      parts.push(
        `<polyline fill="none" stroke="${colour}" stroke-width="1.5" points="${points}"/>`,
        `<text x="${MARGIN.left + plotW + 10}" y="${top + MARGIN.top + 12 + j * 16}" fill="${colour}">${esc(s.label)}</text>`,
      );
    });
  });
  const height = 30 + panels.length * PANEL_HEIGHT + 20;
  const axisY = height - 14;
  for (const frac of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(
      `<text x="${x(tMax * frac)}" y="${axisY}" text-anchor="middle">${Math.round((tMax * frac) / 60)} min</text>`,
    );
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${MARGIN.left}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

// A small SVG line-chart writer (no dependencies): panels side by side, linear or log-scale x axis (scenarios span
// 1 s to minutes: linear shows the throttled runs' duration, log the fast runs' shape), y in %, one shared legend.

export interface Series {
  label: string;
  color: string;
  dashed?: boolean;
  /** [x, y] points, x > 0 (drawn as a step line: the data are cumulative counts). */
  points: [number, number][];
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  xScale: 'linear' | 'log';
  series: Series[];
}

const W = 460;
const H = 340;
const M = { left: 58, right: 16, top: 34, bottom: 48 };

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function fmt(x: number): string {
  if (x === 0) return '0';
  return x >= 1 ? String(+x.toPrecision(3)) : String(+x.toPrecision(2));
}

function panelSvg(panel: Panel, offsetX: number): string {
  const xs = panel.series.flatMap((s) => s.points.map(([x]) => x)).filter((x) => x > 0 && Number.isFinite(x));
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sy = (y: number): number => M.top + ph - (y / 100) * ph;
  let sx: (x: number) => number;
  const ticks: { x: number; major: boolean }[] = [];
  if (panel.xScale === 'log') {
    const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...xs, 1))));
    const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...xs, 1) * 1.0001)));
    sx = (x) => M.left + ((Math.log10(Math.max(x, lo)) - Math.log10(lo)) / Math.log10(hi / lo)) * pw;
    // 1-2-5 per decade.
    for (let decade = lo; decade < hi * 1.0001; decade *= 10) {
      for (const m of [1, 2, 5]) if (decade * m <= hi * 1.0001) ticks.push({ x: decade * m, major: m === 1 });
    }
  } else {
    const max = Math.max(...xs, 1);
    // About 6 ticks on a 1-2-5 step.
    const raw = max / 6;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((v) => v >= raw) ?? 10 * mag;
    const hi = Math.ceil(max / step) * step;
    sx = (x) => M.left + (Math.max(0, x) / hi) * pw;
    for (let x = 0; x <= hi + step / 2; x += step) ticks.push({ x, major: true });
  }
  const out: string[] = [`<g transform="translate(${offsetX},0)">`];
  out.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-weight="bold">${esc(panel.title)}</text>`);
  for (const { x, major } of ticks) {
    const px = sx(x).toFixed(1);
    out.push(`<line x1="${px}" x2="${px}" y1="${M.top}" y2="${M.top + ph}" stroke="${major ? '#ccc' : '#eee'}"/>`);
    out.push(`<text x="${px}" y="${M.top + ph + 16}" text-anchor="middle" font-size="11">${fmt(x)}</text>`);
  }
  for (let y = 0; y <= 100; y += 20) {
    const py = sy(y).toFixed(1);
    out.push(`<line x1="${M.left}" x2="${M.left + pw}" y1="${py}" y2="${py}" stroke="#eee"/>`);
    out.push(`<text x="${M.left - 6}" y="${+py + 4}" text-anchor="end" font-size="11">${y}%</text>`);
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  out.push(
    `<text x="${M.left + pw / 2}" y="${H - 10}" text-anchor="middle" font-size="12">${esc(panel.xLabel)}</text>`,
  );
  out.push(
    `<text transform="translate(14,${M.top + ph / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(panel.yLabel)}</text>`,
  );
  for (const s of panel.series) {
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).sort((a, b) => a[0] - b[0]);
    if (pts.length === 0) continue;
    let d = `M${sx(pts[0][0]).toFixed(1)},${sy(0).toFixed(1)}`;
    for (const [x, y] of pts) d += ` H${sx(x).toFixed(1)} V${sy(y).toFixed(1)}`;
    const dash = s.dashed ? ' stroke-dasharray="5,3"' : '';
    out.push(
      `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.8"${dash}><title>${esc(s.label)}</title></path>`,
    );
  }
  out.push('</g>');
  return out.join('\n');
}

/** Panels in a row, then a legend of the distinct series labels below them. */
export function chartSvg(title: string, panels: Panel[], legend: Series[]): string {
  const legendRows = Math.ceil(legend.length / 3);
  const width = W * panels.length;
  const height = H + 40 + legendRows * 20 + 10;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="13">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<g transform="translate(0,30)">`,
    ...panels.map((p, i) => panelSvg(p, i * W)),
    '</g>',
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ];
  legend.forEach((s, i) => {
    const x = 60 + (i % 3) * ((width - 60) / 3);
    const y = H + 50 + Math.floor(i / 3) * 20;
    const dash = s.dashed ? ' stroke-dasharray="5,3"' : '';
    out.push(
      `<line x1="${x}" x2="${x + 28}" y1="${y - 4}" y2="${y - 4}" stroke="${s.color}" stroke-width="2.5"${dash}/>`,
    );
    out.push(`<text x="${x + 34}" y="${y}" font-size="12">${esc(s.label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/** Cumulative share (0–100) of the samples done by each sample time: a progress curve or a CDF. */
export function cumulative(samples: readonly number[], total: number): [number, number][] {
  const sorted = samples.filter((s) => Number.isFinite(s)).sort((a, b) => a - b);
  return sorted.map((x, i) => [x, ((i + 1) / total) * 100]);
}

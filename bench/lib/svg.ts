import type { Series } from './report.ts';

/** Hand-written SVG: latency percentiles (log y) against offered load (linear x), one colour per system. */

const W = 960;
const H = 560;
const M = { left: 80, right: 230, top: 50, bottom: 60 };
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b'];
const STYLES: Record<'p50' | 'p95' | 'p99', { dash: string; width: number }> = {
  p50: { dash: '', width: 2 },
  p95: { dash: '7 4', width: 2 },
  p99: { dash: '2 3', width: 2.5 },
};
const TARGET_MS = 50;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const f = (n: number) => n.toFixed(1);

function niceStep(max: number): number {
  const raw = max / 6;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

export function renderLatencyChart(series: readonly Series[], title: string): string {
  const all = series.flatMap((s) => s.points);
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="15">${esc(title)}</text>`,
  ];
  if (all.length === 0) {
    out.push(`<text x="${W / 2}" y="${H / 2}" text-anchor="middle">no open-loop data in this run</text></svg>`);
    return out.join('\n') + '\n';
  }
  const xMax = Math.max(...all.map((p) => p.offered)) * 1.05;
  const values = all.flatMap((p) => [p.p50, p.p95, p.p99, TARGET_MS]).filter((v) => v > 0);
  const yLo = Math.floor(Math.log10(Math.max(0.01, Math.min(...values))));
  const yHi = Math.ceil(Math.log10(Math.max(...values)));
  const x = (v: number) => M.left + (v / xMax) * plotW;
  const y = (v: number) => M.top + plotH - ((Math.log10(Math.max(v, 10 ** yLo)) - yLo) / (yHi - yLo || 1)) * plotH;

  // axes and grid
  out.push(`<rect x="${M.left}" y="${M.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  const step = niceStep(xMax);
  for (let v = 0; v <= xMax; v += step) {
    out.push(`<line x1="${f(x(v))}" y1="${M.top}" x2="${f(x(v))}" y2="${M.top + plotH}" stroke="#eee"/>`);
    out.push(`<text x="${f(x(v))}" y="${M.top + plotH + 18}" text-anchor="middle">${v}</text>`);
  }
  for (let e = yLo; e <= yHi; e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (Math.log10(v) > yHi + 1e-9) continue;
      out.push(`<line x1="${M.left}" y1="${f(y(v))}" x2="${M.left + plotW}" y2="${f(y(v))}" stroke="${m === 1 ? '#ddd' : '#f3f3f3'}"/>`);
      if (m !== 5) out.push(`<text x="${M.left - 8}" y="${f(y(v) + 4)}" text-anchor="end">${+v.toPrecision(3)}</text>`);
    }
  }
  out.push(`<text x="${M.left + plotW / 2}" y="${H - 18}" text-anchor="middle">offered load (MeterValues/s)</text>`);
  out.push(`<text transform="translate(22 ${M.top + plotH / 2}) rotate(-90)" text-anchor="middle">CALL→CALLRESULT latency (ms, log scale)</text>`);
  out.push(`<line x1="${M.left}" y1="${f(y(TARGET_MS))}" x2="${M.left + plotW}" y2="${f(y(TARGET_MS))}" stroke="#d62728" stroke-dasharray="4 4"/>`);
  out.push(`<text x="${M.left + plotW - 4}" y="${f(y(TARGET_MS) - 5)}" text-anchor="end" fill="#d62728">p99 target ${TARGET_MS} ms</text>`);

  // lines
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const pts = [...s.points].sort((a, b) => a.offered - b.offered);
    for (const p of ['p50', 'p95', 'p99'] as const) {
      const st = STYLES[p];
      const d = pts.map((q, j) => `${j ? 'L' : 'M'}${f(x(q.offered))} ${f(y(q[p]))}`).join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="${st.width}"${st.dash ? ` stroke-dasharray="${st.dash}"` : ''}/>`);
      for (const q of pts) {
        out.push(`<circle cx="${f(x(q.offered))}" cy="${f(y(q[p]))}" r="3" fill="${color}"/>`);
        if (q.failures > 0 && p === 'p99') {
          out.push(`<circle cx="${f(x(q.offered))}" cy="${f(y(q[p]))}" r="7" fill="none" stroke="#d62728" stroke-width="1.5"><title>${q.failures} failed / not sent</title></circle>`);
        }
      }
    }
  });

  // legend
  const lx = M.left + plotW + 20;
  let ly = M.top + 10;
  series.forEach((s, i) => {
    out.push(`<rect x="${lx}" y="${ly - 10}" width="14" height="14" fill="${COLORS[i % COLORS.length]}"/>`);
    out.push(`<text x="${lx + 20}" y="${ly + 1}">${esc(s.system)}</text>`);
    ly += 22;
  });
  ly += 10;
  for (const p of ['p50', 'p95', 'p99'] as const) {
    const st = STYLES[p];
    out.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 30}" y2="${ly - 4}" stroke="#333" stroke-width="${st.width}"${st.dash ? ` stroke-dasharray="${st.dash}"` : ''}/>`);
    out.push(`<text x="${lx + 38}" y="${ly}">${p}</text>`);
    ly += 20;
  }
  out.push(`<circle cx="${lx + 15}" cy="${ly - 4}" r="7" fill="none" stroke="#d62728" stroke-width="1.5"/>`);
  out.push(`<text x="${lx + 38}" y="${ly}">errors/timeouts/shed</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

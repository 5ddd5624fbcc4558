/**
 * A hand-written SVG bar chart for bench:compare (no chart library): one panel per metric, each with
 * its own scale, two horizontal bars (ours, baseline) labelled with their values.
 */
export interface ChartPanel {
  title: string;
  better: 'lower' | 'higher';
  ours: number;
  baseline: number;
  unit: string;
}

export interface ChartSpec {
  title: string;
  subtitle: string;
  labels: { ours: string; baseline: string };
  panels: ChartPanel[];
}

const COLORS = { ours: '#1a73e8', baseline: '#e8710a' };
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function fmt(v: number, unit: string): string {
  if (!Number.isFinite(v)) return 'n/a';
  const n = Math.abs(v) >= 100 ? Math.round(v).toString() : Math.abs(v) >= 10 ? v.toFixed(1) : Number(v.toFixed(2)).toString();
  return unit === '/s' ? `${n}/s` : unit ? `${n} ${unit}` : n;
}

export function renderCompareChart(spec: ChartSpec): string {
  const W = 960;
  const cols = 2;
  const panelW = 440;
  const panelH = 122;
  const gapX = 40;
  const top = 96;
  const left = 20;
  const labelW = 78;
  const barH = 24;
  const rows = Math.ceil(spec.panels.length / cols);
  const H = top + rows * panelH + 34;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" role="img" aria-label="${esc(spec.title)}">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${left}" y="30" font-size="20" font-weight="bold" fill="#202124">${esc(spec.title)}</text>`,
    `<text x="${left}" y="52" font-size="12" fill="#5f6368">${esc(spec.subtitle)}</text>`,
    `<rect x="${left}" y="64" width="12" height="12" fill="${COLORS.ours}"/>`,
    `<text x="${left + 18}" y="75" font-size="12" fill="#202124">${esc(spec.labels.ours)}</text>`,
    `<rect x="${left + 70}" y="64" width="12" height="12" fill="${COLORS.baseline}"/>`,
    `<text x="${left + 88}" y="75" font-size="12" fill="#202124">${esc(spec.labels.baseline)}</text>`,
  );
  spec.panels.forEach((p, i) => {
    const x0 = left + (i % cols) * (panelW + gapX);
    const y0 = top + Math.floor(i / cols) * panelH;
    const max = Math.max(p.ours, p.baseline, 0) || 1;
    const barMax = panelW - labelW - 90;
    out.push(
      `<text x="${x0}" y="${y0 + 14}" font-size="13" font-weight="bold" fill="#202124">${esc(p.title)}</text>`,
      `<text x="${x0}" y="${y0 + 29}" font-size="11" fill="#5f6368">${p.better} is better</text>`,
    );
    (['ours', 'baseline'] as const).forEach((k, j) => {
      const v = p[k];
      const y = y0 + 38 + j * (barH + 8);
      const w = Number.isFinite(v) ? Math.max(v > 0 ? 2 : 0, (v / max) * barMax) : 0;
      out.push(
        `<text x="${x0}" y="${y + barH / 2 + 4}" font-size="12" fill="#3c4043">${k}</text>`,
        `<rect x="${x0 + labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" rx="2" fill="${COLORS[k]}"/>`,
        `<text x="${(x0 + labelW + w + 6).toFixed(1)}" y="${y + barH / 2 + 4}" font-size="12" font-weight="bold" fill="#202124">${esc(fmt(v, p.unit))}</text>`,
      );
    });
    out.push(`<line x1="${x0 + labelW}" y1="${y0 + 34}" x2="${x0 + labelW}" y2="${y0 + 38 + 2 * barH + 12}" stroke="#9aa0a6" stroke-width="1"/>`);
  });
  out.push(
    `<text x="${left}" y="${H - 12}" font-size="11" fill="#5f6368">npm run bench:compare · figures in tools/bench/results/compare.json · each panel has its own scale</text>`,
    '</svg>',
  );
  return out.join('\n') + '\n';
}

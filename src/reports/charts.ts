// One chart definition, rendered everywhere. A figure is a declarative spec plus the rows it draws;
// the web app gets both as JSON and draws them in the browser, the server renders the same pair to
// SVG (accessible: title and description, level symbols and patterns besides colour), then to PNG
// (resvg) and PDF (pdfkit) from that SVG, and to CSV/XLSX tables from the same rows.
import { createRequire } from 'node:module';
import path from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import PDFDocument from 'pdfkit';
import SVGtoPDF from 'svg-to-pdfkit';
import { levelSymbol } from './level-symbols.ts';

// The level symbols are shared with the web app (level-symbols.ts).
export { levelSymbol };

export type Lang = 'nb' | 'en';
export type Cell = string | number | boolean | null;
export type Row = Record<string, Cell>;

/** A column of the figure's table (downloads, and the table beside a chart). */
export interface Column {
  key: string;
  label: string;
  format?: 'percent' | 'number' | 'text' | 'decimal';
}

interface BaseSpec {
  title: string;
  /** What the figure shows, in words: the SVG's description for screen readers, and the caption. */
  description: string;
  /** Shown under the chart, e.g. "Grupper med fem eller færre er ikke vist." */
  note?: string;
  lang: Lang;
  columns: Column[];
}

/** Units side by side: a horizontal bar per unit with its Wilson interval, a target line, level symbols and "too few" markers. */
export interface UnitBarsSpec extends BaseSpec {
  kind: 'unit-bars';
  encoding: { label: string; value: string; lower: string; upper: string; status: string; level: string; id: string; muted?: string };
  target?: { value: number; label: string } | null;
  /** The unit to emphasise (its id value). */
  highlight?: string | null;
}

/** Periods along x, one line per series (own unit, region, nation). */
export interface LinesSpec extends BaseSpec {
  kind: 'lines';
  encoding: { x: string; series: string; value: string; lower?: string; upper?: string };
  series: string[];
  x: string[];
  yFormat: 'percent' | 'number';
  target?: { value: number; label: string } | null;
}

/** Categories along x, one bar per group in each (e.g. AO prefix by sex); `histogram` draws touching bins. */
export interface BarsSpec extends BaseSpec {
  kind: 'grouped-bars' | 'histogram';
  encoding: { x: string; group?: string; value: string; suppressed?: string };
  categories: string[];
  groups: Array<{ key: string; label: string }>;
  xLabel: string;
  yLabel: string;
  yFormat: 'number' | 'decimal';
}

export type ChartSpec = UnitBarsSpec | LinesSpec | BarsSpec;
export interface Figure {
  spec: ChartSpec;
  data: Row[];
}

const WORDS = {
  nb: {
    tooFew: 'For få',
    notComputable: 'Ikke beregnbar',
    pending: 'Definisjon kommer',
    high: 'Høy måloppnåelse',
    moderate: 'Moderat måloppnåelse',
    low: 'Lav måloppnåelse',
    interval: '95 % konfidensintervall',
    target: 'Mål',
    lowCoverage: 'lav dekningsgrad',
  },
  en: {
    tooFew: 'Too few',
    notComputable: 'Not computable',
    pending: 'Definition pending',
    high: 'High achievement',
    moderate: 'Moderate achievement',
    low: 'Low achievement',
    interval: '95 % confidence interval',
    target: 'Target',
    lowCoverage: 'low coverage',
  },
} as const;

// Colour-blind-safe palette (Okabe–Ito); every distinction drawn in colour is also a shape, dash or pattern.
const COLOURS = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00'];
const FONT = 'DejaVu Sans';
const W = 820;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const num = (v: Cell): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const fmtPct = (p: number, lang: Lang) => `${(p * 100).toFixed(0)} %`.replace('.', lang === 'nb' ? ',' : '.');
const fmtNum = (n: number, lang: Lang, decimals = 0) => {
  const s = n.toFixed(decimals);
  return lang === 'nb' ? s.replace('.', ',') : s;
};
/** A rough text width for layout: DejaVu Sans averages a little over half the font size per character. */
const textWidth = (s: string, size: number) => s.length * size * 0.58;

function wrap(text: string, size: number, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && textWidth(`${line} ${word}`, size) > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

function text(
  x: number,
  y: number,
  s: string,
  opts: { size?: number; anchor?: 'start' | 'middle' | 'end'; weight?: 'bold'; fill?: string; rotate?: number } = {},
): string {
  const t = opts.rotate ? ` transform="rotate(${opts.rotate} ${x} ${y})"` : '';
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" font-family="${FONT}" font-size="${opts.size ?? 11}" text-anchor="${opts.anchor ?? 'start'}"${opts.weight ? ` font-weight="bold"` : ''} fill="${opts.fill ?? '#222'}"${t}>${esc(s)}</text>`;
}

function markerShape(i: number, x: number, y: number, colour: string): string {
  const r = 4;
  switch (i % 3) {
    case 0:
      return `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${r}" fill="${colour}"/>`;
    case 1:
      return `<rect x="${(x - r).toFixed(1)}" y="${(y - r).toFixed(1)}" width="${2 * r}" height="${2 * r}" fill="${colour}"/>`;
    default:
      return `<path d="M${x.toFixed(1)},${(y - r - 1).toFixed(1)} L${(x + r + 1).toFixed(1)},${(y + r).toFixed(1)} L${(x - r - 1).toFixed(1)},${(y + r).toFixed(1)} Z" fill="${colour}"/>`;
  }
}
const DASHES = ['', '6 3', '2 3', '8 3 2 3'];

/** Patterns for bar groups: solid, hatched, dotted … so groups differ in more than colour. */
function patternDefs(n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const c = COLOURS[i % COLOURS.length];
    const mark =
      i % 3 === 0
        ? ''
        : i % 3 === 1
          ? `<path d="M0,6 L6,0" stroke="#fff" stroke-width="1.6"/>`
          : `<circle cx="3" cy="3" r="1.3" fill="#fff"/>`;
    out.push(
      `<pattern id="g${i}" patternUnits="userSpaceOnUse" width="6" height="6"><rect width="6" height="6" fill="${c}"/>${mark}</pattern>`,
    );
  }
  return `<defs>${out.join('')}</defs>`;
}

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const exp = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * exp >= v) return m * exp;
  return 10 * exp;
}

function header(spec: ChartSpec, height: number, body: string, defs = ''): string {
  const titleLines = wrap(spec.title, 15, W - 40);
  const head = titleLines.map((l, i) => text(20, 26 + i * 19, l, { size: 15, weight: 'bold' })).join('');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" role="img" aria-labelledby="fig-title fig-desc">` +
    `<title id="fig-title">${esc(spec.title)}</title><desc id="fig-desc">${esc(spec.description + (spec.note ? ` ${spec.note}` : ''))}</desc>${defs}` +
    `<rect width="${W}" height="${height}" fill="#fff"/>${head}${body}</svg>`
  );
}
const titleHeight = (spec: ChartSpec) => wrap(spec.title, 15, W - 40).length * 19 + 18;

function footer(spec: ChartSpec, y: number): { svg: string; height: number } {
  if (!spec.note) return { svg: '', height: 0 };
  const lines = wrap(spec.note, 10, W - 40);
  return { svg: lines.map((l, i) => text(20, y + 14 + i * 13, l, { size: 10, fill: '#444' })).join(''), height: lines.length * 13 + 10 };
}

function unitBars(spec: UnitBarsSpec, data: Row[]): string {
  const w = WORDS[spec.lang];
  const e = spec.encoding;
  const top = titleHeight(spec) + 34;
  const rowH = 20;
  // A unit whose coverage against NPR is under the low threshold (encoding.muted) is greyed and
  // marked, as national publishing marks "Lav dekningsgrad": its result describes part of its patients.
  const muted = (r: Row) => e.muted !== undefined && !!r[e.muted];
  const label = (r: Row) => `${String(r[e.label] ?? '')}${muted(r) ? ` (${w.lowCoverage})` : ''}`;
  const labelW = Math.min(300, Math.max(120, ...data.map((r) => textWidth(label(r), 11) + 10)));
  const x0 = 20 + labelW,
    x1 = W - 90;
  const sx = (p: number) => x0 + p * (x1 - x0);
  const parts: string[] = [];
  // Axis with 0–100 % ticks.
  for (let t = 0; t <= 1.0001; t += 0.2) {
    parts.push(`<line x1="${sx(t).toFixed(1)}" y1="${top - 6}" x2="${sx(t).toFixed(1)}" y2="${top + data.length * rowH}" stroke="#ddd"/>`);
    parts.push(text(sx(t), top - 10, fmtPct(t, spec.lang), { size: 10, anchor: 'middle', fill: '#555' }));
  }
  data.forEach((r, i) => {
    const y = top + i * rowH;
    const mid = y + rowH / 2;
    const strong = spec.highlight != null && String(r[e.id]) === spec.highlight;
    parts.push(
      text(x0 - 8, mid + 4, label(r), {
        anchor: 'end',
        size: 11,
        weight: strong ? 'bold' : undefined,
        fill: muted(r) ? '#777' : undefined,
      }),
    );
    const p = num(r[e.value]);
    if (p === null) {
      const why = r[e.status] === 'not-computable' ? w.notComputable : r[e.status] === 'definition-pending' ? w.pending : w.tooFew;
      parts.push(`<line x1="${x0}" y1="${mid}" x2="${x0 + 14}" y2="${mid}" stroke="#888" stroke-dasharray="2 2"/>`);
      parts.push(text(x0 + 20, mid + 4, why, { size: 10, fill: '#555' }));
      return;
    }
    parts.push(
      `<rect x="${x0}" y="${y + 3}" width="${Math.max(0.5, sx(p) - x0).toFixed(1)}" height="${rowH - 6}" fill="${muted(r) ? (strong ? '#8a8a8a' : '#c9c9c9') : strong ? '#005289' : '#7fb1d6'}"/>`,
    );
    const lo = num(r[e.lower]),
      hi = num(r[e.upper]);
    if (lo !== null && hi !== null) {
      parts.push(`<line x1="${sx(lo).toFixed(1)}" y1="${mid}" x2="${sx(hi).toFixed(1)}" y2="${mid}" stroke="#222" stroke-width="1.2"/>`);
      parts.push(
        `<line x1="${sx(lo).toFixed(1)}" y1="${mid - 4}" x2="${sx(lo).toFixed(1)}" y2="${mid + 4}" stroke="#222"/><line x1="${sx(hi).toFixed(1)}" y1="${mid - 4}" x2="${sx(hi).toFixed(1)}" y2="${mid + 4}" stroke="#222"/>`,
      );
    }
    const level = r[e.level];
    if (level === 'high' || level === 'moderate' || level === 'low') parts.push(levelSymbol(level, x1 + 14, mid));
    parts.push(text(x1 + 26, mid + 4, fmtPct(p, spec.lang), { size: 10 }));
  });
  const bottom = top + data.length * rowH;
  if (spec.target) {
    const tx = sx(spec.target.value);
    parts.push(
      `<line x1="${tx.toFixed(1)}" y1="${top - 4}" x2="${tx.toFixed(1)}" y2="${bottom + 4}" stroke="#000" stroke-width="1.5" stroke-dasharray="6 3"/>`,
    );
  }
  // Legend: the symbols and the target line, in words.
  let lx = 20;
  const ly = bottom + 24;
  for (const l of ['high', 'moderate', 'low'] as const) {
    parts.push(levelSymbol(l, lx + 5, ly - 4));
    parts.push(text(lx + 14, ly, w[l], { size: 10 }));
    lx += textWidth(w[l], 10) + 34;
  }
  if (spec.target) {
    parts.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 22}" y2="${ly - 4}" stroke="#000" stroke-width="1.5" stroke-dasharray="6 3"/>`);
    parts.push(text(lx + 28, ly, spec.target.label, { size: 10 }));
    lx += textWidth(spec.target.label, 10) + 44;
  }
  parts.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 22}" y2="${ly - 4}" stroke="#222" stroke-width="1.2"/>`);
  parts.push(text(lx + 28, ly, w.interval, { size: 10 }));
  const f = footer(spec, ly + 4);
  return header(spec, ly + 14 + f.height, parts.join('') + f.svg);
}

function lines(spec: LinesSpec, data: Row[]): string {
  const w = WORDS[spec.lang];
  const e = spec.encoding;
  const top = titleHeight(spec) + 16,
    plotH = 260,
    left = 70,
    right = W - 30;
  const values = data.map((r) => num(r[e.upper ?? e.value]) ?? num(r[e.value])).filter((v): v is number => v !== null);
  const yMax = spec.yFormat === 'percent' ? 1 : niceMax(Math.max(1, ...values));
  const sy = (v: number) => top + plotH - (v / yMax) * plotH;
  const n = Math.max(1, spec.x.length);
  const sx = (i: number) => left + (n === 1 ? (right - left) / 2 : (i / (n - 1)) * (right - left));
  const parts: string[] = [];
  for (let k = 0; k <= 5; k++) {
    const v = (yMax * k) / 5;
    parts.push(`<line x1="${left}" y1="${sy(v).toFixed(1)}" x2="${right}" y2="${sy(v).toFixed(1)}" stroke="#e3e3e3"/>`);
    parts.push(
      text(left - 6, sy(v) + 4, spec.yFormat === 'percent' ? fmtPct(v, spec.lang) : fmtNum(v, spec.lang), {
        size: 10,
        anchor: 'end',
        fill: '#555',
      }),
    );
  }
  spec.x.forEach((x, i) => parts.push(text(sx(i), top + plotH + 16, x, { size: 10, anchor: 'middle' })));
  if (spec.target) {
    parts.push(
      `<line x1="${left}" y1="${sy(spec.target.value).toFixed(1)}" x2="${right}" y2="${sy(spec.target.value).toFixed(1)}" stroke="#000" stroke-width="1.3" stroke-dasharray="6 3"/>`,
    );
  }
  spec.series.forEach((s, si) => {
    const colour = COLOURS[si % COLOURS.length];
    const pts = spec.x.map((x, i) => {
      const r = data.find((d) => d[e.series] === s && d[e.x] === x);
      const v = r ? num(r[e.value]) : null;
      return v === null ? null : { x: sx(i), y: sy(v), r: r! };
    });
    // Gaps where a period has too few: the line breaks rather than bridging.
    let d = '';
    let pen = false;
    for (const p of pts) {
      if (!p) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${p.x.toFixed(1)},${p.y.toFixed(1)} `;
      pen = true;
    }
    if (d)
      parts.push(
        `<path d="${d.trim()}" fill="none" stroke="${colour}" stroke-width="2" ${DASHES[si % DASHES.length] ? `stroke-dasharray="${DASHES[si % DASHES.length]}"` : ''}/>`,
      );
    for (const p of pts) {
      if (!p) continue;
      const lo = e.lower ? num(p.r[e.lower]) : null,
        hi = e.upper ? num(p.r[e.upper]) : null;
      if (lo !== null && hi !== null)
        parts.push(
          `<line x1="${p.x.toFixed(1)}" y1="${sy(lo).toFixed(1)}" x2="${p.x.toFixed(1)}" y2="${sy(hi).toFixed(1)}" stroke="${colour}" stroke-width="1"/>`,
        );
      parts.push(markerShape(si, p.x, p.y, colour));
    }
  });
  let lx = left;
  const ly = top + plotH + 40;
  spec.series.forEach((s, si) => {
    const colour = COLOURS[si % COLOURS.length];
    parts.push(
      `<line x1="${lx}" y1="${ly - 4}" x2="${lx + 26}" y2="${ly - 4}" stroke="${colour}" stroke-width="2" ${DASHES[si % DASHES.length] ? `stroke-dasharray="${DASHES[si % DASHES.length]}"` : ''}/>`,
    );
    parts.push(markerShape(si, lx + 13, ly - 4, colour));
    parts.push(text(lx + 32, ly, s, { size: 10 }));
    lx += textWidth(s, 10) + 50;
  });
  if (spec.target) {
    parts.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 22}" y2="${ly - 4}" stroke="#000" stroke-width="1.3" stroke-dasharray="6 3"/>`);
    parts.push(text(lx + 28, ly, spec.target.label, { size: 10 }));
  }
  const missing = spec.series.some((s) =>
    spec.x.some((x) => {
      const r = data.find((d) => d[e.series] === s && d[e.x] === x);
      return !r || num(r[e.value]) === null;
    }),
  );
  const note = missing
    ? {
        ...spec,
        note: [
          spec.note,
          `${w.tooFew} / ${w.notComputable.toLowerCase()}: ${spec.lang === 'nb' ? 'ikke vist (linjen brytes)' : 'not shown (the line breaks)'}.`,
        ]
          .filter(Boolean)
          .join(' '),
      }
    : spec;
  const f = footer(note, ly + 4);
  return header(spec, ly + 14 + f.height, parts.join('') + f.svg);
}

function bars(spec: BarsSpec, data: Row[]): string {
  const e = spec.encoding;
  const groups = spec.groups.length ? spec.groups : [{ key: '', label: '' }];
  const top = titleHeight(spec) + 16,
    plotH = 280,
    left = 70,
    right = W - 20;
  const valueOf = (c: string, g: string) => {
    const r = data.find((d) => String(d[e.x]) === c && (!e.group || String(d[e.group]) === g));
    if (!r || (e.suppressed && r[e.suppressed] === true)) return null;
    return num(r[e.value]);
  };
  const all = spec.categories.flatMap((c) => groups.map((g) => valueOf(c, g.key))).filter((v): v is number => v !== null);
  const yMax = niceMax(Math.max(1, ...all));
  const sy = (v: number) => top + plotH - (v / yMax) * plotH;
  const n = Math.max(1, spec.categories.length);
  const slot = (right - left) / n;
  const gap = spec.kind === 'histogram' ? 0 : Math.min(10, slot * 0.2);
  const bw = (slot - gap) / groups.length;
  const parts: string[] = [];
  for (let k = 0; k <= 5; k++) {
    const v = (yMax * k) / 5;
    parts.push(`<line x1="${left}" y1="${sy(v).toFixed(1)}" x2="${right}" y2="${sy(v).toFixed(1)}" stroke="#e3e3e3"/>`);
    parts.push(
      text(left - 6, sy(v) + 4, fmtNum(v, spec.lang, spec.yFormat === 'decimal' && yMax < 10 ? 1 : 0), {
        size: 10,
        anchor: 'end',
        fill: '#555',
      }),
    );
  }
  const rotate = spec.categories.some((c) => textWidth(c, 10) > slot - 2);
  spec.categories.forEach((c, ci) => {
    const x = left + ci * slot + gap / 2;
    groups.forEach((g, gi) => {
      const v = valueOf(c, g.key);
      if (v === null) return;
      parts.push(
        `<rect x="${(x + gi * bw).toFixed(1)}" y="${sy(v).toFixed(1)}" width="${Math.max(0.5, bw - (spec.kind === 'histogram' ? 0.5 : 1)).toFixed(1)}" height="${(top + plotH - sy(v)).toFixed(1)}" fill="url(#g${gi})" stroke="#fff" stroke-width="0.3"><title>${esc(`${c}${g.label ? `, ${g.label}` : ''}: ${fmtNum(v, spec.lang, spec.yFormat === 'decimal' ? 1 : 0)}`)}</title></rect>`,
      );
    });
    const cx = left + ci * slot + slot / 2;
    parts.push(
      rotate
        ? text(cx + 3, top + plotH + 10, c, { size: 10, anchor: 'end', rotate: -45 })
        : text(cx, top + plotH + 14, c, { size: 10, anchor: 'middle' }),
    );
  });
  parts.push(`<line x1="${left}" y1="${top + plotH}" x2="${right}" y2="${top + plotH}" stroke="#444"/>`);
  const axisY = top + plotH + (rotate ? 44 : 32);
  parts.push(text((left + right) / 2, axisY, spec.xLabel, { size: 11, anchor: 'middle' }));
  parts.push(text(18, top + plotH / 2, spec.yLabel, { size: 11, anchor: 'middle', rotate: -90 }));
  let ly = axisY + 22;
  if (spec.groups.length > 1) {
    let lx = left;
    spec.groups.forEach((g, gi) => {
      parts.push(`<rect x="${lx}" y="${ly - 10}" width="14" height="12" fill="url(#g${gi})" stroke="#222" stroke-width="0.5"/>`);
      parts.push(text(lx + 20, ly, g.label, { size: 10 }));
      lx += textWidth(g.label, 10) + 44;
    });
  } else ly -= 14;
  const f = footer(spec, ly + 4);
  return header(spec, ly + 14 + f.height, parts.join('') + f.svg, patternDefs(groups.length));
}

/** The figure as an SVG document. */
export function renderSvg(fig: Figure): string {
  const { spec, data } = fig;
  switch (spec.kind) {
    case 'unit-bars':
      return unitBars(spec, data);
    case 'lines':
      return lines(spec, data);
    case 'grouped-bars':
    case 'histogram':
      return bars(spec, data);
  }
}

const require = createRequire(import.meta.url);
const FONT_DIR = path.join(path.dirname(require.resolve('dejavu-fonts-ttf/package.json')), 'ttf');
/** The fonts every rendering uses, shipped as an npm package so PNG and PDF look the same on any machine. */
export const FONTS = { regular: path.join(FONT_DIR, 'DejaVuSans.ttf'), bold: path.join(FONT_DIR, 'DejaVuSans-Bold.ttf') };

/** PNG from the SVG (twice the size, for sharp text). */
export function svgToPng(svg: string, scale = 2): Buffer {
  const r = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    font: { loadSystemFonts: false, fontFiles: [FONTS.regular, FONTS.bold], defaultFontFamily: FONT },
    background: '#ffffff',
  });
  return Buffer.from(r.render().asPng());
}

/** Draws an SVG into a PDF document at (x, y), `width` points wide; returns the height used. */
export function drawSvg(doc: PDFKit.PDFDocument, svg: string, x: number, y: number, width: number): number {
  const m = /viewBox="0 0 ([\d.]+) ([\d.]+)"/.exec(svg);
  const [vw, vh] = m ? [Number(m[1]), Number(m[2])] : [W, 400];
  const height = (width * vh) / vw;
  SVGtoPDF(doc, svg, x, y, {
    width,
    height,
    assumePt: true,
    preserveAspectRatio: 'xMinYMin meet',
    fontCallback: (_family: string, bold: boolean) => (bold ? 'bold' : 'regular'),
  });
  return height;
}

/** A PDF document with the project's fonts registered as "regular" and "bold". */
export function newPdf(info: { title: string; author?: string }, opts: { margin?: number } = {}): PDFKit.PDFDocument {
  const doc = new PDFDocument({
    size: 'A4',
    margin: opts.margin ?? 50,
    bufferPages: true,
    info: { Title: info.title, Author: info.author ?? 'kvalreg' },
    lang: 'nb-NO',
    displayTitle: true,
  } as PDFKit.PDFDocumentOptions);
  doc.registerFont('regular', FONTS.regular);
  doc.registerFont('bold', FONTS.bold);
  doc.font('regular');
  return doc;
}

export function pdfBuffer(doc: PDFKit.PDFDocument): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    doc.on('data', (c: Buffer) => chunks.push(c));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
    doc.end();
  });
}

/** One figure on one page, with its title and description as text (searchable, readable). */
export async function svgToPdf(fig: Figure, svg = renderSvg(fig)): Promise<Buffer> {
  const doc = newPdf({ title: fig.spec.title });
  const width = doc.page.width - 100;
  drawSvg(doc, svg, 50, 50, width);
  return pdfBuffer(doc);
}

// A small document writer over pdfkit for reports: headings with numbers, paragraphs, the
// registry's Markdown prose (headings, paragraphs, bullet lists), tables that break across pages,
// and figures drawn from the same SVG the API serves.
import type { Column, Figure, Row } from './charts.ts';
import { drawSvg, newPdf, pdfBuffer, renderSvg } from './charts.ts';

const MARGIN = 50;

export class ReportWriter {
  readonly doc: PDFKit.PDFDocument;
  private readonly width: number;
  /** Figures drawn so far: the next one's number. */
  private figures = 0;

  constructor(title: string, author: string, private readonly lang: 'nb' | 'en' = 'nb') {
    this.doc = newPdf({ title, author }, { margin: MARGIN });
    this.width = this.doc.page.width - 2 * MARGIN;
  }

  private ensure(space: number): void {
    if (this.doc.y + space > this.doc.page.height - MARGIN) this.doc.addPage();
  }

  titlePage(title: string, subtitle: string, lines: string[]): void {
    this.doc.font('bold').fontSize(26).text(title, MARGIN, 200, { width: this.width });
    this.doc.moveDown(0.5).font('regular').fontSize(16).text(subtitle, { width: this.width });
    this.doc.moveDown(2).fontSize(10).fillColor('#444');
    for (const l of lines) this.doc.text(l, { width: this.width });
    this.doc.fillColor('#000');
  }

  newPage(): void { this.doc.addPage(); }

  heading(text: string, level: 1 | 2 | 3 = 1): void {
    const size = level === 1 ? 17 : level === 2 ? 13.5 : 11.5;
    this.ensure(size * 4);
    this.doc.moveDown(level === 1 ? 0.8 : 0.6).font('bold').fontSize(size).text(text, MARGIN, undefined, { width: this.width });
    this.doc.moveDown(0.3).font('regular').fontSize(10);
  }

  paragraph(text: string, opts: { italic?: boolean; size?: number } = {}): void {
    this.doc.font('regular').fontSize(opts.size ?? 10).fillColor(opts.italic ? '#444' : '#000').text(text, MARGIN, undefined, { width: this.width, align: 'left' });
    this.doc.fillColor('#000').moveDown(0.5);
  }

  /** A label and its value, as in the source report's definition tables. */
  field(label: string, value: string): void {
    this.doc.font('regular').fontSize(10);
    const h = Math.max(this.doc.heightOfString(value, { width: this.width - 140 }), this.doc.font('bold').heightOfString(label, { width: 130 }));
    // Label and value stay on one page (a value longer than a page is the only exception).
    this.ensure(Math.min(h + 4, this.doc.page.height - 2 * MARGIN - 20));
    const y = this.doc.y;
    this.doc.font('bold').fontSize(10).text(label, MARGIN, y, { width: 130 });
    const after = this.doc.y;
    this.doc.font('regular').text(value, MARGIN + 140, y, { width: this.width - 140 });
    this.doc.y = Math.max(after, this.doc.y) + 4;
    this.doc.x = MARGIN;
  }

  /** The registry's prose: `#`/`##` headings (numbered by the caller's section), paragraphs and `-` bullets. */
  markdown(md: string, headingLevel: 2 | 3 = 2): void {
    const blocks = md.replace(/\r/g, '').split(/\n\s*\n/);
    for (const block of blocks) {
      const b = block.trim();
      if (!b) continue;
      const h = /^(#{1,3})\s+(.*)$/.exec(b);
      if (h && !b.includes('\n')) { this.heading(h[2], h[1].length === 1 ? headingLevel : 3); continue; }
      const lines = b.split('\n');
      if (lines.every((l) => /^\s*[-*]\s+/.test(l) || /^\s{2,}\S/.test(l))) {
        const items: string[] = [];
        for (const l of lines) if (/^\s*[-*]\s+/.test(l)) items.push(l.replace(/^\s*[-*]\s+/, '')); else items[items.length - 1] += ` ${l.trim()}`;
        this.doc.font('regular').fontSize(10).list(items.map(stripInline), MARGIN + 10, undefined, { width: this.width - 10, bulletRadius: 1.8, textIndent: 10 });
        this.doc.x = MARGIN;
        this.doc.moveDown(0.5);
        continue;
      }
      this.paragraph(stripInline(lines.join(' ')));
    }
  }

  table(columns: Column[], rows: Row[], opts: { widths?: number[]; format?: (c: Column, v: Row[string], row: Row) => string } = {}): void {
    const widths = opts.widths ?? columns.map(() => this.width / columns.length);
    const fmt = opts.format ?? defaultFormat;
    const drawRow = (cells: string[], bold: boolean) => {
      this.doc.font(bold ? 'bold' : 'regular').fontSize(8.5);
      const h = Math.max(...cells.map((c, i) => this.doc.heightOfString(c, { width: widths[i] - 6 }))) + 6;
      if (this.doc.y + h > this.doc.page.height - MARGIN) { this.doc.addPage(); if (!bold) drawRow(columns.map((c) => c.label), true); }
      const y = this.doc.y;
      let x = MARGIN;
      if (bold) this.doc.rect(MARGIN, y, widths.reduce((a, b) => a + b, 0), h).fill('#e8eef4').fillColor('#000');
      cells.forEach((c, i) => {
        this.doc.font(bold ? 'bold' : 'regular').fontSize(8.5).text(c, x + 3, y + 3, { width: widths[i] - 6 });
        x += widths[i];
      });
      this.doc.moveTo(MARGIN, y + h).lineTo(MARGIN + widths.reduce((a, b) => a + b, 0), y + h).lineWidth(0.3).strokeColor('#bbb').stroke();
      this.doc.y = y + h;
    };
    this.ensure(40);
    drawRow(columns.map((c) => c.label), true);
    for (const r of rows) drawRow(columns.map((c) => fmt(c, r[c.key], r)), false);
    this.doc.x = MARGIN;
    this.doc.moveDown(0.8);
  }

  figure(fig: Figure, caption?: string): void {
    const svg = renderSvg(fig);
    const m = /viewBox="0 0 ([\d.]+) ([\d.]+)"/.exec(svg);
    const h = m ? (this.width * Number(m[2])) / Number(m[1]) : 300;
    this.ensure(Math.min(h, this.doc.page.height - 2 * MARGIN) + 30);
    const used = drawSvg(this.doc, svg, MARGIN, this.doc.y, this.width);
    this.doc.y += used + 4;
    this.doc.x = MARGIN;
    // Numbered as the national report template numbers them ("Figur 3: …"), so the text can refer to them.
    this.figures += 1;
    this.paragraph(`${this.lang === 'en' ? 'Figure' : 'Figur'} ${this.figures}${caption ? `: ${caption}` : ''}`, { italic: true, size: 9 });
  }

  async finish(footer: string): Promise<Buffer> {
    const range = this.doc.bufferedPageRange();
    for (let i = range.start; i < range.start + range.count; i++) {
      this.doc.switchToPage(i);
      // The footer sits in the bottom margin: without this pdfkit would start a new page for it.
      this.doc.page.margins.bottom = 0;
      this.doc.font('regular').fontSize(8).fillColor('#666')
        .text(`${footer} – ${i + 1} / ${range.count}`, MARGIN, this.doc.page.height - 35, { width: this.width, align: 'center', lineBreak: false });
    }
    return pdfBuffer(this.doc);
  }
}

function stripInline(s: string): string { return s.replace(/\*\*(.+?)\*\*/g, '$1').replace(/\*(.+?)\*/g, '$1').replace(/`(.+?)`/g, '$1').replace(/\[(.+?)\]\((.+?)\)/g, '$1 ($2)'); }

export function defaultFormat(c: Column, v: Row[string]): string {
  if (v === null || v === undefined) return '–';
  if (c.format === 'percent' && typeof v === 'number') return `${(v * 100).toFixed(1).replace('.', ',')} %`;
  if (c.format === 'decimal' && typeof v === 'number') return v.toFixed(1).replace('.', ',');
  if (typeof v === 'boolean') return v ? 'ja' : 'nei';
  return String(v);
}

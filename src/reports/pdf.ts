// A small document writer over pdfkit for reports: headings with numbers, paragraphs, the
// registry's Markdown prose (parsed by marked: headings, paragraphs, lists, tables), tables that break across pages,
// and figures drawn from the same SVG the API serves.
import { marked, type Token, type Tokens } from 'marked';
import type { Column, Figure, Lang, Row } from './charts.ts';
import { drawSvg, newPdf, pdfBuffer, renderSvg } from './charts.ts';

const MARGIN = 50;

export class ReportWriter {
  readonly doc: PDFKit.PDFDocument;
  private readonly width: number;
  /** Figures drawn so far: the next one's number. */
  private figures = 0;

  constructor(
    title: string,
    author: string,
    private readonly lang: 'nb' | 'en' = 'nb',
  ) {
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

  newPage(): void {
    this.doc.addPage();
  }

  heading(text: string, level: 1 | 2 | 3 = 1): void {
    const size = level === 1 ? 17 : level === 2 ? 13.5 : 11.5;
    this.ensure(size * 4);
    this.doc
      .moveDown(level === 1 ? 0.8 : 0.6)
      .font('bold')
      .fontSize(size)
      .text(text, MARGIN, undefined, { width: this.width });
    this.doc.moveDown(0.3).font('regular').fontSize(10);
  }

  paragraph(text: string, opts: { italic?: boolean; size?: number } = {}): void {
    this.doc
      .font('regular')
      .fontSize(opts.size ?? 10)
      .fillColor(opts.italic ? '#444' : '#000')
      .text(text, MARGIN, undefined, { width: this.width, align: 'left' });
    this.doc.fillColor('#000').moveDown(0.5);
  }

  /** A label and its value, as in the source report's definition tables. */
  field(label: string, value: string): void {
    this.doc.font('regular').fontSize(10);
    const h = Math.max(
      this.doc.heightOfString(value, { width: this.width - 140 }),
      this.doc.font('bold').heightOfString(label, { width: 130 }),
    );
    // Label and value stay on one page (a value longer than a page is the only exception).
    this.ensure(Math.min(h + 4, this.doc.page.height - 2 * MARGIN - 20));
    const y = this.doc.y;
    this.doc.font('bold').fontSize(10).text(label, MARGIN, y, { width: 130 });
    const after = this.doc.y;
    this.doc.font('regular').text(value, MARGIN + 140, y, { width: this.width - 140 });
    this.doc.y = Math.max(after, this.doc.y) + 4;
    this.doc.x = MARGIN;
  }

  /**
   * The registry's prose, parsed by a Markdown library (marked) into blocks: `#` headings become
   * headings at the caller's section level (`##` and deeper one level below), paragraphs, bullet and
   * numbered lists (nested items indented), tables, quotes and code as text. Inline emphasis is
   * dropped (the report uses one face per block); links keep their address in brackets.
   */
  markdown(md: string, headingLevel: 2 | 3 = 2): void {
    for (const token of marked.lexer(md.replace(/\r/g, ''))) this.block(token, headingLevel);
  }

  private block(token: Token, headingLevel: 2 | 3): void {
    switch (token.type) {
      case 'heading':
        this.heading(inlineText((token as Tokens.Heading).tokens), token.depth === 1 ? headingLevel : 3);
        return;
      case 'paragraph':
        this.paragraph(inlineText((token as Tokens.Paragraph).tokens));
        return;
      case 'text':
        this.paragraph(inlineText((token as Tokens.Text).tokens ?? [token]));
        return;
      case 'list': {
        const list = token as Tokens.List;
        this.doc
          .font('regular')
          .fontSize(10)
          .list(listItems(list), MARGIN + 10, undefined, {
            width: this.width - 10,
            bulletRadius: 1.8,
            textIndent: 10,
            listType: list.ordered ? 'numbered' : 'bullet',
          } as PDFKit.Mixins.TextOptions);
        this.doc.x = MARGIN;
        this.doc.moveDown(0.5);
        return;
      }
      case 'table': {
        const t = token as Tokens.Table;
        const columns: Column[] = t.header.map((h, i) => ({ key: String(i), label: inlineText(h.tokens), format: 'text' }));
        this.table(
          columns,
          t.rows.map((r) => Object.fromEntries(r.map((c, i) => [String(i), inlineText(c.tokens)]))),
        );
        return;
      }
      case 'blockquote':
        for (const t of (token as Tokens.Blockquote).tokens)
          if (t.type === 'paragraph') this.paragraph(inlineText((t as Tokens.Paragraph).tokens), { italic: true });
        return;
      case 'code':
        this.paragraph((token as Tokens.Code).text, { size: 9 });
        return;
      case 'hr':
        this.doc.moveDown(0.5);
        return;
      default:
        return; // space, raw HTML: nothing to print
    }
  }

  table(
    columns: Column[],
    rows: Row[],
    opts: {
      widths?: number[];
      format?: (c: Column, v: Row[string], row: Row) => string;
      /** Rows printed in grey (e.g. a result whose unit's coverage is low). */
      muted?: (row: Row) => boolean;
    } = {},
  ): void {
    const widths = opts.widths ?? columns.map(() => this.width / columns.length);
    const fmt = opts.format ?? ((c: Column, v: Row[string]) => defaultFormat(c, v, this.lang));
    const drawRow = (cells: string[], bold: boolean, muted = false) => {
      this.doc.font(bold ? 'bold' : 'regular').fontSize(8.5);
      const h = Math.max(...cells.map((c, i) => this.doc.heightOfString(c, { width: widths[i] - 6 }))) + 6;
      if (this.doc.y + h > this.doc.page.height - MARGIN) {
        this.doc.addPage();
        if (!bold)
          drawRow(
            columns.map((c) => c.label),
            true,
          );
      }
      const y = this.doc.y;
      let x = MARGIN;
      if (bold)
        this.doc
          .rect(
            MARGIN,
            y,
            widths.reduce((a, b) => a + b, 0),
            h,
          )
          .fill('#e8eef4')
          .fillColor('#000');
      cells.forEach((c, i) => {
        this.doc
          .fillColor(muted ? '#777' : '#000')
          .font(bold ? 'bold' : 'regular')
          .fontSize(8.5)
          .text(c, x + 3, y + 3, { width: widths[i] - 6 });
        x += widths[i];
      });
      this.doc
        .fillColor('#000')
        .moveTo(MARGIN, y + h)
        .lineTo(MARGIN + widths.reduce((a, b) => a + b, 0), y + h)
        .lineWidth(0.3)
        .strokeColor('#bbb')
        .stroke();
      this.doc.y = y + h;
    };
    this.ensure(40);
    drawRow(
      columns.map((c) => c.label),
      true,
    );
    for (const r of rows)
      drawRow(
        columns.map((c) => fmt(c, r[c.key], r)),
        false,
        opts.muted?.(r) ?? false,
      );
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
      this.doc
        .font('regular')
        .fontSize(8)
        .fillColor('#666')
        .text(`${footer} – ${i + 1} / ${range.count}`, MARGIN, this.doc.page.height - 35, {
          width: this.width,
          align: 'center',
          lineBreak: false,
        });
    }
    return pdfBuffer(this.doc);
  }
}

/** Inline Markdown as plain text: emphasis and code lose their marks, a link keeps its address. */
function inlineText(tokens: Token[]): string {
  return tokens
    .map((t): string => {
      if (t.type === 'link') {
        const text = inlineText((t as Tokens.Link).tokens);
        return text === t.href ? text : `${text} (${t.href})`;
      }
      if (t.type === 'br') return ' ';
      if (t.type === 'html') return '';
      if ('tokens' in t && Array.isArray(t.tokens)) return inlineText(t.tokens);
      return 'text' in t ? String(t.text) : '';
    })
    .join('')
    .replace(/\s*\n\s*/g, ' ');
}

/** A list's items as lines, nested lists' items after their parent with a dash. */
function listItems(list: Tokens.List, depth = 0): string[] {
  return list.items.flatMap((item) => {
    const own = inlineText(
      item.tokens.filter((t) => t.type !== 'list').flatMap((t) => ('tokens' in t && Array.isArray(t.tokens) ? t.tokens : [t])),
    );
    const nested = item.tokens.filter((t): t is Tokens.List => t.type === 'list').flatMap((l) => listItems(l, depth + 1));
    return [`${depth ? '– ' : ''}${own}`, ...nested];
  });
}

/** Numbers as the report's language writes them: 80,5 % in Norwegian, 80.5 % in English. */
export function formatDecimal(v: number, lang: Lang, decimals = 1): string {
  const s = v.toFixed(decimals);
  return lang === 'nb' ? s.replace('.', ',') : s;
}
export const formatPercent = (share: number, lang: Lang): string => `${formatDecimal(share * 100, lang)} %`;

export function defaultFormat(c: Column, v: Row[string], lang: Lang = 'nb'): string {
  if (v === null || v === undefined) return '–';
  if (c.format === 'percent' && typeof v === 'number') return formatPercent(v, lang);
  if (c.format === 'decimal' && typeof v === 'number') return formatDecimal(v, lang);
  if (typeof v === 'boolean') return lang === 'en' ? (v ? 'yes' : 'no') : v ? 'ja' : 'nei';
  return String(v);
}

// The report writer's language and prose, read back from the PDF it writes (unpdf): English
// reports write numbers and yes/no in English, and the registry's Markdown is parsed as Markdown
// (a heading directly followed by its text is a heading, not a paragraph starting with "#").
import { extractText } from 'unpdf';
import { describe, expect, it } from 'vitest';
import { defaultFormat, ReportWriter } from '../src/reports/pdf.ts';

async function textOf(w: ReportWriter): Promise<string> {
  const { text } = await extractText(new Uint8Array(await w.finish('footer')), { mergePages: true });
  return (text as string).replace(/\s+/g, ' ');
}

describe('English reports', () => {
  it('format shares and decimals in English and translate yes/no', async () => {
    expect(defaultFormat({ key: 'p', label: 'p', format: 'percent' }, 0.805, 'en')).toBe('80.5 %');
    expect(defaultFormat({ key: 'p', label: 'p', format: 'percent' }, 0.805, 'nb')).toBe('80,5 %');
    expect(defaultFormat({ key: 'd', label: 'd', format: 'decimal' }, 2.25, 'en')).toBe('2.3');
    expect(defaultFormat({ key: 'b', label: 'b' }, true, 'en')).toBe('yes');
    expect(defaultFormat({ key: 'b', label: 'b' }, false, 'en')).toBe('no');
    expect(defaultFormat({ key: 'b', label: 'b' }, true, 'nb')).toBe('ja');

    const w = new ReportWriter('Test', 'kvalreg', 'en');
    w.table(
      [
        { key: 'unit', label: 'Unit' },
        { key: 'share', label: 'Share', format: 'percent' },
        { key: 'met', label: 'Target met' },
      ],
      [
        { unit: 'Stavanger', share: 0.805, met: true },
        { unit: 'Kalnes', share: 0.612, met: false },
      ],
    );
    const text = await textOf(w);
    expect(text).toContain('80.5 %');
    expect(text).toContain('61.2 %');
    expect(text).not.toMatch(/\d,\d/);
    expect(text).toMatch(/\byes\b/);
    expect(text).toMatch(/\bno\b/);
    expect(text).not.toMatch(/\b(ja|nei)\b/);
  });
});

describe("the registry's Markdown", () => {
  it('renders headings, including a heading with its text on the next line, lists and emphasis without their marks', async () => {
    const w = new ReportWriter('Test', 'kvalreg', 'nb');
    w.markdown(
      [
        '# Om registeret',
        'Registeret samler data om brudd.',
        '',
        '## Dekningsgrad',
        'Dekningsgraden er **høy**, se [rapporten](https://example.no/r).',
        '',
        '1. første',
        '2. andre',
        '   - under',
        '',
        '| Enhet | Andel |',
        '|---|---|',
        '| SUS | 90 % |',
      ].join('\n'),
    );
    const text = await textOf(w);
    expect(text).not.toContain('#');
    expect(text).not.toContain('**');
    expect(text).not.toContain('|');
    for (const s of [
      'Om registeret',
      'Registeret samler data om brudd.',
      'Dekningsgrad',
      'Dekningsgraden er høy, se rapporten (https://example.no/r).',
      'første',
      'andre',
      'under',
      'SUS',
      '90 %',
    ])
      expect(text).toContain(s);
    // Headings are set in bold type, paragraphs in regular: the heading is its own line of the bold font.
    const pdf = await (() => {
      const v = new ReportWriter('T', 'k', 'nb');
      v.markdown('# Overskrift\nTekst rett under.');
      return v.finish('f');
    })();
    const { text: pages } = await extractText(new Uint8Array(pdf), { mergePages: false });
    const lines = (pages as string[])[0].split('\n').map((l) => l.trim());
    expect(lines).toContain('Overskrift');
    expect(lines).toContain('Tekst rett under.');
  });
});

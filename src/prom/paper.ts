// The paper form: for a patient no digital channel reaches (or who prefers paper). One printable
// PDF per invitation with the hospital, the purpose, the one-time code (which also lets a proxy
// answer on the web), and every instrument it asks with boxes to tick. A registrar enters the
// answers that come back (provenance "paper"); they are scored and shared like any other.
import { newPdf, pdfBuffer } from '../reports/charts.ts';
import type { Instrument } from './instruments.ts';
import { walkItems } from './instruments.ts';

export interface PaperForm {
  invitationId: number;
  hospital: string;
  purpose: string;
  code: string;
  link: string;
  deadline: string | null;
  instruments: Array<{ instrument: Instrument; recall: 'current' | 'pre-injury' }>;
}

const MARGIN = 50;

export async function paperPdf(form: PaperForm): Promise<Buffer> {
  const doc = newPdf({ title: `Spørreskjema ${form.invitationId}`, author: form.hospital }, { margin: MARGIN });
  const width = doc.page.width - 2 * MARGIN;
  const ensure = (h: number) => {
    if (doc.y + h > doc.page.height - MARGIN) doc.addPage();
  };
  doc.font('bold').fontSize(18).text(`Spørsmål fra ${form.hospital}`, { width });
  doc
    .moveDown(0.5)
    .font('regular')
    .fontSize(11)
    .text(`${form.hospital} ber deg svare på noen spørsmål om helsen din. ${form.purpose}`, { width });
  doc
    .moveDown(0.5)
    .text(`Du kan også svare på nett: ${form.link} — logg inn, eller bruk koden nedenfor hvis noen svarer for deg.`, { width });
  doc.moveDown(0.5).font('bold').fontSize(14).text(`Kode: ${form.code}`);
  if (form.deadline)
    doc
      .font('regular')
      .fontSize(11)
      .text(
        `Svar innen ${new Intl.DateTimeFormat('nb-NO', { dateStyle: 'long', timeZone: 'Europe/Oslo' }).format(new Date(form.deadline))}.`,
      );
  doc
    .moveDown(0.3)
    .fontSize(9)
    .fillColor('#444')
    .text(`Skjema ${form.invitationId}. Send svarene i vedlagte svarkonvolutt. Det er frivillig å svare.`, { width })
    .fillColor('#000');
  for (const { instrument, recall } of form.instruments) {
    ensure(80);
    doc
      .moveDown(1)
      .font('bold')
      .fontSize(13)
      .text(instrument.questionnaire.title ?? instrument.def.title.nb, { width });
    if (recall === 'pre-injury') doc.font('regular').fontSize(10).text('Svar slik du hadde det før skaden.', { width });
    walkItems(instrument.questionnaire.item, (item) => {
      if (item.type === 'group') {
        ensure(40);
        doc
          .moveDown(0.5)
          .font('bold')
          .fontSize(10)
          .text(item.text ?? '', { width });
        return;
      }
      if (item.type === 'display') return;
      ensure(50);
      doc
        .moveDown(0.4)
        .font('regular')
        .fontSize(10)
        .text(`${item.linkId}. ${item.text ?? ''}`, { width });
      const options: string[] =
        item.answerOption?.map((o: any) => o.valueCoding?.display ?? String(o.valueInteger ?? o.valueString)) ??
        (item.type === 'boolean' ? ['Ja', 'Nei'] : item.type === 'integer' ? [] : []);
      if (options.length) {
        const line = options.map((o) => `☐ ${o}`).join('    ');
        doc.fontSize(9).text(line, MARGIN + 12, undefined, { width: width - 12 });
      } else if (item.type === 'integer') {
        const min = item.extension?.find((e: any) => e.url.endsWith('minValue'))?.valueInteger ?? 0;
        const max = item.extension?.find((e: any) => e.url.endsWith('maxValue'))?.valueInteger ?? 10;
        const line =
          max - min <= 10 ? Array.from({ length: max - min + 1 }, (_, i) => `☐ ${min + i}`).join('  ') : `Tall (${min}–${max}): ________`;
        doc.fontSize(9).text(line, MARGIN + 12, undefined, { width: width - 12 });
      } else {
        doc.fontSize(9).text('_______________________________________________', MARGIN + 12, undefined, { width: width - 12 });
      }
      doc.x = MARGIN;
    });
  }
  return pdfBuffer(doc);
}

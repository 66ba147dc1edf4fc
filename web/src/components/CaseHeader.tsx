// Who and what a case is about, at the top of the case page and on every worklist row: the patient
// (initials and a masked identity number until the registrar asks to see them — the reveal is
// audited), age and sex, the sending system with its own record and encounter numbers (to find the
// chart), the event id, and the values the registry declares as telling its cases apart.
import { Button, Paragraph } from '@digdir/designsystemet-react';
import { useState } from 'react';
import { api } from '../api.ts';
import { dateShort } from '../dates.ts';
import type { Text } from '../data.tsx';
import { errorText, fill } from '../errors.ts';
import { useI18n, type Lang } from '../i18n.tsx';

export interface HeaderValue {
  variable: string;
  label: Text;
  value: unknown;
  display: Text | null;
}
export interface CaseHeaderView {
  caseId: number;
  personId: number;
  unit: string | null;
  person: {
    initials: string | null;
    ninMasked: string;
    kind: string;
    birthDate: string | null;
    sex: string | null;
    age: number | null;
    deceasedDate: string | null;
  };
  values: HeaderValue[];
  event: { label: Text; id: string | null } | null;
  source: { manual: boolean; sender: string | null; senderName: string | null; record: string | null; encounter: string | null };
}

/** A header value in words: a date as a date, a code with its words, a number as a number. */
export function valueText(v: HeaderValue, lang: Lang): string {
  if (v.value === null || v.value === undefined || v.value === '') return '–';
  if (typeof v.value === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v.value)) return dateShort(v.value, lang);
  if (typeof v.value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(v.value)) return dateShort(v.value, lang, true);
  if (typeof v.value === 'number') return v.value.toLocaleString(lang === 'nb' ? 'nb-NO' : 'en-GB', { maximumFractionDigits: 3 });
  if (typeof v.value === 'boolean') return v.value ? (lang === 'nb' ? 'ja' : 'yes') : lang === 'nb' ? 'nei' : 'no';
  // A classification's code is what the registrar looks up ("2R3A2.1"), so it stays beside its
  // words; the platform's own codes ("left", "fall_high") are only ids: the words alone.
  if (v.display && typeof v.value === 'string' && /^[a-z][a-z0-9_]*$/.test(v.value)) return v.display[lang];
  return v.display ? `${String(v.value)} ${v.display[lang]}` : String(v.value);
}

/** "P. H., 140251*****, 73 år, kvinne". */
export function personText(p: CaseHeaderView['person'], t: (k: any) => string, shown?: { name: string | null; nin: string }): string {
  const sex = p.sex === 'female' ? t('person.female') : p.sex === 'male' ? t('person.male') : null;
  return [shown?.name ?? p.initials, shown?.nin ?? p.ninMasked, p.age !== null ? fill(t('header.age'), { age: p.age }) : null, sex]
    .filter(Boolean)
    .join(', ');
}

export function sourceText(h: CaseHeaderView, t: (k: any) => string): string {
  if (h.source.manual) return t('header.manual');
  const parts = [h.source.senderName ?? h.source.sender ?? t('header.someSystem')];
  if (h.source.record) parts.push(fill(t('header.record'), { id: h.source.record }));
  if (h.source.encounter) parts.push(fill(t('header.encounter'), { id: h.source.encounter }));
  return parts.join(', ');
}

export function CaseHeader({ registry, header, unitName }: { registry: string; header: CaseHeaderView; unitName: string | null }) {
  const { t, tryT, lang } = useI18n();
  const [shown, setShown] = useState<{ name: string | null; nin: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const reveal = async () => {
    setError(null);
    try {
      setShown(
        await api<{ name: string | null; nin: string }>(`/api/registries/${registry}/cases/${header.caseId}/identity`, { method: 'POST' }),
      );
    } catch (err) {
      setError(errorText(err, tryT));
    }
  };
  return (
    <section className="case-header" aria-labelledby="case-header-title" data-testid="case-header">
      <h2 id="case-header-title" className="visually-hidden">
        {t('header.title')}
      </h2>
      <p className="case-header__person">
        <strong data-testid="case-person">{personText(header.person, t, shown ?? undefined)}</strong>
        {header.person.deceasedDate && <> · {fill(t('header.deceased'), { date: dateShort(header.person.deceasedDate, lang) })}</>}{' '}
        {!shown ? (
          <Button data-size="sm" variant="tertiary" onClick={() => void reveal()}>
            {t('header.reveal')}
          </Button>
        ) : (
          <span className="case-header__note">{t('header.revealed')}</span>
        )}
      </p>
      {error && (
        <Paragraph data-size="sm" role="alert">
          {error}
        </Paragraph>
      )}
      <dl className="case-header__values">
        {header.event && (
          <div className="case-header__value">
            <dt>{header.event.label[lang]}</dt>
            <dd data-testid="case-event">{header.event.id ?? '–'}</dd>
          </div>
        )}
        {header.values.map((v) => (
          <div key={v.variable} className="case-header__value">
            <dt>{v.label[lang]}</dt>
            <dd data-header={v.variable}>{valueText(v, lang)}</dd>
          </div>
        ))}
        {unitName && (
          <div className="case-header__value">
            <dt>{t('ind.unit')}</dt>
            <dd>{unitName}</dd>
          </div>
        )}
        <div className="case-header__value">
          <dt>{t('header.source')}</dt>
          <dd data-testid="case-source">{sourceText(header, t)}</dd>
        </div>
      </dl>
    </section>
  );
}

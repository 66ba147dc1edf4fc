// Renders a FHIR R4 Questionnaire (the shared instruments' own files, as the server sends them)
// with Designsystemet's components: a group is a section with its heading, a choice is a set of
// radio buttons in a fieldset whose legend is the question, a boolean is yes/no, a whole number
// with at most eleven values is a scale of radio buttons (0–10), a larger range a number field, a
// text a text area; enableWhen hides questions that do not apply. Answers are the flat map the API
// takes (linkId → code, number, true/false or text). Why our own renderer and not a library:
// docs/prom.md ("The patient's form").
import { Fieldset, Heading, Paragraph, Radio, Textfield, ValidationMessage } from '@digdir/designsystemet-react';
import type { ReactNode } from 'react';
import { useI18n } from '../i18n.tsx';

export type Answer = string | number | boolean;
export type Answers = Record<string, Answer>;

type Item = Record<string, any>;

const MIN = 'http://hl7.org/fhir/StructureDefinition/minValue';
const MAX = 'http://hl7.org/fhir/StructureDefinition/maxValue';
const ext = (item: Item, url: string) => (item.extension ?? []).find((e: any) => e.url === url);

export function bounds(item: Item): { min: number | null; max: number | null } {
  const v = (e: any) => (e ? (e.valueInteger ?? e.valueDecimal ?? null) : null);
  return { min: v(ext(item, MIN)), max: v(ext(item, MAX)) };
}

/** SDC enableWhen (with enableBehavior any/all): whether an item is shown given the answers so far. */
export function enabled(item: Item, answers: Answers): boolean {
  const conds: any[] = item.enableWhen ?? [];
  if (!conds.length) return true;
  const test = (c: any) => {
    const a = answers[c.question];
    const expected = c.answerCoding?.code ?? c.answerBoolean ?? c.answerInteger ?? c.answerDecimal ?? c.answerString;
    if (c.operator === 'exists') return (a !== undefined && a !== '') === Boolean(c.answerBoolean);
    const eq = a !== undefined && String(a) === String(expected);
    return c.operator === '!=' ? !eq : c.operator === '=' ? eq : false;
  };
  return item.enableBehavior === 'all' ? conds.every(test) : conds.some(test);
}

/** Every answerable item that is shown, in order. */
export function visibleItems(items: Item[] | undefined, answers: Answers): Item[] {
  return (items ?? []).flatMap((it) => {
    if (!enabled(it, answers)) return [];
    if (it.type === 'group') return visibleItems(it.item, answers);
    if (it.type === 'display') return [];
    return [it, ...visibleItems(it.item, answers)];
  });
}

/** What is wrong with the answers before sending: required questions left, numbers out of range. */
export function problems(questionnaire: Item, answers: Answers, t: (k: any) => string, complete: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const it of visibleItems(questionnaire.item, answers)) {
    const a = answers[it.linkId];
    const empty = a === undefined || a === '';
    if (empty) {
      if (complete && it.required) out[it.linkId] = t('prom.missing');
      continue;
    }
    if (it.type === 'integer' || it.type === 'decimal') {
      const n = Number(a);
      if (!Number.isFinite(n) || (it.type === 'integer' && !Number.isInteger(n))) {
        out[it.linkId] = t('prom.notInteger');
        continue;
      }
      const { min, max } = bounds(it);
      if ((min !== null && n < min) || (max !== null && n > max))
        out[it.linkId] = `${t('prom.outOfRange')} ${min ?? '…'} ${t('prom.to')} ${max ?? '…'}.`;
    }
  }
  return out;
}

/** The id of the first control of a question: where the error summary's links lead. */
export const fieldId = (prefix: string, linkId: string) => `${prefix}-${linkId.replace(/[^A-Za-z0-9_-]/g, '_')}`;

interface Props {
  questionnaire: Item;
  answers: Answers;
  errors: Record<string, string>;
  /** Unique per instrument on the page (ids of the controls). */
  prefix: string;
  onChange(linkId: string, value: Answer | undefined): void;
  /** Level of the group headings (the instrument's own heading is one above). */
  headingLevel?: 2 | 3 | 4;
}

export function QuestionnaireForm({ questionnaire, answers, errors, prefix, onChange, headingLevel = 3 }: Props) {
  const render = (items: Item[] | undefined): ReactNode[] =>
    (items ?? [])
      .filter((it) => enabled(it, answers))
      .map((it) => {
        if (it.type === 'group') {
          return (
            <section key={it.linkId} className="q-group" aria-labelledby={fieldId(prefix, `${it.linkId}-h`)}>
              {it.text && (
                <Heading level={headingLevel} data-size="xs" id={fieldId(prefix, `${it.linkId}-h`)}>
                  {it.text}
                </Heading>
              )}
              {render(it.item)}
            </section>
          );
        }
        if (it.type === 'display') return <Paragraph key={it.linkId}>{it.text}</Paragraph>;
        return (
          <Question
            key={it.linkId}
            item={it}
            value={answers[it.linkId]}
            error={errors[it.linkId]}
            prefix={prefix}
            onChange={(v) => onChange(it.linkId, v)}
          />
        );
      });
  return <div className="q-form">{render(questionnaire.item)}</div>;
}

function Question({
  item,
  value,
  error,
  prefix,
  onChange,
}: {
  item: Item;
  value: Answer | undefined;
  error?: string;
  prefix: string;
  onChange(v: Answer | undefined): void;
}) {
  const { t } = useI18n();
  const id = fieldId(prefix, item.linkId);
  const errorId = `${id}-error`;
  const label = (
    <>
      {item.text}
      {!item.required && <span className="q-optional"> ({t('prom.optional')})</span>}
    </>
  );
  const { min, max } = bounds(item);
  const radios = (options: Array<{ value: string; label: string }>, scale = false) => (
    <Fieldset
      className={`q-question${scale ? ' q-scale' : ''}${error ? ' q-question--error' : ''}`}
      aria-describedby={error ? errorId : undefined}
      data-linkid={item.linkId}
    >
      <Fieldset.Legend>{label}</Fieldset.Legend>
      {scale && (
        <Fieldset.Description>
          {min} = {t('prom.scaleLow')}, {max} = {t('prom.scaleHigh')}
        </Fieldset.Description>
      )}
      <div className={scale ? 'q-scale__options' : 'q-options'}>
        {options.map((o, i) => (
          <Radio
            key={o.value}
            id={i === 0 ? id : `${id}-${i}`}
            name={id}
            value={o.value}
            label={o.label}
            checked={value !== undefined && String(value) === o.value}
            aria-invalid={error ? true : undefined}
            onChange={() => onChange(item.type === 'boolean' ? o.value === 'true' : item.type === 'integer' ? Number(o.value) : o.value)}
          />
        ))}
      </div>
      {error && <ValidationMessage id={errorId}>{error}</ValidationMessage>}
    </Fieldset>
  );

  if (item.type === 'choice' && Array.isArray(item.answerOption)) {
    return radios(
      item.answerOption.map((o: any) => {
        const code = String(o.valueCoding?.code ?? o.valueInteger ?? o.valueString);
        return { value: code, label: o.valueCoding?.display ?? code };
      }),
    );
  }
  if (item.type === 'boolean')
    return radios([
      { value: 'true', label: t('prom.yes') },
      { value: 'false', label: t('prom.no') },
    ]);
  if (item.type === 'integer' && min !== null && max !== null && max - min <= 10) {
    return radios(
      Array.from({ length: max - min + 1 }, (_, i) => ({ value: String(min + i), label: String(min + i) })),
      true,
    );
  }
  if (item.type === 'integer' || item.type === 'decimal') {
    return (
      <Textfield
        className="q-question q-number"
        id={id}
        label={label}
        type="number"
        inputMode={item.type === 'integer' ? 'numeric' : 'decimal'}
        description={min !== null && max !== null ? `${t('prom.numberRange')} ${min} ${t('prom.to')} ${max}` : undefined}
        min={min ?? undefined}
        max={max ?? undefined}
        step={item.type === 'integer' ? 1 : 'any'}
        value={value === undefined ? '' : String(value)}
        error={error}
        data-linkid={item.linkId}
        onChange={(e) => {
          const v = (e.target as HTMLInputElement).value;
          onChange(v === '' ? undefined : Number(v));
        }}
      />
    );
  }
  const change = (v: string) => onChange(v === '' ? undefined : v);
  if (item.type === 'text') {
    return (
      <Textfield
        className="q-question"
        id={id}
        label={label}
        multiline
        rows={3}
        value={value === undefined ? '' : String(value)}
        error={error}
        data-linkid={item.linkId}
        onChange={(e) => change(e.target.value)}
      />
    );
  }
  return (
    <Textfield
      className="q-question"
      id={id}
      label={label}
      value={value === undefined ? '' : String(value)}
      error={error}
      data-linkid={item.linkId}
      onChange={(e) => change(e.target.value)}
    />
  );
}

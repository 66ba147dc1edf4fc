// One field of a form generated from the codebook: the input its type asks for (a choice for yes/no
// and short code lists, a searchable picker for a hierarchical classification, a unit picker for
// the treating unit, dates that cannot lie in the future), its label with required-ness, its
// description as help, and what is wrong with it.
import { Field, Input, Label, Select, ValidationMessage } from '@digdir/designsystemet-react';
import type { ReactNode } from 'react';
import type { Codebook, VariableView } from '../codebook.ts';
import { useI18n } from '../i18n.tsx';
import { CodePicker } from './CodePicker.tsx';
import { UnitCombobox } from './UnitCombobox.tsx';

/** Today in Norwegian time, as a date input writes it: nothing registered happens in the future. */
export const todayIso = () => new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Oslo' }).format(new Date());

export const toInput = (type: string, v: unknown): string => {
  if (v === null || v === undefined) return '';
  if (type === 'datetime' && typeof v === 'string') {
    const d = new Date(v);
    const p = (n: number) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
  }
  return String(v);
};
export const fromInput = (type: string, s: string): unknown => {
  if (type === 'integer' || type === 'decimal') return Number(s.replace(',', '.'));
  if (type === 'boolean') return s === 'true';
  if (type === 'datetime') return new Date(s).toISOString();
  return s;
};

export function FieldInput({
  id,
  registry,
  variable: v,
  codebook,
  value,
  onChange,
  locked,
  missing,
  problem,
  history,
  units,
}: {
  id: string;
  registry: string;
  variable: VariableView;
  codebook: Codebook;
  value: string;
  onChange(v: string): void;
  locked: boolean;
  missing: boolean;
  problem?: ReactNode;
  history?: ReactNode;
  /** the units offered for the unit variable (default: every unit) */ units?: string[];
}) {
  const { t, lang } = useI18n();
  const list = v.codelist ? codebook.codelists.find((c) => c.id === v.codelist) : undefined;
  const codes = list?.codes ?? [];
  const req = v.required === true ? ` (${t('reg.required')})` : v.required === 'conditional' ? ` (${t('reg.requiredWhen')})` : '';
  const labelText = `${v.label[lang]}${v.unit ? ` (${v.unit})` : ''}${req}`;
  const described = `${id}-d`;
  let input: ReactNode;
  if (v.id === codebook.unitVariable) {
    input = (
      <UnitCombobox
        id={id}
        value={value}
        onChange={onChange}
        disabled={locked}
        allowed={units}
        describedBy={described}
        invalid={missing || !!problem}
      />
    );
  } else if (list?.hierarchical) {
    input = (
      <CodePicker
        id={id}
        registry={registry}
        codelist={list.id}
        value={value}
        onChange={onChange}
        disabled={locked}
        describedBy={described}
        invalid={missing || !!problem}
        label={labelText}
      />
    );
  } else if (v.type === 'boolean' || (v.type === 'code' && codes.length <= 40)) {
    input = (
      <Select
        id={id}
        value={value}
        disabled={locked}
        onChange={(e) => onChange(e.target.value)}
        aria-describedby={described}
        aria-invalid={missing || !!problem || undefined}
      >
        <Select.Option value="">{t('reg.choose')}</Select.Option>
        {v.type === 'boolean' ? (
          <>
            <Select.Option value="true">{t('common.yes')}</Select.Option>
            <Select.Option value="false">{t('common.no')}</Select.Option>
          </>
        ) : (
          codes.map((c) => (
            <Select.Option key={c.code} value={c.code}>
              {c.display[lang]}
            </Select.Option>
          ))
        )}
      </Select>
    );
  } else {
    input = (
      <>
        <Input
          id={id}
          value={value}
          readOnly={locked}
          aria-describedby={described}
          aria-invalid={missing || !!problem || undefined}
          list={codes.length ? `${id}-codes` : undefined}
          type={
            v.type === 'date'
              ? 'date'
              : v.type === 'datetime'
                ? 'datetime-local'
                : v.type === 'integer' || v.type === 'decimal'
                  ? 'number'
                  : 'text'
          }
          step={v.type === 'decimal' ? 'any' : undefined}
          min={v.range?.min}
          max={v.type === 'date' ? todayIso() : v.type === 'datetime' ? `${todayIso()}T23:59` : v.range?.max}
          onChange={(e) => onChange(e.target.value)}
        />
        {codes.length > 0 && (
          <datalist id={`${id}-codes`}>
            {codes.map((c) => (
              <option key={c.code} value={c.code}>
                {c.display[lang]}
              </option>
            ))}
          </datalist>
        )}
      </>
    );
  }
  // The history beside the field, not inside it (the field's own styling is for its parts).
  return (
    <div className="completion-field" data-field={v.id}>
      <Field>
        <Label htmlFor={id}>{labelText}</Label>
        {input}
        <p id={described} className="field-help">
          {v.description[lang]}
        </p>
        {missing && <ValidationMessage>{t('reg.fieldMissing')}</ValidationMessage>}
        {problem}
      </Field>
      {history}
    </div>
  );
}

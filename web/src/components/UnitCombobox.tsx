// Choosing a unit by typing part of its name or RESH id: hospitals and departments with the
// hospital's name ("SUS, Ortopedisk avdeling"), health trusts and regions. Every unit field and
// filter uses it (no one types RESH ids from memory).
import { Field, Label } from '@digdir/designsystemet-react';
import { useMemo } from 'react';
import { unitName, useUnits, type UnitView } from '../data.tsx';
import { useI18n, type Key } from '../i18n.tsx';
import { Combobox, type ComboOption } from './Combobox.tsx';

const LEVEL_ORDER = ['nation', 'region', 'trust', 'hospital', 'department'];

export function unitOptions(
  list: UnitView[],
  byResh: Map<string, UnitView>,
  lang: 'nb' | 'en',
  t: (k: Key) => string,
  opts: { allowed?: string[]; levels?: string[]; own?: string | null } = {},
): ComboOption[] {
  return list
    .filter((u) => (!opts.allowed || opts.allowed.includes(u.resh)) && (!opts.levels || opts.levels.includes(u.level)))
    .map((u) => {
      const trust = u.path.map((r) => byResh.get(r)).find((x) => x?.level === 'trust');
      return {
        value: u.resh,
        label: `${unitName(u, lang, u.resh, byResh)}${u.resh === opts.own ? ` (${t('ind.ownUnit')})` : ''}`,
        hint: `${t(`unitLevel.${u.level}` as Key)} · RESH ${u.resh}`,
        keywords: `${u.short ?? ''} ${trust?.name[lang] ?? ''} ${u.name.nb} ${u.name.en}`,
      };
    })
    .sort(
      (a, b) =>
        LEVEL_ORDER.indexOf(byResh.get(a.value)!.level) - LEVEL_ORDER.indexOf(byResh.get(b.value)!.level) ||
        a.label.localeCompare(b.label, 'nb'),
    );
}

/** The bare input (for a form field whose label is given around it). */
export function UnitCombobox({
  id,
  value,
  onChange,
  disabled,
  allowed,
  levels,
  describedBy,
  invalid,
  own,
}: {
  id: string;
  value: string;
  onChange(v: string): void;
  disabled?: boolean;
  allowed?: string[];
  levels?: string[];
  describedBy?: string;
  invalid?: boolean;
  own?: string | null;
}) {
  const { t, lang } = useI18n();
  const units = useUnits();
  const options = useMemo(
    () => unitOptions(units.list, units.byResh, lang, t, { allowed, levels, own }),
    [units.list, units.byResh, lang, t, allowed, levels, own],
  );
  return (
    <Combobox
      id={id}
      options={options}
      value={value}
      onChange={onChange}
      disabled={disabled}
      describedBy={describedBy}
      invalid={invalid}
      placeholder={t('unit.search')}
    />
  );
}

/** A labelled unit filter; `none` is what an empty choice means (e.g. "the nation only"). */
export function UnitField({
  id,
  label,
  value,
  onChange,
  own,
  none,
  levels,
}: {
  id: string;
  label?: string;
  value: string;
  onChange(v: string): void;
  own?: string | null;
  none?: string;
  levels?: string[];
}) {
  const { t } = useI18n();
  return (
    <Field className="unit-field">
      <Label htmlFor={id}>{label ?? t('ind.unit')}</Label>
      <UnitCombobox id={id} value={value} onChange={onChange} own={own} levels={levels} describedBy={none ? `${id}-none` : undefined} />
      {none && (
        <p id={`${id}-none`} className="field-help">
          {value ? (
            <button type="button" className="link-button" onClick={() => onChange('')}>
              {none}
            </button>
          ) : (
            none
          )}
        </p>
      )}
    </Field>
  );
}

// Choosing a unit (hospital or department, grouped by region): anyone may compare any unit.
import { Field, Label, Select } from '@digdir/designsystemet-react';
import type { UnitView } from '../data.tsx';
import { useI18n } from '../i18n.tsx';

export function UnitPicker({ units, value, onChange, own, id = 'unit' }: { units: UnitView[]; value: string; onChange(v: string): void; own: string | null; id?: string }) {
  const { t, lang } = useI18n();
  const regions = units.filter((u) => u.level === 'region');
  // Depth first under each region: trust, its hospitals, their departments.
  const walk = (parent: string, depth: number): Array<{ u: UnitView; depth: number }> =>
    units.filter((u) => u.parent === parent).flatMap((u) => [{ u, depth }, ...walk(u.resh, depth + 1)]);
  return (
    <Field>
      <Label htmlFor={id}>{t('ind.unit')}</Label>
      <Select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
        <Select.Option value="">{t('ind.nationOnly')}</Select.Option>
        {regions.map((r) => (
          <optgroup key={r.resh} label={r.name[lang]}>
            <Select.Option value={r.resh}>{r.name[lang]}</Select.Option>
            {walk(r.resh, 1).map(({ u, depth }) => <Select.Option key={u.resh} value={u.resh}>{'\u00a0\u00a0'.repeat(depth)}{u.name[lang]}{u.resh === own ? ` (${t('ind.ownUnit')})` : ''}</Select.Option>)}
          </optgroup>
        ))}
      </Select>
    </Field>
  );
}

// Choosing a year: the last full year first, then the years before it (or from this year, for
// registrations still coming in).
import { Field, Label, Select } from '@digdir/designsystemet-react';
import { useI18n, type Key } from '../i18n.tsx';

/** The `count` years counting back from last year, or from this year with `fromThisYear`. */
export function pastYears(count: number, fromThisYear = false): string[] {
  const first = new Date().getFullYear() - (fromThisYear ? 0 : 1);
  return Array.from({ length: count }, (_, k) => String(first - k));
}

export function YearPicker({ id, value, onChange, years, label = 'ind.year', className }: { id: string; value: string; onChange(v: string): void; years: string[]; label?: Key; className?: string }) {
  const { t } = useI18n();
  return (
    <Field className={className}>
      <Label htmlFor={id}>{t(label)}</Label>
      <Select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
        {years.map((y) => <Select.Option key={y} value={y}>{y}</Select.Option>)}
      </Select>
    </Field>
  );
}

// Choosing a year: only years with data (useDataYears), newest first; pages open on the newest full
// year with data.
import { Field, Label, Select } from '@digdir/designsystemet-react';
import { useI18n, type Key } from '../i18n.tsx';

export function YearPicker({
  id,
  value,
  onChange,
  years,
  label = 'ind.year',
  className,
}: {
  id: string;
  value: string;
  onChange(v: string): void;
  years: string[];
  label?: Key;
  className?: string;
}) {
  const { t } = useI18n();
  return (
    <Field className={className}>
      <Label htmlFor={id}>{t(label)}</Label>
      <Select id={id} value={value} onChange={(e) => onChange(e.target.value)} disabled={years.length === 0}>
        {years.length === 0 && <Select.Option value="">{t('years.none')}</Select.Option>}
        {/* A year asked for in the URL but without data is still shown as chosen. */}
        {value && !years.includes(value) && <Select.Option value={value}>{value}</Select.Option>}
        {years.map((y) => (
          <Select.Option key={y} value={y}>
            {y}
          </Select.Option>
        ))}
      </Select>
    </Field>
  );
}

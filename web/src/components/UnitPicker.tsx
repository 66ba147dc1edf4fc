// Choosing a unit for a view (hospital, department, trust or region): anyone may compare any unit.
// A searchable combobox (UnitCombobox); an empty choice is the nation only.
import type { UnitView } from '../data.tsx';
import { useI18n } from '../i18n.tsx';
import { UnitField } from './UnitCombobox.tsx';

export function UnitPicker({
  value,
  onChange,
  own,
  id = 'unit',
}: {
  units?: UnitView[];
  value: string;
  onChange(v: string): void;
  own: string | null;
  id?: string;
}) {
  const { t } = useI18n();
  return <UnitField id={id} value={value} onChange={onChange} own={own} none={t('ind.nationOnly')} />;
}

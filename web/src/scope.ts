// What a page is about: the registry, the unit and the year. One hook for every page, read from and
// written to the URL's query (so a view can be shared), with the same defaults everywhere:
//   registry  the active grant's; else ?registry=, the visitor's last choice, or the first (useRegistryId)
//   unit      ?unit=; else the own unit (the active grant's); else none, which is the nation
//   year      ?year= (the indicator pages say ?period=); else the newest full year with data
//             (GET /api/registries/:id/years) — never the calendar year, which has hardly begun
// Choosing the own unit removes the parameter; choosing the nation while one
// has an own unit writes the nation's RESH id, so the choice survives a reload.
import { useDataYears, useOwnUnit, useRegistryId, useUnits } from './data.tsx';
import { useQuery, useRoute } from './router.tsx';

export interface PageScope {
  registry: string | null;
  units: ReturnType<typeof useUnits>;
  /** The active grant's unit, when it is a unit-level grant. */
  own: string | null;
  /** The unit the page shows; null is the nation. */
  unit: string | null;
  /** The unit's RESH id, the nation's when the page shows the nation (null until the units have loaded). */
  unitOrNation: string | null;
  /** Years with data, newest first (as strings, for pickers). */
  years: string[];
  /** The year the page shows; null while the years are loading (so nothing is fetched for a year that is then replaced). */
  year: string | null;
  /** The years are still loading. */
  loading: boolean;
  setUnit(resh: string | null): void;
  setYear(year: string): void;
}

export function usePageScope({ yearParam = 'year' }: { yearParam?: 'year' | 'period' } = {}): PageScope {
  const q = useQuery();
  const { setQuery } = useRoute();
  const registry = useRegistryId();
  const units = useUnits();
  const own = useOwnUnit();
  const data = useDataYears(registry);
  const nation = units.nation?.resh ?? null;
  const asked = q.get('unit');
  const chosen = asked ?? own;
  const unit = chosen && chosen !== nation ? chosen : null;
  const year = q.get(yearParam) ?? data.defaultYear;
  return {
    registry,
    units,
    own,
    unit,
    unitOrNation: unit ?? nation,
    years: data.years,
    year,
    loading: data.loading,
    setUnit: (resh) =>
      setQuery({
        unit: resh && resh !== nation ? (resh === own ? null : resh) : own ? nation : null,
      }),
    setYear: (y) => setQuery({ [yearParam]: y }),
  };
}

// The annual report's other analyses, interactive: choose a figure, a year and a unit (the choice
// is kept in the URL, so a view can be shared). The figure is drawn on the server from the same
// chart definition the downloads use; its numbers are in the table under it.
import { Alert, Field, Label, Paragraph, Select, Spinner, Table } from '@digdir/designsystemet-react';
import { Downloads } from '../components/Downloads.tsx';
import { Page } from '../components/Page.tsx';
import { UnitPicker } from '../components/UnitPicker.tsx';
import { usePageScope } from '../scope.ts';
import { YearPicker } from '../components/YearPicker.tsx';
import { useApi } from '../data.tsx';
import { useI18n } from '../i18n.tsx';
import { useQuery, useRoute } from '../router.tsx';
import { ScrollTable } from '../components/ScrollTable.tsx';

interface FigureInfo {
  id: string;
  kind: string;
  title: string;
}
interface Figure {
  spec: { title: string; description: string; note?: string; columns: Array<{ key: string; label: string; format?: string }> };
  data: Array<Record<string, string | number | boolean | null>>;
}

export function Analyses() {
  const { t, lang } = useI18n();
  const { setQuery } = useRoute();
  const q = useQuery();
  // Registry, unit (the own unit by default) and year as on every page (scope.ts).
  const { registry, units, own, unit, years, year: scopeYear, setYear, setUnit } = usePageScope();
  const list = useApi<FigureInfo[]>(registry ? `/api/registries/${registry}/figures?lang=${lang}` : null);
  const analyses = (list.data ?? []).filter((f) => f.kind === 'analysis');
  const figure = q.get('figure') ?? analyses[0]?.id ?? null;
  const year = scopeYear ?? '';
  // A comparison needs a unit other than the nation.
  const isNation = !unit || units.byResh.get(unit)?.level === 'nation';
  const compare = !isNation ? q.get('compare') : null;
  const params = new URLSearchParams({ year, lang, ...(unit ? { unit } : {}), ...(compare ? { compare } : {}) }).toString();
  const fig = useApi<Figure>(registry && figure && year ? `/api/registries/${registry}/figures/${figure}?${params}` : null);
  const fmt = (v: unknown, f?: string) =>
    v === null || v === undefined
      ? '–'
      : typeof v === 'number' && f === 'decimal'
        ? v.toLocaleString(lang === 'nb' ? 'nb-NO' : 'en-GB', { maximumFractionDigits: 1 })
        : String(v);

  return (
    <Page title={t('an.title')}>
      <Paragraph>{t('an.intro')}</Paragraph>
      <form className="filters" aria-label={t('ind.choices')} onSubmit={(e) => e.preventDefault()}>
        <Field>
          <Label htmlFor="figure">{t('an.figure')}</Label>
          <Select id="figure" value={figure ?? ''} onChange={(e) => setQuery({ figure: e.target.value })}>
            {analyses.map((f) => (
              <Select.Option key={f.id} value={f.id}>
                {f.title}
              </Select.Option>
            ))}
          </Select>
        </Field>
        <YearPicker id="year" value={year} onChange={setYear} years={years} />
        <UnitPicker units={units.list} value={unit ?? ''} onChange={(v) => setUnit(v || null)} own={own} />
        <Field>
          <Label htmlFor="compare">{t('an.compare')}</Label>
          <Select
            id="compare"
            value={compare ?? ''}
            disabled={isNation}
            aria-describedby={isNation ? 'compare-d' : undefined}
            onChange={(e) => setQuery({ compare: e.target.value || null })}
          >
            <Select.Option value="">{t('an.compare.none')}</Select.Option>
            <Select.Option value="rest">{t('an.compare.rest')}</Select.Option>
            <Select.Option value="region">{t('an.compare.region')}</Select.Option>
            <Select.Option value="nation">{t('an.compare.nation')}</Select.Option>
          </Select>
          {isNation && (
            <Paragraph data-size="sm" id="compare-d">
              {t('an.compare.needsUnit')}
            </Paragraph>
          )}
        </Field>
      </form>
      {(list.error || fig.error) && (
        <Alert data-color="danger">
          <Paragraph>{list.error ?? fig.error}</Paragraph>
        </Alert>
      )}
      {(list.loading || fig.loading) && <Spinner aria-label={t('common.loading')} />}
      {fig.data && registry && figure && (
        <figure className="analysis-figure">
          <img
            src={`/api/registries/${registry}/figures/${figure}.svg?${params}`}
            alt={fig.data.spec.description}
            style={{ maxWidth: '100%' }}
          />
          <figcaption>
            {fig.data.spec.title}
            {fig.data.spec.note ? ` ${fig.data.spec.note}` : ''}
          </figcaption>
          <Downloads registry={registry} figure={figure} params={{ year, unit, compare }} label={fig.data.spec.title} />
          <ScrollTable label={fig.data.spec.title}>
            <Table zebra className="analysis-table">
              <caption>
                {t('an.numbers')}: {fig.data.spec.title}
              </caption>
              <Table.Head>
                <Table.Row>
                  {fig.data.spec.columns.map((c) => (
                    <Table.HeaderCell scope="col" key={c.key}>
                      {c.label}
                    </Table.HeaderCell>
                  ))}
                </Table.Row>
              </Table.Head>
              <Table.Body>
                {fig.data.data.map((row, i) => (
                  <Table.Row key={i}>
                    {fig.data!.spec.columns.map((c) => (
                      <Table.Cell key={c.key}>{fmt(row[c.key], c.format)}</Table.Cell>
                    ))}
                  </Table.Row>
                ))}
              </Table.Body>
            </Table>
          </ScrollTable>
        </figure>
      )}
    </Page>
  );
}

// All indicators of the registry for one year: the nation, the own unit's region and the own unit
// side by side (own unit = the active grant's unit; anyone may pick a unit), with target, level by
// symbol and word, and trend. Pending indicators are listed as "definition to come".
import { Alert, Field, Label, Paragraph, Select, Spinner, Table } from '@digdir/designsystemet-react';
import { Page } from '../components/Page.tsx';
import { Statistics } from '../components/Statistics.tsx';
import { UnitPicker } from '../components/UnitPicker.tsx';
import {
  LevelMark,
  ResultCell,
  thresholdText,
  unitName,
  useApi,
  useDataYears,
  useOwnUnit,
  useRegistryId,
  useUnits,
  type IndicatorDecl,
  type Result,
} from '../data.tsx';
import { useI18n } from '../i18n.tsx';
import { Link, useQuery, useRoute } from '../router.tsx';
import { ScrollTable } from '../components/ScrollTable.tsx';

/** The years with data (newest first), and the year the page opens on: the newest full year with data. */
export function useYears(registry: string | null, _nation?: string | null) {
  const { years, defaultYear, loading } = useDataYears(registry);
  return { years, latest: defaultYear, loading };
}

export function Indicators() {
  const { t, lang } = useI18n();
  const { setQuery } = useRoute();
  const q = useQuery();
  const registry = useRegistryId();
  const units = useUnits();
  const own = useOwnUnit();
  const unit = q.get('unit') ?? own;
  const nation = units.nation?.resh ?? null;
  const region = unit ? units.ancestor(unit, 'region') : null;
  const { years, latest, loading: yearsLoading } = useYears(registry, nation);
  const period = q.get('period') ?? latest;
  const cols = [nation, region && region.resh !== unit ? region.resh : null, unit && unit !== nation ? unit : null].filter(
    (x): x is string => !!x,
  );
  const decls = useApi<IndicatorDecl[]>(registry ? `/api/registries/${registry}/indicators?lang=${lang}` : null);
  const results = useApi<{ results: Result[] }>(
    registry && period && cols.length
      ? `/api/registries/${registry}/indicator-results?grain=year&period=${period}&unit=${cols.join(',')}`
      : null,
  );
  const find = (ind: string, resh: string) =>
    results.data?.results.find((r) => r.indicator === ind && r.unit.resh === resh && r.stratum === '');
  const link = (id: string) =>
    `/indicators/${id}?${new URLSearchParams({ ...(period ? { period } : {}), ...(q.get('unit') ? { unit: q.get('unit')! } : {}) })}`;

  return (
    <Page title={t('ind.title')}>
      <Paragraph>{t('ind.intro')}</Paragraph>
      <form className="filters" aria-label={t('ind.choices')} onSubmit={(e) => e.preventDefault()}>
        <Field>
          <Label htmlFor="period">{t('ind.year')}</Label>
          <Select id="period" value={period ?? ''} onChange={(e) => setQuery({ period: e.target.value })} disabled={!years.length}>
            {years.map((y) => (
              <Select.Option key={y} value={y}>
                {y}
              </Select.Option>
            ))}
          </Select>
        </Field>
        <UnitPicker units={units.list} value={unit ?? ''} onChange={(v) => setQuery({ unit: v === own ? null : v })} own={own} />
      </form>
      {(decls.error || results.error) && (
        <Alert data-color="danger">
          <Paragraph>{decls.error ?? results.error}</Paragraph>
        </Alert>
      )}
      {!yearsLoading && !years.length && <Paragraph>{t('ind.noData')}</Paragraph>}
      {(decls.loading || results.loading || yearsLoading) && <Spinner aria-label={t('common.loading')} />}
      {decls.data && period && (
        <ScrollTable label={t('ind.caption')}>
          <Table className="indicator-table" zebra>
            <caption>
              {t('ind.caption')} {period}
              {unit ? ` – ${unitName(units.byResh.get(unit), lang, unit, units.byResh)}` : ''}
            </caption>
            <Table.Head>
              <Table.Row>
                <Table.HeaderCell scope="col">{t('ind.indicator')}</Table.HeaderCell>
                <Table.HeaderCell scope="col">{t('ind.target')}</Table.HeaderCell>
                {cols.map((c) => (
                  <Table.HeaderCell scope="col" key={c}>
                    {unitName(units.byResh.get(c), lang, c, units.byResh)}
                  </Table.HeaderCell>
                ))}
              </Table.Row>
            </Table.Head>
            <Table.Body>
              {decls.data.map((d) => (
                <Table.Row key={d.id} data-indicator={d.id}>
                  <Table.HeaderCell scope="row">
                    <span className="ind-number">{d.number}</span>{' '}
                    {d.status === 'pending' ? d.title : <Link to={link(d.id)}>{d.title}</Link>}
                  </Table.HeaderCell>
                  <Table.Cell>{thresholdText(d.target, lang)}</Table.Cell>
                  {d.status === 'pending' ? (
                    <Table.Cell colSpan={cols.length}>
                      <span className="result-none">{t('result.pending')}</span>
                    </Table.Cell>
                  ) : (
                    cols.map((c) => (
                      <Table.Cell key={c}>
                        <ResultCell r={find(d.id, c)} />
                      </Table.Cell>
                    ))
                  )}
                </Table.Row>
              ))}
            </Table.Body>
          </Table>
        </ScrollTable>
      )}
      <Paragraph data-size="sm" className="legend">
        <LevelMark level="high" />, <LevelMark level="moderate" />, <LevelMark level="low" />. {t('ind.legend')}
      </Paragraph>
      {registry && period && cols.length > 0 && <Statistics registry={registry} period={period} units={cols} byResh={units.byResh} />}
    </Page>
  );
}

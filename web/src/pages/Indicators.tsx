// All indicators of the registry for one year: the nation, the own unit's region and the own unit
// side by side (own unit = the active grant's unit; anyone may pick a unit), with target, level by
// symbol and word, and trend. Pending indicators are listed as "definition to come".
import { Alert, Field, Label, Paragraph, Select, Spinner, Table } from '@digdir/designsystemet-react';
import { Page } from '../components/Page.tsx';
import { Statistics } from '../components/Statistics.tsx';
import { UnitPicker } from '../components/UnitPicker.tsx';
import { YearPicker } from '../components/YearPicker.tsx';
import { usePageScope } from '../scope.ts';
import { LevelMark, ResultCell, thresholdText, unitName, useApi, type IndicatorDecl, type Result } from '../data.tsx';
import { useI18n } from '../i18n.tsx';
import { Link, useQuery } from '../router.tsx';
import { ScrollTable } from '../components/ScrollTable.tsx';

export function Indicators() {
  const { t, lang } = useI18n();
  const q = useQuery();
  // The year is ?period= here (an indicator's period), the same default as every page's year.
  const {
    registry,
    units,
    own,
    unit,
    years,
    year: period,
    loading: yearsLoading,
    setYear,
    setUnit,
  } = usePageScope({ yearParam: 'period' });
  const nation = units.nation?.resh ?? null;
  const region = unit ? units.ancestor(unit, 'region') : null;
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
        <YearPicker id="period" value={period ?? ''} onChange={setYear} years={years} />
        <UnitPicker units={units.list} value={unit ?? ''} onChange={(v) => setUnit(v || null)} own={own} />
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

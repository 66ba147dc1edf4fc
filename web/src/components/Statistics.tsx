// A registry's statistics that are not proportions (declared under `statistics:` in
// indicators.yaml, e.g. the trauma register's W statistic): the definition, and the value with its
// number of cases for the nation, the chosen units and every hospital; too few cases are not shown.
import { Heading, Paragraph, Table } from '@digdir/designsystemet-react';
import { unitName, useApi, type UnitView } from '../data.tsx';
import { fill } from '../errors.ts';
import { useI18n } from '../i18n.tsx';
import { ScrollTable } from './ScrollTable.tsx';

interface StatisticDecl {
  id: string;
  title: string;
  description: string;
  decimals: number;
  direction: 'higher-is-better' | 'lower-is-better';
  minimumCount: number;
  references: string[];
}
interface StatisticResult {
  statistic: string;
  period: string;
  unit: string;
  status: 'ok' | 'too-few';
  n: number | null;
  value: number | null;
  interval: { lower: number; upper: number } | null;
}
interface Response {
  statistics: StatisticDecl[];
  results: StatisticResult[];
}

export function Statistics({
  registry,
  period,
  units,
  byResh,
}: {
  registry: string;
  period: string;
  units: string[];
  byResh: Map<string, UnitView>;
}) {
  const { t, lang } = useI18n();
  const chosen = useApi<Response>(
    `/api/registries/${registry}/statistics?grain=year&period=${period}&lang=${lang}&unit=${units.join(',')}`,
  );
  const hospitals = useApi<Response>(`/api/registries/${registry}/statistics?grain=year&period=${period}&lang=${lang}&level=hospital`);
  const decls = chosen.data?.statistics ?? [];
  if (decls.length === 0) return null;
  const fmt = (v: number | null, d: StatisticDecl) =>
    v === null
      ? '–'
      : v.toLocaleString(lang === 'nb' ? 'nb-NO' : 'en-GB', { minimumFractionDigits: d.decimals, maximumFractionDigits: d.decimals });
  return (
    <section aria-labelledby="statistics" className="statistics">
      <Heading level={2} data-size="sm" id="statistics">
        {t('stat.title')}
      </Heading>
      {decls.map((d) => {
        const rows = [
          ...units
            .map((u) => chosen.data!.results.find((r) => r.statistic === d.id && r.unit === u))
            .filter((r): r is StatisticResult => !!r),
          // Every hospital with enough patients, by name: listed beside each other, not ranked (their intervals overlap).
          ...(hospitals.data?.results ?? [])
            .filter((r) => r.statistic === d.id && r.status === 'ok' && !units.includes(r.unit))
            .sort((a, b) =>
              unitName(byResh.get(a.unit), lang, a.unit, byResh).localeCompare(unitName(byResh.get(b.unit), lang, b.unit, byResh), 'nb'),
            ),
        ];
        return (
          <div key={d.id} data-statistic={d.id}>
            <Heading level={3} data-size="xs">
              {d.title}
            </Heading>
            <Paragraph data-size="sm">{d.description}</Paragraph>
            <Paragraph data-size="sm">{fill(t('stat.minimumText'), { n: d.minimumCount })}</Paragraph>
            <ScrollTable label={d.title}>
              <Table zebra className="statistic-table">
                <caption>
                  {d.title} {period}
                </caption>
                <Table.Head>
                  <Table.Row>
                    <Table.HeaderCell scope="col">{t('ind.unit')}</Table.HeaderCell>
                    <Table.HeaderCell scope="col">{t('stat.value')}</Table.HeaderCell>
                    <Table.HeaderCell scope="col">{t('stat.interval')}</Table.HeaderCell>
                    <Table.HeaderCell scope="col">{t('stat.n')}</Table.HeaderCell>
                  </Table.Row>
                </Table.Head>
                <Table.Body>
                  {rows.map((r) => (
                    <Table.Row key={r.unit}>
                      <Table.HeaderCell scope="row">{unitName(byResh.get(r.unit), lang, r.unit, byResh)}</Table.HeaderCell>
                      <Table.Cell>
                        {r.status === 'too-few' ? <span className="result-none">{t('result.tooFew')}</span> : fmt(r.value, d)}
                      </Table.Cell>
                      <Table.Cell>
                        {r.interval ? `${fmt(r.interval.lower, d)} ${t('stat.to')} ${fmt(r.interval.upper, d)}` : '–'}
                      </Table.Cell>
                      <Table.Cell>{r.n ?? '–'}</Table.Cell>
                    </Table.Row>
                  ))}
                </Table.Body>
              </Table>
            </ScrollTable>
            {d.references.length > 0 && (
              <Paragraph data-size="xs">
                {t('stat.references')}: <span lang="en">{d.references.join('; ')}</span>
              </Paragraph>
            )}
          </div>
        );
      })}
    </section>
  );
}

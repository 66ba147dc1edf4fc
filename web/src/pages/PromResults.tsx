// Patient-reported outcomes of a unit beside the nation, for a year: response rates per time point
// and instrument, who answered and who did not by the registry's comparison variables, and the
// scores at each time point with their change. Aggregates only: a count too small to show comes as
// nothing from the server and is shown as a dash with a note.
import { Alert, Heading, Paragraph, Spinner, Table } from '@digdir/designsystemet-react';
import { Page } from '../components/Page.tsx';
import { UnitPicker } from '../components/UnitPicker.tsx';
import { usePageScope } from '../scope.ts';
import { YearPicker } from '../components/YearPicker.tsx';
import { unitName, useApi, type Text } from '../data.tsx';
import { useI18n } from '../i18n.tsx';

interface Rate {
  eligible: number | null;
  responders: number | null;
  nonResponders: number | null;
  rate: number | null;
}
interface Mean {
  n: number | null;
  mean: number | null;
}
interface PromResultsView {
  year: string;
  unit: { resh: string };
  nation: string;
  asOf: string;
  smallCountThreshold: number;
  schedules: Array<{ id: string; title: Text; timepoints: Array<{ id: string; label: Text }> }>;
  responseRates: Array<{ schedule: string; timepoint: string; instrument: string; title: Text; unit: Rate; nation: Rate }>;
  responders: Array<{
    schedule: string;
    timepoint: string;
    variable: string;
    label: Text;
    rows: Array<{ value: string | null; label: string | null } & Rate>;
  }>;
  scores: Array<{
    schedule: string;
    instrument: string;
    score: string;
    label: Text;
    direction: string;
    timepoint: string;
    unit: Mean;
    nation: Mean;
    change: { unit: Mean; nation: Mean } | null;
  }>;
}

export function PromResults() {
  const { t, tryT, lang } = useI18n();
  // Registry, unit and year as on every page (scope.ts): only years with data, opening on the newest full one.
  const { registry, units, own, unit: chosen, years, year: scopeYear, setYear, setUnit } = usePageScope();
  const unit = chosen ?? '';
  const year = scopeYear ?? '';
  const res = useApi<PromResultsView>(
    registry && year ? `/api/registries/${registry}/prom/results?year=${year}${unit ? `&unit=${unit}` : ''}` : null,
  );
  const v = res.data;
  const locale = lang === 'nb' ? 'nb-NO' : 'en-GB';
  const dash = <abbr title={t('promResults.withheld')}>–</abbr>;
  const num = (x: number | null) => (x === null ? dash : x.toLocaleString(locale));
  const pct = (x: number | null) => (x === null ? dash : `${(x * 100).toLocaleString(locale, { maximumFractionDigits: 0 })} %`);
  const dec = (x: number | null) => (x === null ? dash : x.toLocaleString(locale, { maximumFractionDigits: 3 }));
  const tpLabel = (schedule: string, tp: string) =>
    v?.schedules.find((s) => s.id === schedule)?.timepoints.find((x) => x.id === tp)?.label[lang] ?? tp;
  const unitLabel = v && v.unit.resh !== v.nation ? unitName(units.byResh.get(v.unit.resh), lang, v.unit.resh, units.byResh) : null;
  const instrumentTitle = (id: string) => v?.responseRates.find((r) => r.instrument === id)?.title[lang] ?? id;

  return (
    <Page title={t('promResults.title')}>
      <Paragraph>{t('promResults.intro')}</Paragraph>
      <form className="filters" aria-label={t('ind.choices')} onSubmit={(e) => e.preventDefault()}>
        <YearPicker id="year" value={year} onChange={setYear} years={years} />
        <UnitPicker units={units.list} value={unit} onChange={(u) => setUnit(u || null)} own={own} />
      </form>
      {res.error && (
        <Alert data-color="danger">
          <Paragraph>{res.error}</Paragraph>
        </Alert>
      )}
      {res.loading && <Spinner aria-label={t('common.loading')} />}
      {v && (
        <>
          <Paragraph data-size="sm">
            {t('promResults.small').replace('{n}', String(v.smallCountThreshold))} {t('promResults.asked')}
          </Paragraph>
          <section aria-labelledby="prom-rates">
            <Heading level={2} data-size="md" id="prom-rates">
              {t('promResults.rates')}
            </Heading>
            {v.responseRates.length === 0 ? (
              <Paragraph>{t('promResults.none')}</Paragraph>
            ) : (
              <Table zebra className="prom-table">
                <caption>
                  {t('promResults.rates')} {year}
                  {unitLabel ? `: ${unitLabel}` : ''}
                </caption>
                <Table.Head>
                  <Table.Row>
                    <Table.HeaderCell rowSpan={2} scope="col">
                      {t('promResults.timepoint')}
                    </Table.HeaderCell>
                    <Table.HeaderCell rowSpan={2} scope="col">
                      {t('promResults.instrument')}
                    </Table.HeaderCell>
                    {unitLabel && (
                      <Table.HeaderCell colSpan={3} scope="colgroup">
                        {unitLabel}
                      </Table.HeaderCell>
                    )}
                    <Table.HeaderCell colSpan={3} scope="colgroup">
                      {t('promResults.nation')}
                    </Table.HeaderCell>
                  </Table.Row>
                  <Table.Row>
                    {[...(unitLabel ? ['u'] : []), 'n'].flatMap((k) => [
                      <Table.HeaderCell key={`${k}e`} scope="col">
                        {t('promResults.eligible')}
                      </Table.HeaderCell>,
                      <Table.HeaderCell key={`${k}r`} scope="col">
                        {t('promResults.responders')}
                      </Table.HeaderCell>,
                      <Table.HeaderCell key={`${k}p`} scope="col">
                        {t('promResults.rate')}
                      </Table.HeaderCell>,
                    ])}
                  </Table.Row>
                </Table.Head>
                <Table.Body>
                  {v.responseRates.map((r) => (
                    <Table.Row key={`${r.schedule}-${r.timepoint}-${r.instrument}`}>
                      <Table.HeaderCell scope="row">{tpLabel(r.schedule, r.timepoint)}</Table.HeaderCell>
                      <Table.Cell>{r.title[lang]}</Table.Cell>
                      {[...(unitLabel ? [r.unit] : []), r.nation].flatMap((x, i) => [
                        <Table.Cell key={`${i}e`}>{num(x.eligible)}</Table.Cell>,
                        <Table.Cell key={`${i}r`}>{num(x.responders)}</Table.Cell>,
                        <Table.Cell key={`${i}p`}>{pct(x.rate)}</Table.Cell>,
                      ])}
                    </Table.Row>
                  ))}
                </Table.Body>
              </Table>
            )}
          </section>
          <section aria-labelledby="prom-responders">
            <Heading level={2} data-size="md" id="prom-responders">
              {t('promResults.respondersTitle')}
            </Heading>
            <Paragraph>{unitLabel ?? t('promResults.nation')}</Paragraph>
            {v.responders.map((g) => (
              <Table key={`${g.schedule}-${g.timepoint}-${g.variable}`} zebra className="prom-table">
                <caption>
                  {tpLabel(g.schedule, g.timepoint)}: {g.label[lang]}
                </caption>
                <Table.Head>
                  <Table.Row>
                    <Table.HeaderCell scope="col">{g.label[lang]}</Table.HeaderCell>
                    <Table.HeaderCell scope="col">{t('promResults.responders')}</Table.HeaderCell>
                    <Table.HeaderCell scope="col">{t('promResults.nonResponders')}</Table.HeaderCell>
                    <Table.HeaderCell scope="col">{t('promResults.rate')}</Table.HeaderCell>
                  </Table.Row>
                </Table.Head>
                <Table.Body>
                  {g.rows.map((r) => (
                    <Table.Row key={r.value ?? 'none'}>
                      <Table.HeaderCell scope="row">
                        {r.value === null ? t('promResults.unknown') : tryT(`sex.${r.value}`, r.label ?? r.value)}
                      </Table.HeaderCell>
                      <Table.Cell>{num(r.responders)}</Table.Cell>
                      <Table.Cell>{num(r.nonResponders)}</Table.Cell>
                      <Table.Cell>{pct(r.rate)}</Table.Cell>
                    </Table.Row>
                  ))}
                </Table.Body>
              </Table>
            ))}
          </section>
          <section aria-labelledby="prom-scores">
            <Heading level={2} data-size="md" id="prom-scores">
              {t('promResults.scores')}
            </Heading>
            <Paragraph>{t('promResults.scoresIntro')}</Paragraph>
            {[...new Set(v.scores.map((s) => s.instrument))].map((inst) => (
              <Table key={inst} zebra className="prom-table">
                <caption>{instrumentTitle(inst)}</caption>
                <Table.Head>
                  <Table.Row>
                    <Table.HeaderCell scope="col">{t('promResults.score')}</Table.HeaderCell>
                    <Table.HeaderCell scope="col">{t('promResults.timepoint')}</Table.HeaderCell>
                    {unitLabel && (
                      <>
                        <Table.HeaderCell scope="col">{unitLabel}: n</Table.HeaderCell>
                        <Table.HeaderCell scope="col">{t('promResults.mean')}</Table.HeaderCell>
                        <Table.HeaderCell scope="col">{t('promResults.change')}</Table.HeaderCell>
                      </>
                    )}
                    <Table.HeaderCell scope="col">{t('promResults.nation')}: n</Table.HeaderCell>
                    <Table.HeaderCell scope="col">{t('promResults.mean')}</Table.HeaderCell>
                    <Table.HeaderCell scope="col">{t('promResults.change')}</Table.HeaderCell>
                  </Table.Row>
                </Table.Head>
                <Table.Body>
                  {v.scores
                    .filter((s) => s.instrument === inst)
                    .map((s) => (
                      <Table.Row key={`${s.score}-${s.timepoint}`}>
                        <Table.HeaderCell scope="row">
                          {s.label[lang]} <span className="prom-direction">({tryT(`promResults.${s.direction}`, s.direction)})</span>
                        </Table.HeaderCell>
                        <Table.Cell>{tpLabel(s.schedule, s.timepoint)}</Table.Cell>
                        {unitLabel && (
                          <>
                            <Table.Cell>{num(s.unit.n)}</Table.Cell>
                            <Table.Cell>{dec(s.unit.mean)}</Table.Cell>
                            <Table.Cell>{s.change ? dec(s.change.unit.mean) : ''}</Table.Cell>
                          </>
                        )}
                        <Table.Cell>{num(s.nation.n)}</Table.Cell>
                        <Table.Cell>{dec(s.nation.mean)}</Table.Cell>
                        <Table.Cell>{s.change ? dec(s.change.nation.mean) : ''}</Table.Cell>
                      </Table.Row>
                    ))}
                </Table.Body>
              </Table>
            ))}
          </section>
        </>
      )}
    </Page>
  );
}

// One indicator: its definition as text, target and levels; own unit, region and nation over
// time; every unit at a chosen level compared; stratified views; and, for users whose access
// covers the unit, the explanation list (each case in the denominator, clause by clause).
// The choices (period, unit, time grain, comparison level) are kept in the URL.
import { Alert, Button, Field, Heading, Label, Paragraph, Select, Spinner, Table } from '@digdir/designsystemet-react';
import { displayOf, labelOf, useCodebook } from '../codebook.ts';
import { fill } from '../errors.ts';
import { Page } from '../components/Page.tsx';
import { ServerFigure } from '../components/ServerFigure.tsx';
import { UnitPicker } from '../components/UnitPicker.tsx';
import { YearPicker } from '../components/YearPicker.tsx';
import { usePageScope } from '../scope.ts';
import { isNotFound } from '../errors.ts';
import { NotFound } from './NotFound.tsx';
import {
  LevelMark,
  ResultCell,
  thresholdText,
  unitName,
  useApi,
  useCoversUnit,
  type useUnits,
  type IndicatorDecl,
  type Result,
} from '../data.tsx';
import { useI18n, type Key } from '../i18n.tsx';
import { Link, useParams, useQuery, useRoute } from '../router.tsx';
import { ScrollTable } from '../components/ScrollTable.tsx';

const LEVELS = ['region', 'trust', 'hospital', 'department'] as const;
const EX_PAGE = 100;

interface Explanation {
  total: number;
  cases: Array<{
    caseId: number;
    unit: string | null;
    periodDate: string;
    finalised: boolean;
    inNumerator: boolean;
    parts: Array<{
      label: string | null;
      inDenominator: boolean;
      inNumerator: boolean;
      clauses: Array<{ text: string; holds: boolean | null; values: Record<string, unknown> }>;
    }>;
  }>;
}

export function Indicator() {
  const { t, lang, tryT } = useI18n();
  const { indicator } = useParams();
  const { setQuery } = useRoute();
  const q = useQuery();
  const { registry, units, own, unit, years, year: period, setYear, setUnit } = usePageScope({ yearParam: 'period' });
  const nation = units.nation?.resh ?? null;
  const region = unit ? units.ancestor(unit, 'region') : null;
  const decl = useApi<IndicatorDecl>(registry ? `/api/registries/${registry}/indicators/${indicator}?lang=${lang}` : null);
  const d = decl.data;
  const grain = q.get('grain') ?? (d?.grains.includes('quarter') ? 'quarter' : 'year');
  const level = q.get('level') ?? 'hospital';
  const cols = [unit && unit !== nation ? unit : null, region && region.resh !== unit ? region.resh : null, nation].filter(
    (x): x is string => !!x,
  );
  const base = registry ? `/api/registries/${registry}/indicator-results?indicator=${indicator}` : null;
  const current = useApi<{ results: Result[] }>(
    base && period && cols.length ? `${base}&grain=year&period=${period}&unit=${cols.join(',')}` : null,
  );
  const name = (resh: string) => unitName(units.byResh.get(resh), lang, resh, units.byResh);
  const title = d ? `${d.number} ${d.title}` : t('ind.one');

  // An indicator the registry does not have (a misspelt or old link): said plainly, with the way back.
  if (isNotFound(decl.failure))
    return <NotFound title={t('ind.one')} text={decl.error ?? ''} back={{ to: '/indicators', label: t('ind.back') }} />;
  return (
    <Page title={title}>
      <Paragraph>
        <Link
          to={`/indicators${q.get('period') || q.get('unit') ? `?${new URLSearchParams({ ...(q.get('period') ? { period: q.get('period')! } : {}), ...(q.get('unit') ? { unit: q.get('unit')! } : {}) })}` : ''}`}
        >
          {t('ind.back')}
        </Link>
      </Paragraph>
      {decl.error && (
        <Alert data-color="danger">
          <Paragraph>{decl.error}</Paragraph>
        </Alert>
      )}
      {!d && !decl.error && <Spinner aria-label={t('common.loading')} />}
      {d && (
        <>
          <Paragraph>{d.description}</Paragraph>
          {!!d.pendingParameters?.length && (
            <Alert data-color="warning" className="pending-parameters">
              <Paragraph>
                {t('ind.pendingParameters')} {d.pendingParameters.map((p) => p.title).join(', ')}.
              </Paragraph>
            </Alert>
          )}
          <section aria-labelledby="definition">
            <Heading level={2} data-size="md" id="definition">
              {t('ind.definition')}
            </Heading>
            {d.status === 'pending' ? (
              <Paragraph>{t('result.pending')}</Paragraph>
            ) : (
              d.definition && (
                <dl className="facts">
                  <dt>{t('ind.numerator')}</dt>
                  <dd>{d.definition.numerator}</dd>
                  <dt>{t('ind.denominator')}</dt>
                  <dd>{d.definition.denominator}</dd>
                  {d.definition.population && (
                    <>
                      <dt>{t('ind.population')}</dt>
                      <dd>{d.definition.population}</dd>
                    </>
                  )}
                  {d.definition.exclusions && (
                    <>
                      <dt>{t('ind.exclusions')}</dt>
                      <dd>{d.definition.exclusions}</dd>
                    </>
                  )}
                  <dt>{t('ind.target')}</dt>
                  <dd>{thresholdText(d.target, lang)}</dd>
                  {d.levels && (
                    <>
                      <dt>{t('ind.levels')}</dt>
                      <dd>
                        <LevelMark level="high" /> {thresholdText(d.levels.high, lang)}
                        {d.levels.moderate && (
                          <>
                            ; <LevelMark level="moderate" /> {thresholdText(d.levels.moderate, lang)}
                          </>
                        )}
                        ; <LevelMark level="low" /> {t('ind.otherwise')}
                      </dd>
                    </>
                  )}
                  <dt>{t('ind.direction')}</dt>
                  <dd>{t(d.direction === 'lower-is-better' ? 'ind.lowerBetter' : 'ind.higherBetter')}</dd>
                  <dt>{t('ind.minimum')}</dt>
                  <dd>{d.minimumDenominator}</dd>
                  <dt>{t('ind.source')}</dt>
                  <dd>{d.source}</dd>
                </dl>
              )
            )}
          </section>
          {d.status === 'active' && (
            <>
              <form className="filters" aria-label={t('ind.choices')} onSubmit={(e) => e.preventDefault()}>
                <YearPicker id="period" value={period ?? ''} onChange={setYear} years={years} />
                <UnitPicker units={units.list} value={unit ?? ''} onChange={(v) => setUnit(v || null)} own={own} />
              </form>

              <section aria-labelledby="result">
                <Heading level={2} data-size="md" id="result">
                  {t('ind.result')} {period}
                </Heading>
                <ScrollTable label={t('ind.result')}>
                  <Table className="result-summary">
                    <Table.Head>
                      <Table.Row>
                        {cols.map((c) => (
                          <Table.HeaderCell scope="col" key={c}>
                            {name(c)}
                          </Table.HeaderCell>
                        ))}
                      </Table.Row>
                    </Table.Head>
                    <Table.Body>
                      <Table.Row>
                        {cols.map((c) => (
                          <Table.Cell key={c}>
                            <ResultCell r={current.data?.results.find((r) => r.unit.resh === c)} />
                          </Table.Cell>
                        ))}
                      </Table.Row>
                    </Table.Body>
                  </Table>
                </ScrollTable>
              </section>

              <section aria-labelledby="over-time">
                <Heading level={2} data-size="md" id="over-time">
                  {t('ind.overTime')}
                </Heading>
                <Field className="inline-field">
                  <Label htmlFor="grain">{t('ind.grain')}</Label>
                  <Select id="grain" value={grain} onChange={(e) => setQuery({ grain: e.target.value })}>
                    {d.grains
                      .filter((g) => g === 'year' || g === 'quarter')
                      .map((g) => (
                        <Select.Option key={g} value={g}>
                          {t(`grain.${g}` as Key)}
                        </Select.Option>
                      ))}
                  </Select>
                </Field>
                {registry && (
                  <ServerFigure
                    registry={registry}
                    figure={`trend-${indicator}`}
                    params={{ year: period, unit, grain }}
                    label={`${title}: ${t('ind.overTime').toLowerCase()}`}
                  />
                )}
              </section>

              <section aria-labelledby="compare">
                <Heading level={2} data-size="md" id="compare">
                  {t('ind.compare')} {period}
                </Heading>
                <Field className="inline-field">
                  <Label htmlFor="level">{t('ind.level')}</Label>
                  <Select id="level" value={level} onChange={(e) => setQuery({ level: e.target.value })}>
                    {LEVELS.map((l) => (
                      <Select.Option key={l} value={l}>
                        {t(`unitLevel.${l}` as Key)}
                      </Select.Option>
                    ))}
                  </Select>
                </Field>
                {registry && (
                  <ServerFigure
                    registry={registry}
                    figure={`units-${indicator}`}
                    params={{ year: period, unit, level }}
                    label={`${title}: ${t('ind.compare').toLowerCase()} ${period}`}
                  />
                )}
              </section>

              {d.stratifiers.length > 0 && period && (
                <section aria-labelledby="strata">
                  <Heading level={2} data-size="md" id="strata">
                    {t('ind.strata')} {period}
                  </Heading>
                  {d.stratifiers.map((s) => (
                    <Strata
                      key={s}
                      registry={registry}
                      base={base!}
                      stratifier={s}
                      label={tryT(`strat.${s}`, s)}
                      period={period}
                      cols={cols}
                      name={name}
                    />
                  ))}
                </section>
              )}

              {unit && period && (
                <ExplanationSection
                  registry={registry!}
                  indicator={indicator}
                  unit={unit}
                  period={period}
                  units={units}
                  name={name(unit)}
                />
              )}
            </>
          )}
        </>
      )}
    </Page>
  );
}

function Strata({
  registry,
  base,
  stratifier,
  label,
  period,
  cols,
  name,
}: {
  registry: string | null;
  base: string;
  stratifier: string;
  label: string;
  period: string;
  cols: string[];
  name(r: string): string;
}) {
  const { t, lang } = useI18n();
  // A stratum by its words (the sex as kvinne/mann, a code by its list's display), never the stored value.
  const codebook = useCodebook(registry);
  const words = { yes: t('common.yes'), no: t('common.no'), unknown: t('common.unknown'), female: t('sex.female'), male: t('sex.male') };
  const res = useApi<{ results: Result[] }>(`${base}&grain=year&period=${period}&unit=${cols.join(',')}&stratifier=${stratifier}`);
  const strata = [...new Set((res.data?.results ?? []).map((r) => r.stratum))].sort();
  return (
    <ScrollTable label={label}>
      <Table className="strata-table" zebra>
        <caption>
          {t('ind.by')} {label.toLowerCase()}
        </caption>
        <Table.Head>
          <Table.Row>
            <Table.HeaderCell scope="col">{label}</Table.HeaderCell>
            {cols.map((c) => (
              <Table.HeaderCell scope="col" key={c}>
                {name(c)}
              </Table.HeaderCell>
            ))}
          </Table.Row>
        </Table.Head>
        <Table.Body>
          {strata.length === 0 && (
            <Table.Row>
              <Table.Cell colSpan={cols.length + 1}>{res.loading ? t('common.loading') : t('result.none')}</Table.Cell>
            </Table.Row>
          )}
          {strata.map((s) => (
            <Table.Row key={s}>
              <Table.HeaderCell scope="row">{s ? displayOf(codebook.data, stratifier, s, lang, words) : '–'}</Table.HeaderCell>
              {cols.map((c) => (
                <Table.Cell key={c}>
                  <ResultCell r={res.data!.results.find((r) => r.unit.resh === c && r.stratum === s)} />
                </Table.Cell>
              ))}
            </Table.Row>
          ))}
        </Table.Body>
      </Table>
    </ScrollTable>
  );
}

function ExplanationSection({
  registry,
  indicator,
  unit,
  period,
  units,
  name,
}: {
  registry: string;
  indicator: string;
  unit: string;
  period: string;
  units: ReturnType<typeof useUnits>;
  name: string;
}) {
  const { t, lang } = useI18n();
  const { setQuery } = useRoute();
  const q = useQuery();
  const covers = useCoversUnit(unit, units);
  const only = q.get('show') === 'outside';
  const offset = Math.max(0, Number(q.get('offset') ?? 0) || 0);
  const ex = useApi<Explanation>(
    covers
      ? `/api/registries/${registry}/indicators/${indicator}/explanation?unit=${unit}&period=${period}&lang=${lang}&limit=${EX_PAGE}&offset=${offset}`
      : null,
  );
  const codebook = useCodebook(covers ? registry : null);
  if (!covers) return null;
  const cases = (ex.data?.cases ?? []).filter((c) => !only || !c.inNumerator);
  // The variables by their names in the codebook, never their ids; codes by their words.
  const words = {
    yes: t('common.yes'),
    no: t('common.no'),
    unknown: t('common.unknown'),
    female: t('person.female'),
    male: t('person.male'),
  };
  const label = (id: string) => labelOf(codebook.data, id, lang);
  const exportBase = `/api/registries/${registry}/indicators/${indicator}/explanation`;
  const exportQuery = `unit=${unit}&period=${period}&lang=${lang}`;
  return (
    <section aria-labelledby="explanation">
      <Heading level={2} data-size="md" id="explanation">
        {t('ex.title')} – {name}, {period}
      </Heading>
      <Paragraph>{t('ex.intro')}</Paragraph>
      {ex.error && (
        <Alert data-color="danger">
          <Paragraph>{ex.error}</Paragraph>
        </Alert>
      )}
      {ex.loading && <Spinner aria-label={t('common.loading')} />}
      {ex.data && (
        <>
          <Field className="inline-field">
            <Label htmlFor="show">{t('ex.show')}</Label>
            <Select
              id="show"
              value={only ? 'outside' : 'all'}
              onChange={(e) => setQuery({ show: e.target.value === 'outside' ? 'outside' : null })}
            >
              <Select.Option value="all">
                {t('ex.all')} ({ex.data.total})
              </Select.Option>
              <Select.Option value="outside">{t('ex.outside')}</Select.Option>
            </Select>
          </Field>
          <Paragraph data-size="sm">
            {fill(t('ex.showing'), {
              from: ex.data.total ? offset + 1 : 0,
              to: Math.min(offset + EX_PAGE, ex.data.total),
              total: ex.data.total,
            })}{' '}
            {t('ex.download')}:{' '}
            <a href={`${exportBase}.csv?${exportQuery}`} download>
              CSV
            </a>{' '}
            ·{' '}
            <a href={`${exportBase}.xlsx?${exportQuery}`} download>
              XLSX
            </a>
          </Paragraph>
          <ScrollTable label={t('ex.caption')}>
            <Table className="explanation-table" zebra>
              <caption>{t('ex.caption')}</caption>
              <Table.Head>
                <Table.Row>
                  <Table.HeaderCell scope="col">{t('ex.case')}</Table.HeaderCell>
                  <Table.HeaderCell scope="col">{t('ex.date')}</Table.HeaderCell>
                  <Table.HeaderCell scope="col">{t('ex.inNumerator')}</Table.HeaderCell>
                  <Table.HeaderCell scope="col">{t('ex.clauses')}</Table.HeaderCell>
                </Table.Row>
              </Table.Head>
              <Table.Body>
                {cases.map((c) => (
                  <Table.Row key={c.caseId} data-case={c.caseId}>
                    <Table.HeaderCell scope="row">
                      <Link to={`/registrations?case=${c.caseId}`}>{c.caseId}</Link>
                      {c.finalised ? '' : ` (${t('status.draft').toLowerCase()})`}
                    </Table.HeaderCell>
                    <Table.Cell>{c.periodDate}</Table.Cell>
                    <Table.Cell>
                      {c.inNumerator ? (
                        <span className="yes">
                          <span aria-hidden="true">✓</span> {t('common.yes')}
                        </span>
                      ) : (
                        <span className="no">
                          <span aria-hidden="true">✗</span> {t('common.no')}
                        </span>
                      )}
                    </Table.Cell>
                    <Table.Cell>
                      {c.parts
                        .filter((p) => p.inDenominator)
                        .map((p, i) => (
                          <div key={i}>
                            {p.label && <strong>{p.label}: </strong>}
                            <ul className="clauses">
                              {p.clauses.map((cl, j) => (
                                <li key={j}>
                                  <span aria-hidden="true">{cl.holds === true ? '✓' : cl.holds === false ? '✗' : '?'}</span>{' '}
                                  <span className="visually-hidden">
                                    {cl.holds === true ? t('ex.holds') : cl.holds === false ? t('ex.fails') : t('ex.unknown')}:{' '}
                                  </span>
                                  {cl.text}
                                  {Object.keys(cl.values).length > 0 && (
                                    <span className="clause-values">
                                      {' '}
                                      (
                                      {Object.entries(cl.values)
                                        .map(([k, v]) => `${label(k)} = ${displayOf(codebook.data, k, v, lang, words)}`)
                                        .join(', ')}
                                      )
                                    </span>
                                  )}
                                </li>
                              ))}
                            </ul>
                          </div>
                        ))}
                    </Table.Cell>
                  </Table.Row>
                ))}
              </Table.Body>
            </Table>
          </ScrollTable>
          <nav aria-label={t('ex.pages')} className="pager">
            {offset > 0 && (
              <Button variant="secondary" data-size="sm" onClick={() => setQuery({ offset: String(Math.max(0, offset - EX_PAGE)) })}>
                {t('reg.previous')}
              </Button>
            )}
            {offset + EX_PAGE < ex.data.total && (
              <Button variant="secondary" data-size="sm" onClick={() => setQuery({ offset: String(offset + EX_PAGE) })}>
                {t('reg.next')}
              </Button>
            )}
          </nav>
        </>
      )}
    </section>
  );
}

// The registry's data quality as its registrars and secretariat use it: the data-quality report
// per unit and year with findings to follow up and the registrations behind each (/quality), the
// coverage against NPR with the "only in NPR" worklist (/coverage), and the stage assessment for
// the registry's administrators (/stage). Verdicts by symbol and word, never by colour alone.
import { Alert, Button, Fieldset, Heading, Paragraph, Radio, Spinner, Table, Textfield } from '@digdir/designsystemet-react';
import { useMutation } from '@tanstack/react-query';
import { useState, type ReactNode } from 'react';
import { api } from '../api.ts';
import { Page } from '../components/Page.tsx';
import { UnitPicker } from '../components/UnitPicker.tsx';
import { YearPicker } from '../components/YearPicker.tsx';
import { pct, unitName, useApi, useApiPages, useUnits, type Text } from '../data.tsx';
import { errorText } from '../errors.ts';
import { formatDateTime, useI18n, type Key } from '../i18n.tsx';
import { useInvalidate } from '../query.ts';
import { usePageScope } from '../scope.ts';
import { useSession } from '../session.tsx';
import '../quality.css';

const STAFF = ['unit-registrar', 'unit-reader', 'registry-admin', 'platform-admin'];
const WRITERS = ['unit-registrar', 'registry-admin', 'platform-admin'];
const ADMINS = ['registry-admin', 'platform-admin'];
const VERDICT_SYMBOL: Record<string, string> = {
  good: '●',
  goodWithFailures: '◑',
  acceptable: '◐',
  poor: '○',
  'not-computable': '–',
  outlier: '▲',
};

type Verdict = 'good' | 'acceptable' | 'poor' | 'not-computable';
interface Check {
  key: string;
  kind: string;
  label: Text;
  denominator: number | null;
  failures: number | null;
  unknown?: number | null;
  rate: number | null;
  verdict: Verdict;
  withheld?: boolean;
  trend: Array<{ year: number; rate: number | null }>;
}
interface Timeliness {
  key: string;
  label: Text;
  deadlineDays: number;
  n: number | null;
  medianDays: number | null;
  within: number | null;
  rate: number | null;
  verdict: Verdict;
  withheld?: boolean;
}
interface FollowUp {
  status: string;
  note: string;
  actor: string;
  at: string;
}
interface Finding {
  key: string;
  label: Text;
  verdict: string;
  failures: number | null;
  status: string;
  history: FollowUp[];
}
interface Report {
  unit: { resh: string; name: string };
  year: number;
  cases: number | null;
  summary: { checks: number; good: number; goodWithFailures: number; acceptable: number; poor: number; notComputable: number };
  completeness: Check[];
  validity: Check[];
  consistency: Check[];
  timeliness: { registration: Timeliness; finalisation: Timeliness } | null;
  unitsReporting: {
    expected: number;
    reporting: number;
    rate: number | null;
    verdict: Verdict;
    notReporting: Array<{ resh: string; name: string }>;
  };
  outliers: Array<{
    family: string;
    label: Text;
    unit: { resh: string; name: string };
    rate: number;
    cases: number;
    score: number;
    median: number;
  }>;
  findings: Finding[];
}

/** Shared by the pages: the page scope (scope.ts), with the unit as a RESH id (the nation's when none is chosen). */
function useChoices() {
  const scope = usePageScope();
  return { ...scope, unit: scope.unitOrNation ?? '', year: scope.year ?? '' };
}

function VerdictMark({ verdict, failures }: { verdict: string; failures?: number | null }) {
  const { t } = useI18n();
  const v = verdict === 'good' && (failures ?? 0) > 0 ? 'goodWithFailures' : verdict;
  return (
    <span className={`dq-verdict dq-verdict--${v}`}>
      <span aria-hidden="true">{VERDICT_SYMBOL[v] ?? ''}</span> {t(`dq.verdict.${v}` as Key)}
    </span>
  );
}

function Gate({ title, roles, refusal, children }: { title: string; roles: string[]; refusal: Key; children: ReactNode }) {
  const { t } = useI18n();
  const { me, loading } = useSession();
  if (loading)
    return (
      <Page title={title}>
        <Spinner aria-label={t('auth.loading')} />
      </Page>
    );
  if (!me?.active || !roles.includes(me.active.role))
    return (
      <Page title={title}>
        <Alert data-color="info">
          <Paragraph>{t(refusal)}</Paragraph>
        </Alert>
      </Page>
    );
  return <>{children}</>;
}

export function DataQuality() {
  const { t } = useI18n();
  return (
    <Gate title={t('dq.title')} roles={STAFF} refusal="dq.notStaff">
      <DataQualityReport />
    </Gate>
  );
}

function DataQualityReport() {
  const { t, lang } = useI18n();
  const { me } = useSession();
  const { registry, units, own, year, years, unit, setYear, setUnit } = useChoices();
  const report = useApi<Report>(registry && unit && year ? `/api/registries/${registry}/quality?unit=${unit}&year=${year}` : null);
  const [drill, setDrill] = useState<Finding | null>(null);
  const canWrite = WRITERS.includes(me?.active?.role ?? '');
  const r = report.data;
  const trend = (c: Check) =>
    c.trend
      .filter((x) => x.rate !== null)
      .map((x) => `${x.year}: ${pct(x.rate, lang, 0)}`)
      .join(', ') || '–';
  const checkTable = (id: string, title: Key, rows: Check[], help?: Key) => (
    <section aria-labelledby={id}>
      <Heading level={2} data-size="sm" id={id}>
        {t(title)}
      </Heading>
      {help && <Paragraph data-size="sm">{t(help)}</Paragraph>}
      <Table zebra className="dq-table">
        <Table.Head>
          <Table.Row>
            <Table.HeaderCell scope="col">{t('dq.check')}</Table.HeaderCell>
            <Table.HeaderCell scope="col">{t('dq.denominator')}</Table.HeaderCell>
            <Table.HeaderCell scope="col">{t('dq.failures')}</Table.HeaderCell>
            {rows.some((c) => c.unknown !== undefined) && <Table.HeaderCell scope="col">{t('dq.unknown')}</Table.HeaderCell>}
            <Table.HeaderCell scope="col">{t('dq.rate')}</Table.HeaderCell>
            <Table.HeaderCell scope="col">{t('dq.verdict')}</Table.HeaderCell>
            <Table.HeaderCell scope="col">{t('dq.trend')}</Table.HeaderCell>
          </Table.Row>
        </Table.Head>
        <Table.Body>
          {rows.map((c) => (
            <Table.Row key={c.key}>
              <Table.Cell>{c.label[lang]}</Table.Cell>
              <Table.Cell>{c.withheld && c.denominator === null ? t('dq.withheld') : c.denominator}</Table.Cell>
              <Table.Cell>{c.failures ?? '–'}</Table.Cell>
              {rows.some((x) => x.unknown !== undefined) && <Table.Cell>{c.unknown ?? '–'}</Table.Cell>}
              <Table.Cell>{pct(c.rate, lang)}</Table.Cell>
              <Table.Cell>
                <VerdictMark verdict={c.verdict} failures={c.failures} />
              </Table.Cell>
              <Table.Cell data-size="sm">{trend(c)}</Table.Cell>
            </Table.Row>
          ))}
        </Table.Body>
      </Table>
    </section>
  );
  return (
    <Page title={t('dq.title')}>
      <Paragraph>{t('dq.intro')}</Paragraph>
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <YearPicker id="dq-year" value={year} years={years} onChange={setYear} />
        <UnitPicker
          id="dq-unit"
          units={units.list}
          own={own}
          value={unit === units.nation?.resh ? '' : unit}
          onChange={(v) => setUnit(v || null)}
        />
      </form>
      {report.error && (
        <Alert data-color="danger">
          <Paragraph>{report.error}</Paragraph>
        </Alert>
      )}
      {report.loading && <Spinner aria-label={t('common.loading')} />}
      {r && (
        <>
          <section aria-labelledby="dq-summary">
            <Heading level={2} data-size="sm" id="dq-summary">
              {t('dq.summary')}: {unitName(units.byResh.get(r.unit.resh), lang, r.unit.name, units.byResh)} {r.year}
            </Heading>
            <ul className="dq-summary">
              <li>
                {t('dq.cases')}: <strong>{r.cases ?? t('dq.withheld')}</strong>
              </li>
              <li>
                {r.summary.checks} {t('dq.checks')}:
              </li>
              <li>
                <VerdictMark verdict="good" /> {r.summary.good}
              </li>
              <li>
                <VerdictMark verdict="good" failures={1} /> {r.summary.goodWithFailures}
              </li>
              <li>
                <VerdictMark verdict="acceptable" /> {r.summary.acceptable}
              </li>
              <li>
                <VerdictMark verdict="poor" /> {r.summary.poor}
              </li>
              <li>
                <VerdictMark verdict="not-computable" /> {r.summary.notComputable}
              </li>
            </ul>
          </section>
          <Findings report={r} registry={registry!} canWrite={canWrite} onShowCases={setDrill} />
          {drill && <Cases registry={registry!} finding={drill} unit={r.unit.resh} year={r.year} onClose={() => setDrill(null)} />}
          {checkTable('dq-completeness', 'dq.completeness', r.completeness, 'dq.completenessHelp')}
          {checkTable('dq-validity', 'dq.validity', r.validity)}
          {checkTable('dq-consistency', 'dq.consistency', r.consistency)}
          {r.timeliness && (
            <section aria-labelledby="dq-timeliness">
              <Heading level={2} data-size="sm" id="dq-timeliness">
                {t('dq.timeliness')}
              </Heading>
              <Table zebra className="dq-table">
                <Table.Head>
                  <Table.Row>
                    <Table.HeaderCell scope="col">{t('dq.check')}</Table.HeaderCell>
                    <Table.HeaderCell scope="col">{t('dq.denominator')}</Table.HeaderCell>
                    <Table.HeaderCell scope="col">{t('dq.medianDays')}</Table.HeaderCell>
                    <Table.HeaderCell scope="col">{t('dq.deadline')}</Table.HeaderCell>
                    <Table.HeaderCell scope="col">{t('dq.within')}</Table.HeaderCell>
                    <Table.HeaderCell scope="col">{t('dq.verdict')}</Table.HeaderCell>
                  </Table.Row>
                </Table.Head>
                <Table.Body>
                  {[r.timeliness.registration, r.timeliness.finalisation].map((x, i) => (
                    <Table.Row key={x.key}>
                      <Table.Cell>{t(i === 0 ? 'dq.registration' : 'dq.finalisation')}</Table.Cell>
                      <Table.Cell>{x.n ?? (x.withheld ? t('dq.withheld') : '–')}</Table.Cell>
                      <Table.Cell>{x.medianDays ?? '–'}</Table.Cell>
                      <Table.Cell>{x.deadlineDays}</Table.Cell>
                      <Table.Cell>{pct(x.rate, lang)}</Table.Cell>
                      <Table.Cell>
                        <VerdictMark verdict={x.verdict} />
                      </Table.Cell>
                    </Table.Row>
                  ))}
                </Table.Body>
              </Table>
            </section>
          )}
          <section aria-labelledby="dq-units">
            <Heading level={2} data-size="sm" id="dq-units">
              {t('dq.unitsReporting')}
            </Heading>
            <Paragraph>
              {r.unitsReporting.reporting} {t('dq.of')} {r.unitsReporting.expected} {t('dq.reporting')} (
              {pct(r.unitsReporting.rate, lang, 0)}) – <VerdictMark verdict={r.unitsReporting.verdict} />
            </Paragraph>
            {r.unitsReporting.notReporting.length > 0 && (
              <Paragraph data-size="sm">
                {t('dq.notReporting')}: {r.unitsReporting.notReporting.map((u) => u.name).join(', ')}
              </Paragraph>
            )}
          </section>
          <section aria-labelledby="dq-outliers">
            <Heading level={2} data-size="sm" id="dq-outliers">
              {t('dq.outliers')}
            </Heading>
            {r.outliers.length === 0 ? (
              <Paragraph>{t('dq.noOutliers')}</Paragraph>
            ) : (
              <ul>
                {r.outliers.map((o) => (
                  <li key={`${o.family}-${o.unit.resh}`}>
                    ▲ {o.unit.name}: {o.label[lang]} {pct(o.rate, lang)} ({t('dq.median')} {pct(o.median, lang)}, {t('dq.score')}{' '}
                    {o.score.toFixed(1)}, n = {o.cases})
                  </li>
                ))}
              </ul>
            )}
          </section>
        </>
      )}
    </Page>
  );
}

function Findings({
  report,
  registry,
  canWrite,
  onShowCases,
}: {
  report: Report;
  registry: string;
  canWrite: boolean;
  onShowCases(f: Finding): void;
}) {
  const { t, tryT, lang } = useI18n();
  const [notes, setNotes] = useState<Record<string, string>>({});
  const [message, setMessage] = useState('');
  const invalidate = useInvalidate();
  // Marking a finding changes the report (the finding's status and history): read again.
  const follow = useMutation({
    mutationFn: ({ f, status }: { f: Finding; status: string }) =>
      api(`/api/registries/${registry}/quality/follow-up`, {
        method: 'POST',
        body: { finding: f.key, unit: report.unit.resh, year: report.year, status, note: notes[f.key] ?? '' },
      }),
    onMutate: () => setMessage(''),
    onSuccess: async () => {
      setMessage(t('dq.saved'));
      await invalidate(`/api/registries/${registry}/quality`);
    },
  });
  const error = follow.error ? errorText(follow.error, tryT) : null;
  const mark = (f: Finding, status: string) => follow.mutate({ f, status });
  return (
    <section aria-labelledby="dq-findings">
      <Heading level={2} data-size="sm" id="dq-findings">
        {t('dq.findings')}
      </Heading>
      <p role="status" className="visually-hidden-if-empty">
        {message}
      </p>
      {error && (
        <Alert data-color="danger">
          <Paragraph>{error}</Paragraph>
        </Alert>
      )}
      {report.findings.length === 0 ? (
        <Paragraph>{t('dq.noFindings')}</Paragraph>
      ) : (
        <ul className="dq-findings">
          {report.findings.map((f) => (
            <li key={f.key} className="dq-finding">
              <Heading level={3} data-size="2xs">
                {f.label[lang]}
              </Heading>
              <Paragraph data-size="sm">
                <VerdictMark verdict={f.verdict} failures={f.failures} />
                {f.failures !== null ? ` – ${f.failures} ${t('dq.failures').toLowerCase()}` : ''} – {t('dq.status')}:{' '}
                <strong>{t(`dq.status.${f.status}` as Key)}</strong>
              </Paragraph>
              {f.history.length > 0 && (
                <details>
                  <summary>{t('dq.history')}</summary>
                  <ul>
                    {f.history.map((h, i) => (
                      <li key={i}>
                        {formatDateTime(h.at, lang)}: {t(`dq.status.${h.status}` as Key)} ({h.actor}){h.note ? ` – «${h.note}»` : ''}
                      </li>
                    ))}
                  </ul>
                </details>
              )}
              <div className="dq-actions">
                {f.failures !== null && f.failures > 0 && !f.key.startsWith('outlier/') && !f.key.startsWith('timeliness/') && (
                  <Button variant="secondary" data-size="sm" onClick={() => onShowCases(f)}>
                    {t('dq.showCases')}
                  </Button>
                )}
                {canWrite && (
                  <>
                    <Textfield
                      label={t('dq.note')}
                      data-size="sm"
                      value={notes[f.key] ?? ''}
                      onChange={(e) => setNotes({ ...notes, [f.key]: e.target.value })}
                    />
                    <Button variant="secondary" data-size="sm" onClick={() => mark(f, 'followed-up')}>
                      {t('dq.markFollowedUp')}
                    </Button>
                    <Button variant="secondary" data-size="sm" onClick={() => mark(f, 'resolved')}>
                      {t('dq.markResolved')}
                    </Button>
                  </>
                )}
              </div>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/** The registrations behind a finding, within the caller's units, a page at a time (no cap: "show more" follows the cursor). */
function Cases({
  registry,
  finding,
  unit,
  year,
  onClose,
}: {
  registry: string;
  finding: Finding;
  unit: string;
  year: number;
  onClose(): void;
}) {
  const { t, lang } = useI18n();
  const cases = useApiPages(
    `/api/registries/${registry}/quality/cases?finding=${encodeURIComponent(finding.key)}&unit=${unit}&year=${year}&limit=50`,
    (p: { cases: Array<{ caseId: number; unit: string | null; periodDate: string | null; value: unknown }>; next: number | null }) =>
      p.cases,
  );
  const pages = cases.items;
  const loaded = cases.loaded;
  const error = cases.error;
  return (
    <section aria-labelledby="dq-cases" className="dq-cases">
      <Heading level={2} data-size="sm" id="dq-cases">
        {t('dq.casesTitle')}: {finding.label[lang]}
      </Heading>
      {error && (
        <Alert data-color="danger">
          <Paragraph>{error}</Paragraph>
        </Alert>
      )}
      {loaded && pages.length === 0 && <Paragraph>{t('dq.noCases')}</Paragraph>}
      {pages.length > 0 && (
        <Table zebra>
          <Table.Head>
            <Table.Row>
              <Table.HeaderCell scope="col">{t('dq.case')}</Table.HeaderCell>
              <Table.HeaderCell scope="col">{t('dq.unit')}</Table.HeaderCell>
              <Table.HeaderCell scope="col">{t('dq.date')}</Table.HeaderCell>
              <Table.HeaderCell scope="col">{t('dq.value')}</Table.HeaderCell>
            </Table.Row>
          </Table.Head>
          <Table.Body>
            {pages.map((c) => (
              <Table.Row key={c.caseId}>
                <Table.Cell>{c.caseId}</Table.Cell>
                <Table.Cell>{c.unit ?? '–'}</Table.Cell>
                <Table.Cell>{c.periodDate ?? '–'}</Table.Cell>
                <Table.Cell>{c.value === null || c.value === undefined ? '–' : String(c.value)}</Table.Cell>
              </Table.Row>
            ))}
          </Table.Body>
        </Table>
      )}
      <div className="dq-actions">
        {cases.more && loaded && (
          <Button variant="secondary" data-size="sm" onClick={cases.loadMore} loading={cases.loadingMore}>
            {t('dq.more')}
          </Button>
        )}
        <Button variant="tertiary" data-size="sm" onClick={onClose}>
          {t('stage.cancel')}
        </Button>
      </div>
    </section>
  );
}

interface CoverageRow {
  unit: string;
  name: string;
  level: string;
  year: number;
  bothNpr: number | null;
  onlyNpr: number | null;
  onlyRegistry: number | null;
  reserved: number | null;
  coverage: number | null;
  registryVsNpr: number | null;
  low: boolean;
  withheld?: boolean;
}
interface Episode {
  episodeId: string;
  nationalId: string;
  hospital: string;
  admissionDate: string;
  dischargeDate: string;
  icd10: string[];
  ncsp: string[];
}

export function Coverage() {
  const { t } = useI18n();
  return (
    <Gate title={t('cov.title')} roles={STAFF} refusal="dq.notStaff">
      <CoverageView />
    </Gate>
  );
}

function CoverageView() {
  const { t, lang } = useI18n();
  const { me } = useSession();
  const { registry, units, own, year, years, unit, setYear, setUnit } = useChoices();
  const cov = useApi<{ rows: CoverageRow[] }>(registry && unit ? `/api/registries/${registry}/coverage?unit=${unit}` : null);
  const rows = (cov.data?.rows ?? [])
    .slice()
    .sort((a, b) => b.year - a.year || (a.unit === unit ? -1 : b.unit === unit ? 1 : a.name.localeCompare(b.name)));
  const canWork = WRITERS.includes(me?.active?.role ?? '');
  return (
    <Page title={t('cov.title')}>
      <Paragraph>{t('cov.intro')}</Paragraph>
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <UnitPicker
          id="cov-unit"
          units={units.list}
          own={own}
          value={unit === units.nation?.resh ? '' : unit}
          onChange={(v) => setUnit(v || null)}
        />
      </form>
      {cov.error && (
        <Alert data-color="danger">
          <Paragraph>{cov.error}</Paragraph>
        </Alert>
      )}
      {cov.loading && <Spinner aria-label={t('common.loading')} />}
      {cov.data && rows.length === 0 && <Paragraph>{t('cov.none')}</Paragraph>}
      {rows.length > 0 && (
        <Table zebra className="dq-table">
          <caption>
            {t('cov.coverage')}: {unitName(units.byResh.get(unit), lang, unit, units.byResh)}
          </caption>
          <Table.Head>
            <Table.Row>
              <Table.HeaderCell scope="col">{t('cov.year')}</Table.HeaderCell>
              <Table.HeaderCell scope="col">{t('cov.unit')}</Table.HeaderCell>
              <Table.HeaderCell scope="col">{t('cov.both')}</Table.HeaderCell>
              <Table.HeaderCell scope="col">{t('cov.onlyNpr')}</Table.HeaderCell>
              <Table.HeaderCell scope="col">{t('cov.onlyRegistry')}</Table.HeaderCell>
              <Table.HeaderCell scope="col">{t('cov.reserved')}</Table.HeaderCell>
              <Table.HeaderCell scope="col">{t('cov.coverage')}</Table.HeaderCell>
              <Table.HeaderCell scope="col">{t('cov.registryVsNpr')}</Table.HeaderCell>
            </Table.Row>
          </Table.Head>
          <Table.Body>
            {rows.map((r) => (
              <Table.Row key={`${r.unit}-${r.year}`}>
                <Table.Cell>{r.year}</Table.Cell>
                <Table.Cell>{unitName(units.byResh.get(r.unit), lang, r.name, units.byResh)}</Table.Cell>
                <Table.Cell>{r.bothNpr ?? t('dq.withheld')}</Table.Cell>
                <Table.Cell>{r.onlyNpr ?? t('dq.withheld')}</Table.Cell>
                <Table.Cell>{r.onlyRegistry ?? t('dq.withheld')}</Table.Cell>
                <Table.Cell>{r.reserved ?? t('dq.withheld')}</Table.Cell>
                <Table.Cell>
                  <strong>{pct(r.coverage, lang)}</strong>
                  {r.low && (
                    <>
                      <br />
                      <strong className="low-coverage">⚠ {t('cov.low')}</strong>
                    </>
                  )}
                </Table.Cell>
                <Table.Cell>{pct(r.registryVsNpr, lang)}</Table.Cell>
              </Table.Row>
            ))}
          </Table.Body>
        </Table>
      )}
      <Heading level={2} data-size="sm">
        {t('cov.worklist')}
      </Heading>
      {/* A registrar's worklist is their own unit's (NPR names its hospital); an administrator's follows the chosen unit. */}
      {canWork ? (
        <Worklist registry={registry!} unit={own ?? unit} year={year} years={years} onYear={setYear} />
      ) : (
        <Paragraph>{t('cov.worklistOnlyWriters')}</Paragraph>
      )}
    </Page>
  );
}

function Worklist({
  registry,
  unit,
  year,
  years,
  onYear,
}: {
  registry: string;
  unit: string;
  year: string;
  years: string[];
  onYear(v: string): void;
}) {
  const { t } = useI18n();
  const units = useUnits();
  const list = useApiPages(
    registry && unit && year ? `/api/registries/${registry}/npr-worklist?unit=${unit}&year=${year}&limit=50` : null,
    (p: { episodes: Episode[]; next: number | null }) => p.episodes,
  );
  const episodes = list.items;
  return (
    <section aria-label={t('cov.worklist')}>
      <Paragraph>{t('cov.worklistIntro')}</Paragraph>
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <YearPicker id="wl-year" value={year} years={years} onChange={onYear} />
      </form>
      {list.error && (
        <Alert data-color="danger">
          <Paragraph>{list.error}</Paragraph>
        </Alert>
      )}
      {list.loading && <Spinner aria-label={t('common.loading')} />}
      {list.loaded && episodes.length === 0 && <Paragraph>{t('cov.noEpisodes')}</Paragraph>}
      {episodes.length > 0 && (
        <Table zebra className="dq-table">
          <caption>
            {t('cov.worklist')} {year}
          </caption>
          <Table.Head>
            <Table.Row>
              <Table.HeaderCell scope="col">{t('cov.episode')}</Table.HeaderCell>
              <Table.HeaderCell scope="col">{t('cov.nin')}</Table.HeaderCell>
              <Table.HeaderCell scope="col">{t('cov.hospital')}</Table.HeaderCell>
              <Table.HeaderCell scope="col">{t('cov.admission')}</Table.HeaderCell>
              <Table.HeaderCell scope="col">{t('cov.discharge')}</Table.HeaderCell>
              <Table.HeaderCell scope="col">{t('cov.codes')}</Table.HeaderCell>
            </Table.Row>
          </Table.Head>
          <Table.Body>
            {episodes.map((e) => (
              <Table.Row key={e.episodeId}>
                <Table.Cell>{e.episodeId}</Table.Cell>
                <Table.Cell>{e.nationalId}</Table.Cell>
                <Table.Cell>{units.byResh.get(e.hospital)?.name.nb ?? e.hospital}</Table.Cell>
                <Table.Cell>{e.admissionDate}</Table.Cell>
                <Table.Cell>{e.dischargeDate}</Table.Cell>
                <Table.Cell>{[...e.icd10, ...e.ncsp].join(', ')}</Table.Cell>
              </Table.Row>
            ))}
          </Table.Body>
        </Table>
      )}
      {list.more && (
        <Button variant="secondary" data-size="sm" onClick={list.loadMore} loading={list.loadingMore}>
          {t('dq.more')}
        </Button>
      )}
    </section>
  );
}

interface StageItem {
  nr: number;
  stage: number | null;
  level: 'A' | 'B' | null;
  chapter: string;
  text: string;
  evidenceKind: string;
  computed: { value: boolean | null; detail: string } | null;
  answer: { answer: boolean; evidence: string; note: string; actor: string; at: string } | null;
  met: boolean;
}
interface StageAssessment {
  year: number;
  items: StageItem[];
  stage: number;
  level: string;
  verdict: string;
}

export function Stage() {
  const { t } = useI18n();
  return (
    <Gate title={t('stage.title')} roles={ADMINS} refusal="stage.notAdmin">
      <StageView />
    </Gate>
  );
}

function StageView() {
  const { t, lang } = useI18n();
  const { registry, year, years, setYear } = useChoices();
  const stage = useApi<StageAssessment>(registry && year ? `/api/registries/${registry}/stage?year=${year}` : null);
  const [editing, setEditing] = useState<StageItem | null>(null);
  const yes = (v: boolean | null | undefined) =>
    v === true ? `● ${t('stage.yes')}` : v === false ? `○ ${t('stage.no')}` : t('stage.unknown');
  const s = stage.data;
  return (
    <Page title={t('stage.title')}>
      <Paragraph>{t('stage.intro')}</Paragraph>
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <YearPicker id="stage-year" value={year} years={years} onChange={setYear} />
      </form>
      {stage.error && (
        <Alert data-color="danger">
          <Paragraph>{stage.error}</Paragraph>
        </Alert>
      )}
      {stage.loading && <Spinner aria-label={t('common.loading')} />}
      {s && (
        <>
          <Heading level={2} data-size="md" className="stage-verdict">
            {t('stage.verdict')} {s.year}: {s.verdict} ({t('stage.stage')} {s.stage}, {t('stage.levelWord')} {s.level})
          </Heading>
          {editing && registry && <StageAnswer registry={registry} year={s.year} item={editing} onDone={() => setEditing(null)} />}
          <Table zebra className="dq-table">
            <caption>
              {t('stage.title')} {s.year}
            </caption>
            <Table.Head>
              <Table.Row>
                <Table.HeaderCell scope="col">{t('stage.nr')}</Table.HeaderCell>
                <Table.HeaderCell scope="col">{t('stage.level')}</Table.HeaderCell>
                <Table.HeaderCell scope="col">{t('stage.requirement')}</Table.HeaderCell>
                <Table.HeaderCell scope="col">{t('stage.chapter')}</Table.HeaderCell>
                <Table.HeaderCell scope="col">{t('stage.platform')}</Table.HeaderCell>
                <Table.HeaderCell scope="col">{t('stage.registry')}</Table.HeaderCell>
                <Table.HeaderCell scope="col">{t('stage.met')}</Table.HeaderCell>
              </Table.Row>
            </Table.Head>
            <Table.Body>
              {s.items.map((i) => (
                <Table.Row key={i.nr}>
                  <Table.Cell>{i.nr}</Table.Cell>
                  <Table.Cell>{i.stage ? `${t('stage.stage')} ${i.stage}` : `${t('stage.levelWord')} ${i.level}`}</Table.Cell>
                  <Table.Cell>{i.text}</Table.Cell>
                  <Table.Cell>{i.chapter}</Table.Cell>
                  <Table.Cell>
                    {i.computed ? (
                      <>
                        {yes(i.computed.value)}
                        <br />
                        <span className="dq-detail">{i.computed.detail}</span>
                      </>
                    ) : (
                      '–'
                    )}
                  </Table.Cell>
                  <Table.Cell>
                    {i.answer ? (
                      <>
                        {yes(i.answer.answer)}
                        {i.answer.evidence && (
                          <>
                            <br />
                            {/^https?:\/\//.test(i.answer.evidence) ? (
                              <a href={i.answer.evidence}>{t('stage.evidence')}</a>
                            ) : (
                              <span className="dq-detail">{i.answer.evidence}</span>
                            )}
                          </>
                        )}
                      </>
                    ) : (
                      t('stage.unknown')
                    )}
                    {(!i.computed || i.computed.value === null) && (
                      <>
                        <br />
                        <Button
                          variant="tertiary"
                          data-size="sm"
                          onClick={() => setEditing(i)}
                          aria-label={`${t('stage.answerFor')} ${i.nr}`}
                        >
                          {t('stage.answer')}
                        </Button>
                      </>
                    )}
                  </Table.Cell>
                  <Table.Cell>
                    <strong>{yes(i.met)}</strong>
                  </Table.Cell>
                </Table.Row>
              ))}
            </Table.Body>
          </Table>
          <Paragraph data-size="sm">{formatDateTime(new Date().toISOString(), lang)}</Paragraph>
        </>
      )}
    </Page>
  );
}

function StageAnswer({ registry, year, item, onDone }: { registry: string; year: number; item: StageItem; onDone(): void }) {
  const { t, tryT } = useI18n();
  const [answer, setAnswer] = useState<'yes' | 'no'>(item.answer?.answer === false ? 'no' : 'yes');
  const [evidence, setEvidence] = useState(item.answer?.evidence ?? '');
  const [note, setNote] = useState(item.answer?.note ?? '');
  const invalidate = useInvalidate();
  // An answer changes the assessment: read it again, then close the form.
  const saving = useMutation({
    mutationFn: () =>
      api(`/api/registries/${registry}/stage/answers`, {
        method: 'POST',
        body: { year, nr: item.nr, answer: answer === 'yes', evidence, note },
      }),
    onSuccess: async () => {
      await invalidate(`/api/registries/${registry}/stage`);
      onDone();
    },
  });
  const error = saving.error ? errorText(saving.error, tryT) : null;
  return (
    <form
      className="stage-answer"
      aria-label={`${t('stage.answerFor')} ${item.nr}`}
      onSubmit={(e) => {
        e.preventDefault();
        saving.mutate();
      }}
    >
      <Heading level={2} data-size="xs">
        {t('stage.answerFor')} {item.nr}: {item.text}
      </Heading>
      <Fieldset>
        <Fieldset.Legend>{t('stage.answer')}</Fieldset.Legend>
        <Radio label={t('stage.yes')} name="stage-answer" value="yes" checked={answer === 'yes'} onChange={() => setAnswer('yes')} />
        <Radio label={t('stage.no')} name="stage-answer" value="no" checked={answer === 'no'} onChange={() => setAnswer('no')} />
      </Fieldset>
      <Textfield label={t('stage.link')} value={evidence} onChange={(e) => setEvidence(e.target.value)} />
      <Textfield label={t('dq.note')} value={note} onChange={(e) => setNote(e.target.value)} />
      {error && (
        <Alert data-color="danger">
          <Paragraph>{error}</Paragraph>
        </Alert>
      )}
      <div className="dq-actions">
        <Button type="submit">{t('stage.save')}</Button>
        <Button variant="tertiary" onClick={onDone}>
          {t('stage.cancel')}
        </Button>
      </div>
    </form>
  );
}

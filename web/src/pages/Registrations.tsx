// Registrations: the unit's worklist as a registrar works it — search (case number, record number,
// code), filters (form, missing variable, date), sort, paging and export — each row saying who and
// what the case is about and which form (which injury) has which problem; the reviewed bulk finalise
// of complete registrations; the registrations per month; and a case's own page (Case.tsx).
import { Alert, Button, Checkbox, Field, Heading, Input, Label, Paragraph, Select, Spinner, Table } from '@digdir/designsystemet-react';
import { useMutation } from '@tanstack/react-query';
import { useState } from 'react';
import { api } from '../api.ts';
import { personText, valueText, type CaseHeaderView } from '../components/CaseHeader.tsx';
import { Page } from '../components/Page.tsx';
import { ScrollTable } from '../components/ScrollTable.tsx';
import { UnitField } from '../components/UnitCombobox.tsx';
import { YearPicker } from '../components/YearPicker.tsx';
import { useCodebook } from '../codebook.ts';
import { pct, unitName, useApi, useOwnUnit, useRegistryId, useUnits, type Text } from '../data.tsx';
import { dateShort } from '../dates.ts';
import { errorText, fill } from '../errors.ts';
import { useI18n, type Key } from '../i18n.tsx';
import { useInvalidate } from '../query.ts';
import { usePageScope } from '../scope.ts';
import { Link, useQuery, useRoute } from '../router.tsx';
import { useSession } from '../session.tsx';
import { CasePage } from './Case.tsx';

interface Finding {
  rule: string;
  severity: 'error' | 'warning';
  variables: string[];
  message: Text;
}
interface Problem {
  form: string;
  instance: string;
  status: string;
  title: Text;
  missing: Array<{ variable: string; label: Text }>;
  findings: Finding[];
}
interface Row {
  caseId: number;
  unit: string | null;
  createdAt: string;
  date: string | null;
  header: CaseHeaderView | null;
  problems: Problem[];
  forms: { total: number; finalised: number };
}
interface Rows {
  total: number;
  rows: Row[];
}

const PAGE = 25;
const WRITERS = ['unit-registrar', 'registry-admin', 'platform-admin'];
const SORTS = ['created', '-created', 'date', '-date', '-missing', 'case'] as const;
const FILTERS = ['q', 'form', 'variable', 'from', 'to', 'sort', 'unit'] as const;

export function Registrations() {
  const { t } = useI18n();
  const { me, loading } = useSession();
  const q = useQuery();
  const caseId = q.get('case');
  if (loading)
    return (
      <Page title={t('reg.title')}>
        <Spinner aria-label={t('common.loading')} />
      </Page>
    );
  if (!me?.active || !['unit-registrar', 'unit-reader', 'registry-admin', 'platform-admin'].includes(me.active.role)) {
    return (
      <Page title={t('reg.title')}>
        <Alert data-color="info">
          <Paragraph>{t('reg.notAllowed')}</Paragraph>
        </Alert>
      </Page>
    );
  }
  return caseId ? <CasePage caseId={caseId} /> : <WorklistPage />;
}

/** The worklist's query from the URL (so a filtered list can be shared), with the own unit by default. */
function useFilters(own: string | null) {
  const q = useQuery();
  const params = new URLSearchParams();
  for (const k of FILTERS) {
    const v = q.get(k);
    if (v) params.set(k, v);
  }
  if (!params.get('unit') && own) params.set('unit', own);
  return { q, params };
}

function WorklistPage() {
  const { t, lang } = useI18n();
  const { me } = useSession();
  const registry = useRegistryId();
  const own = useOwnUnit();
  const units = useUnits();
  const { q, params } = useFilters(own);
  const { setQuery } = useRoute();
  const offset = Math.max(0, Number(q.get('offset') ?? 0) || 0);
  const base = registry ? `/api/registries/${registry}/worklist` : null;
  const list = useApi<Rows>(base ? `${base}/rows?${params}&limit=${PAGE}&offset=${offset}` : null);
  const codebook = useCodebook(registry);
  const canWrite = !!me?.active && WRITERS.includes(me.active.role);
  const form = q.get('form') ?? '';
  const variables = (codebook.data?.forms ?? [])
    .filter((f) => !form || f.id === form)
    .flatMap((f) => f.variables.filter((v) => v.required !== false).map((v) => ({ f, v })));
  const [search, setSearch] = useState(q.get('q') ?? '');
  const total = list.data?.total ?? 0;
  const set = (updates: Record<string, string | null>) => setQuery({ ...updates, offset: null });
  return (
    <Page title={t('reg.title')}>
      <Paragraph>
        {t('reg.intro')}{' '}
        {params.get('unit')
          ? `${unitName(units.byResh.get(params.get('unit')!), lang, params.get('unit')!, units.byResh)}.`
          : t('wl.allUnits')}
      </Paragraph>
      {canWrite && (
        <Paragraph>
          <Link to="/registrations/new" className="ds-link">
            {t('manual.start')}
          </Link>{' '}
          · <Link to={`/print?form=blank${registry ? `&registry=${registry}` : ''}`}>{t('print.blank')}</Link>
        </Paragraph>
      )}
      <form
        className="filters worklist-filters"
        aria-label={t('wl.tools')}
        onSubmit={(e) => {
          e.preventDefault();
          set({ q: search.trim() || null });
        }}
      >
        <Field>
          <Label htmlFor="wl-search">{t('wl.search')}</Label>
          <Input
            id="wl-search"
            type="search"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
            aria-describedby="wl-search-help"
          />
          <p id="wl-search-help" className="field-help">
            {t('wl.searchHelp')}
          </p>
        </Field>
        <Field>
          <Label htmlFor="wl-form">{t('wl.form')}</Label>
          <Select id="wl-form" value={form} onChange={(e) => set({ form: e.target.value || null, variable: null })}>
            <Select.Option value="">{t('wl.allForms')}</Select.Option>
            {(codebook.data?.forms ?? []).map((f) => (
              <Select.Option key={f.id} value={f.id}>
                {f.title[lang]}
              </Select.Option>
            ))}
          </Select>
        </Field>
        <Field>
          <Label htmlFor="wl-variable">{t('wl.variable')}</Label>
          <Select id="wl-variable" value={q.get('variable') ?? ''} onChange={(e) => set({ variable: e.target.value || null })}>
            <Select.Option value="">{t('wl.anyVariable')}</Select.Option>
            {variables.map(({ f, v }) => (
              <Select.Option key={v.id} value={v.id}>
                {form ? v.label[lang] : `${f.title[lang]}: ${v.label[lang]}`}
              </Select.Option>
            ))}
          </Select>
        </Field>
        <Field>
          <Label htmlFor="wl-from">{t('wl.from')}</Label>
          <Input id="wl-from" type="date" value={q.get('from') ?? ''} onChange={(e) => set({ from: e.target.value || null })} />
        </Field>
        <Field>
          <Label htmlFor="wl-to">{t('wl.to')}</Label>
          <Input id="wl-to" type="date" value={q.get('to') ?? ''} onChange={(e) => set({ to: e.target.value || null })} />
        </Field>
        <Field>
          <Label htmlFor="wl-sort">{t('wl.sort')}</Label>
          <Select
            id="wl-sort"
            value={q.get('sort') ?? 'created'}
            onChange={(e) => set({ sort: e.target.value === 'created' ? null : e.target.value })}
          >
            {SORTS.map((s) => (
              <Select.Option key={s} value={s}>
                {t(`wl.sort.${s}` as Key)}
              </Select.Option>
            ))}
          </Select>
        </Field>
        {(me?.active?.role === 'registry-admin' || me?.active?.role === 'platform-admin') && (
          <UnitField id="wl-unit" value={q.get('unit') ?? ''} onChange={(v) => set({ unit: v || null })} none={t('wl.allUnits')} />
        )}
        <div className="filter-actions">
          <Button type="submit" data-size="sm">
            {t('wl.apply')}
          </Button>
          <Button
            type="button"
            variant="tertiary"
            data-size="sm"
            onClick={() => {
              setSearch('');
              setQuery(Object.fromEntries([...FILTERS, 'offset'].map((k) => [k, null])));
            }}
          >
            {t('wl.clear')}
          </Button>
        </div>
      </form>
      {list.error && (
        <Alert data-color="danger">
          <Paragraph>{list.error}</Paragraph>
        </Alert>
      )}
      {list.loading && <Spinner aria-label={t('common.loading')} />}
      {list.data && (
        <section aria-labelledby="worklist-heading">
          <Heading level={2} data-size="sm" id="worklist-heading">
            {t('reg.worklist')}
          </Heading>
          <Paragraph data-testid="worklist-total">{total === 0 ? t('reg.empty') : `${total} ${t('reg.casesMissing')}`}</Paragraph>
          {base && total > 0 && (
            <Paragraph data-size="sm">
              {t('wl.export')}:{' '}
              <a href={`${base}/export.csv?${params}&lang=${lang}`} download>
                CSV
              </a>{' '}
              ·{' '}
              <a href={`${base}/export.xlsx?${params}&lang=${lang}`} download>
                XLSX
              </a>
            </Paragraph>
          )}
          {total > 0 && (
            <WorklistTable
              rows={list.data.rows}
              caption={`${t('reg.worklist')} (${offset + 1}–${Math.min(offset + PAGE, total)} / ${total})`}
            />
          )}
          <nav aria-label={t('reg.pages')} className="pager">
            {offset > 0 && (
              <Button variant="secondary" data-size="sm" onClick={() => setQuery({ offset: String(Math.max(0, offset - PAGE)) })}>
                {t('reg.previous')}
              </Button>
            )}
            {offset + PAGE < total && (
              <Button variant="secondary" data-size="sm" onClick={() => setQuery({ offset: String(offset + PAGE) })}>
                {t('reg.next')}
              </Button>
            )}
          </nav>
        </section>
      )}
      {canWrite && registry && <BulkFinalise registry={registry} params={params} />}
      {registry && <MonthlySummary registry={registry} unit={params.get('unit')} />}
    </Page>
  );
}

/** The rows: who and what (the header), the date, and each form's (each instance's) problems. */
function WorklistTable({ rows, caption, problems = true }: { rows: Row[]; caption: string; problems?: boolean }) {
  const { t, lang } = useI18n();
  const units = useUnits();
  return (
    <ScrollTable label={caption}>
      <Table zebra className="worklist-table">
        <caption>{caption}</caption>
        <Table.Head>
          <Table.Row>
            <Table.HeaderCell scope="col">{t('reg.case')}</Table.HeaderCell>
            <Table.HeaderCell scope="col">{t('wl.date')}</Table.HeaderCell>
            <Table.HeaderCell scope="col">{problems ? t('reg.missing') : t('wl.formsFinalised')}</Table.HeaderCell>
          </Table.Row>
        </Table.Head>
        <Table.Body>
          {rows.map((it) => (
            <Table.Row key={it.caseId} data-case={it.caseId}>
              <Table.HeaderCell scope="row">
                <Link to={`/registrations?case=${it.caseId}`}>
                  {t('reg.open')} {it.caseId}
                </Link>
                {it.header && (
                  <div className="worklist-who" data-testid="row-person">
                    {personText(it.header.person, t)}
                  </div>
                )}
                {it.header && (
                  <div className="worklist-what">
                    {[
                      ...it.header.values.filter((v) => v.value !== null).map((v) => `${v.label[lang]}: ${valueText(v, lang)}`),
                      it.header.unit ? unitName(units.byResh.get(it.header.unit), lang, it.header.unit, units.byResh) : null,
                    ]
                      .filter(Boolean)
                      .join(' · ')}
                  </div>
                )}
              </Table.HeaderCell>
              <Table.Cell>{dateShort(it.date, lang)}</Table.Cell>
              <Table.Cell>
                {problems
                  ? it.problems.map((p) => (
                      <div key={p.form + p.instance} data-problem={`${p.form}${p.instance ? `/${p.instance}` : ''}`}>
                        <strong>{p.title[lang]}:</strong>{' '}
                        {[
                          ...p.missing.map((m) => `${t('wl.missingWord')} ${m.label[lang].toLowerCase()}`),
                          ...p.findings.map((x) => `${x.severity === 'error' ? t('reg.error') : t('reg.warning')}: ${x.message[lang]}`),
                        ].join('; ')}
                      </div>
                    ))
                  : fill(t('patients.formsStatus'), { finalised: it.forms.finalised, total: it.forms.total })}
              </Table.Cell>
            </Table.Row>
          ))}
        </Table.Body>
      </Table>
    </ScrollTable>
  );
}

/**
 * The complete registrations not yet finalised, for the registrar to review and finalise at once:
 * the list (and its export) first, a confirmation that it was reviewed, then finalised in batches
 * with progress; what changed since the review is left alone and reported.
 */
function BulkFinalise({ registry, params }: { registry: string; params: URLSearchParams }) {
  const { t, tryT } = useI18n();
  const filter = new URLSearchParams(params);
  filter.delete('form');
  filter.delete('variable');
  const base = `/api/registries/${registry}/worklist`;
  const list = useApi<Rows>(`${base}/rows?status=finalisable&${filter}&limit=${PAGE}`);
  const [reviewed, setReviewed] = useState(false);
  const [progress, setProgress] = useState<{ done: number; of: number } | null>(null);
  const invalidate = useInvalidate();
  // The ids are read fresh (never from the cache) when the registrar confirms; a case changed since
  // the review is left alone by the platform and counted as skipped.
  const finalise = useMutation({
    mutationFn: async () => {
      const { ids, batch } = await api<{ ids: number[]; batch: number }>(`${base}/finalisable-ids?${filter}`);
      let finalised = 0,
        skipped = 0;
      setProgress({ done: 0, of: ids.length });
      for (let i = 0; i < ids.length; i += batch) {
        const r = await api<{ finalisedCases: number[]; skipped: unknown[] }>(`/api/registries/${registry}/finalise`, {
          method: 'POST',
          body: { caseIds: ids.slice(i, i + batch) },
        });
        finalised += r.finalisedCases.length;
        skipped += r.skipped.length;
        setProgress({ done: Math.min(i + batch, ids.length), of: ids.length });
      }
      return { finalised, skipped };
    },
    onSuccess: () => setReviewed(false),
    // Also after a failure part-way: the batches before it were finalised.
    onSettled: async () => {
      setProgress(null);
      await invalidate(
        base,
        `/api/registries/${registry}/cases/`,
        `/api/registries/${registry}/registrations`,
        `/api/registries/${registry}/quality`,
        '/api/patients/',
      );
    },
  });
  const result = finalise.data ?? null;
  const error = finalise.error ? errorText(finalise.error, tryT) : null;
  const total = list.data?.total ?? 0;
  const run = () => finalise.mutate();
  return (
    <section aria-labelledby="bulk-heading" className="bulk-finalise">
      <Heading level={2} data-size="sm" id="bulk-heading">
        {t('bulk.title')}
      </Heading>
      <Paragraph>{t('bulk.intro')}</Paragraph>
      {list.error && (
        <Alert data-color="danger">
          <Paragraph>{list.error}</Paragraph>
        </Alert>
      )}
      {list.data && (
        <Paragraph data-testid="finalisable-total">{total === 0 ? t('bulk.none') : fill(t('bulk.count'), { n: total })}</Paragraph>
      )}
      {list.data && total > 0 && (
        <>
          <Paragraph data-size="sm">
            {t('bulk.reviewAll')}{' '}
            <a href={`${base}/export.csv?status=finalisable&${filter}`} download>
              CSV
            </a>{' '}
            ·{' '}
            <a href={`${base}/export.xlsx?status=finalisable&${filter}`} download>
              XLSX
            </a>
          </Paragraph>
          <WorklistTable
            rows={list.data.rows}
            problems={false}
            caption={fill(t('bulk.caption'), { shown: list.data.rows.length, n: total })}
          />
          <Checkbox
            label={fill(t('bulk.confirm'), { n: total })}
            checked={reviewed}
            onChange={(e) => setReviewed(e.target.checked)}
            value="reviewed"
          />
          <Button onClick={run} disabled={!reviewed || finalise.isPending} loading={finalise.isPending}>
            {fill(t('bulk.button'), { n: total })}
          </Button>
        </>
      )}
      <div role="status" aria-live="polite">
        {progress && (
          <Paragraph>
            {fill(t('bulk.progress'), { done: progress.done, of: progress.of })}{' '}
            <progress value={progress.done} max={progress.of} aria-label={t('bulk.title')} />
          </Paragraph>
        )}
        {result && (
          <Alert data-color="success">
            <Paragraph data-testid="bulk-result">
              {fill(t('bulk.done'), { n: result.finalised })}
              {result.skipped ? ` ${fill(t('bulk.skipped'), { n: result.skipped })}` : ''}
            </Paragraph>
          </Alert>
        )}
      </div>
      {error && (
        <Alert data-color="danger">
          <Paragraph>{error}</Paragraph>
        </Alert>
      )}
    </section>
  );
}

interface MonthSummary {
  month: string;
  cases: number;
  complete: number;
  finalised: number;
  forms: { draft: number; finalised: number; reopened: number };
}

/** Registrations per month for the unit: cases, how many complete and finalised, forms by status. */
function MonthlySummary({ registry, unit }: { registry: string; unit: string | null }) {
  const { t, lang } = useI18n();
  // The year as on every page (scope.ts); the unit is the worklist's (its filter, the own unit by default).
  const scope = usePageScope();
  const { years, setYear } = scope;
  const year = scope.year ?? '';
  const data = useApi<MonthSummary[]>(
    year ? `/api/registries/${registry}/registrations/summary?year=${year}${unit ? `&unit=${unit}` : ''}` : null,
  );
  const share = (n: number, of: number) => (of ? `${n} (${pct(n / of, lang, 0)})` : '–');
  const monthName = (m: string) =>
    new Intl.DateTimeFormat(lang === 'nb' ? 'nb-NO' : 'en-GB', { month: 'long', year: 'numeric', timeZone: 'UTC' }).format(
      new Date(`${m}-01T00:00:00Z`),
    );
  return (
    <section aria-labelledby="per-month">
      <Heading level={2} data-size="sm" id="per-month">
        {t('reg.perMonth')}
      </Heading>
      <YearPicker id="summary-year" className="year-field" value={year} onChange={setYear} years={years} />
      {data.error && (
        <Alert data-color="danger">
          <Paragraph>{data.error}</Paragraph>
        </Alert>
      )}
      {data.data && data.data.length === 0 && <Paragraph>{t('reg.noneThisYear')}</Paragraph>}
      {data.data && data.data.length > 0 && (
        <ScrollTable label={t('reg.perMonthCaption')}>
          <Table zebra className="summary-table" data-testid="summary-table">
            <caption>
              {t('reg.perMonthCaption')} {year}
            </caption>
            <Table.Head>
              <Table.Row>
                {(
                  [
                    'reg.month',
                    'reg.cases',
                    'reg.complete',
                    'reg.finalisedCases',
                    'status.draft',
                    'status.finalised',
                    'status.reopened',
                  ] as Key[]
                ).map((k) => (
                  <Table.HeaderCell scope="col" key={k}>
                    {t(k)}
                  </Table.HeaderCell>
                ))}
              </Table.Row>
            </Table.Head>
            <Table.Body>
              {data.data.map((m) => (
                <Table.Row key={m.month}>
                  <Table.HeaderCell scope="row">{monthName(m.month)}</Table.HeaderCell>
                  <Table.Cell>{m.cases}</Table.Cell>
                  <Table.Cell>{share(m.complete, m.cases)}</Table.Cell>
                  <Table.Cell>{share(m.finalised, m.cases)}</Table.Cell>
                  <Table.Cell>{m.forms.draft}</Table.Cell>
                  <Table.Cell>{m.forms.finalised}</Table.Cell>
                  <Table.Cell>{m.forms.reopened}</Table.Cell>
                </Table.Row>
              ))}
            </Table.Body>
          </Table>
        </ScrollTable>
      )}
    </section>
  );
}

// Registrations: the unit's worklist (cases with missing or invalid data), and a case's forms,
// each a completion form generated from the codebook, with save, finalise and reopen; the status
// (draft, finalised shown green, reopened) and the API's validation messages.
import { Alert, Button, Card, Field, Heading, Input, Label, Paragraph, Select, Spinner, Table, ValidationMessage } from '@digdir/designsystemet-react';
import { useEffect, useRef, useState } from 'react';
import { api, ApiError } from '../api.ts';
import { errorText, fill } from '../errors.ts';
import { Page } from '../components/Page.tsx';
import { YearPicker } from '../components/YearPicker.tsx';
import { pct, unitName, useApi, useDataYears, useOwnUnit, useRegistryId, useUnits, type Text } from '../data.tsx';
import { formatDateTime, useI18n, type Key } from '../i18n.tsx';
import { Link, useQuery, useRoute } from '../router.tsx';
import { useSession } from '../session.tsx';

interface Codebook {
  forms: Array<{ id: string; title: Text; description: Text | null; repeating: boolean;
    variables: Array<{ id: string; type: string; label: Text; description: Text; codelist: string | null; unit: string | null; range: { min?: number; max?: number } | null; required: boolean | 'conditional' }> }>;
  codelists: Array<{ id: string; title: Text; codes: Array<{ code: string; display: Text }> }>;
}
interface Finding { rule: string; severity: 'error' | 'warning'; variables: string[]; message: Text }
interface CaseForm { form: string; instance: string; status: 'draft' | 'finalised' | 'reopened'; data: Record<string, unknown>; missing: string[]; findings: Finding[]; version: number; updated_at: string }
interface CaseView { id: number; unit: string | null; createdAt: string; updatedAt: string; person: { birthDate: string | null; sex: string | null }; forms: CaseForm[];
  /** Registries that group cases into events: the event's id (e.g. the trauma ID) and whether this registration counts. */
  event?: { label: Text; id: string | null; invalidReason: string | null; mergedInto: number | null } }
interface Worklist { total: number | string; items: Array<{ caseId: number; unit: string | null; createdAt: string; forms: Array<{ form: string; instance: string; status: string; missing: string[]; findings: Finding[] }> }> }

const PAGE = 25;
const WRITERS = ['unit-registrar', 'registry-admin', 'platform-admin'];

export function Registrations() {
  const { t } = useI18n();
  const { me, loading } = useSession();
  const q = useQuery();
  const caseId = q.get('case');
  if (loading) return <Page title={t('reg.title')}><Spinner aria-label={t('common.loading')} /></Page>;
  if (!me?.active || !['unit-registrar', 'unit-reader', 'registry-admin', 'platform-admin'].includes(me.active.role)) {
    return <Page title={t('reg.title')}><Alert data-color="info"><Paragraph>{t('reg.notAllowed')}</Paragraph></Alert></Page>;
  }
  return caseId ? <CasePage caseId={caseId} /> : <WorklistPage />;
}

function useCodebook(registry: string | null) {
  return useApi<Codebook>(registry ? `/api/registries/${registry}/codebook` : null);
}

function WorklistPage() {
  const { t, lang } = useI18n();
  const registry = useRegistryId();
  const own = useOwnUnit();
  const units = useUnits();
  const q = useQuery();
  const { setQuery } = useRoute();
  const offset = Math.max(0, Number(q.get('offset') ?? 0) || 0);
  const list = useApi<Worklist>(registry ? `/api/registries/${registry}/worklist?limit=${PAGE}&offset=${offset}${own ? `&unit=${own}` : ''}` : null);
  const codebook = useCodebook(registry);
  const label = (form: string, v: string) => codebook.data?.forms.find((f) => f.id === form)?.variables.find((x) => x.id === v)?.label[lang] ?? v;
  const formTitle = (form: string) => codebook.data?.forms.find((f) => f.id === form)?.title[lang] ?? form;
  const total = Number(list.data?.total ?? 0);
  return (
    <Page title={t('reg.title')}>
      <Paragraph>{t('reg.intro')}{own ? ` ${unitName(units.byResh.get(own), lang, own, units.byResh)}.` : ''}</Paragraph>
      {registry && <MonthlySummary registry={registry} unit={own} />}
      {list.error && <Alert data-color="danger"><Paragraph>{list.error}</Paragraph></Alert>}
      {list.loading && <Spinner aria-label={t('common.loading')} />}
      {list.data && (
        <>
          <Paragraph data-testid="worklist-total">{total === 0 ? t('reg.empty') : `${total} ${t('reg.casesMissing')}`}</Paragraph>
          {total > 0 && (
            <Table zebra className="worklist-table">
              <caption>{t('reg.worklist')} ({offset + 1}–{Math.min(offset + PAGE, total)} / {total})</caption>
              <Table.Head><Table.Row>
                <Table.HeaderCell scope="col">{t('reg.case')}</Table.HeaderCell>
                <Table.HeaderCell scope="col">{t('reg.created')}</Table.HeaderCell>
                <Table.HeaderCell scope="col">{t('reg.missing')}</Table.HeaderCell>
              </Table.Row></Table.Head>
              <Table.Body>{list.data.items.map((it) => (
                <Table.Row key={it.caseId}>
                  <Table.HeaderCell scope="row"><Link to={`/registrations?case=${it.caseId}`}>{t('reg.open')} {it.caseId}</Link></Table.HeaderCell>
                  <Table.Cell>{formatDateTime(it.createdAt, lang)}</Table.Cell>
                  <Table.Cell>{it.forms.map((f) => (
                    <div key={f.form + f.instance}><strong>{formTitle(f.form)}:</strong> {[...f.missing.map((m) => label(f.form, m)), ...f.findings.map((x) => x.message[lang])].join(', ')}</div>
                  ))}</Table.Cell>
                </Table.Row>
              ))}</Table.Body>
            </Table>
          )}
          <nav aria-label={t('reg.pages')} className="pager">
            {offset > 0 && <Button variant="secondary" data-size="sm" onClick={() => setQuery({ offset: String(Math.max(0, offset - PAGE)) })}>{t('reg.previous')}</Button>}
            {offset + PAGE < total && <Button variant="secondary" data-size="sm" onClick={() => setQuery({ offset: String(offset + PAGE) })}>{t('reg.next')}</Button>}
          </nav>
        </>
      )}
    </Page>
  );
}

interface MonthSummary { month: string; cases: number; complete: number; finalised: number; forms: { draft: number; finalised: number; reopened: number } }

/** Registrations per month for the unit: cases, how many complete and finalised, forms by status. */
function MonthlySummary({ registry, unit }: { registry: string; unit: string | null }) {
  const { t, lang } = useI18n();
  const q = useQuery();
  const { setQuery } = useRoute();
  const { years, defaultYear } = useDataYears(registry);
  const year = q.get('year') ?? defaultYear ?? '';
  const data = useApi<MonthSummary[]>(year ? `/api/registries/${registry}/registrations/summary?year=${year}${unit ? `&unit=${unit}` : ''}` : null);
  const share = (n: number, of: number) => (of ? `${n} (${pct(n / of, lang, 0)})` : '–');
  const monthName = (m: string) => new Intl.DateTimeFormat(lang === 'nb' ? 'nb-NO' : 'en-GB', { month: 'long', year: 'numeric', timeZone: 'UTC' }).format(new Date(`${m}-01T00:00:00Z`));
  return (
    <section aria-labelledby="per-month">
      <Heading level={2} data-size="sm" id="per-month">{t('reg.perMonth')}</Heading>
      <YearPicker id="summary-year" className="year-field" value={year} onChange={(v) => setQuery({ year: v })} years={years} />
      {data.error && <Alert data-color="danger"><Paragraph>{data.error}</Paragraph></Alert>}
      {data.data && data.data.length === 0 && <Paragraph>{t('reg.noneThisYear')}</Paragraph>}
      {data.data && data.data.length > 0 && (
        <Table zebra className="summary-table" data-testid="summary-table">
          <caption>{t('reg.perMonthCaption')} {year}</caption>
          <Table.Head><Table.Row>
            {(['reg.month', 'reg.cases', 'reg.complete', 'reg.finalisedCases', 'status.draft', 'status.finalised', 'status.reopened'] as Key[]).map((k) => <Table.HeaderCell scope="col" key={k}>{t(k)}</Table.HeaderCell>)}
          </Table.Row></Table.Head>
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
      )}
    </section>
  );
}

function CasePage({ caseId }: { caseId: string }) {
  const { t, tryT, lang } = useI18n();
  const registry = useRegistryId();
  const codebook = useCodebook(registry);
  const [view, setView] = useState<CaseView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = () => {
    if (!registry) return;
    api<CaseView>(`/api/registries/${registry}/cases/${caseId}`).then(setView, (err) => setError(errorText(err, tryT)));
  };
  useEffect(load, [registry, caseId]);
  const units = useUnits();
  // Forms in the codebook's order (the catalogue's: trauma period first), instances numbered.
  const order = (f: CaseForm) => codebook.data?.forms.findIndex((d) => d.id === f.form) ?? 0;
  const forms = view ? [...view.forms].sort((a, b) => order(a) - order(b) || a.instance.localeCompare(b.instance)) : [];
  const titles = new Map(forms.map((f) => [f.form + f.instance, instanceTitle(f, forms, codebook.data, lang)]));
  const formTitle = (f: CaseForm) => titles.get(f.form + f.instance) ?? f.form;
  return (
    <Page title={`${t('reg.caseTitle')} ${caseId}`}>
      <Paragraph><Link to="/registrations">{t('reg.back')}</Link></Paragraph>
      {error && <Alert data-color="danger"><Paragraph>{error}</Paragraph></Alert>}
      {(!view || !codebook.data) && !error && <Spinner aria-label={t('common.loading')} />}
      {view && codebook.data && (
        <>
          <dl className="facts">
            <dt>{t('reg.created')}</dt><dd>{formatDateTime(view.createdAt, lang)}</dd>
            <dt>{t('reg.updated')}</dt><dd>{formatDateTime(view.updatedAt, lang)}</dd>
            {view.unit && <><dt>{t('ind.unit')}</dt><dd>{unitName(units.byResh.get(view.unit), lang, view.unit, units.byResh)}</dd></>}
            {view.event?.id && <><dt>{view.event.label[lang]}</dt><dd>{view.event.id}</dd></>}
          </dl>
          {view.event?.mergedInto && <Alert data-color="warning"><Paragraph>{t('reg.invalid')} <Link to={`/registrations?case=${view.event.mergedInto}`}>{view.event.mergedInto}</Link>.</Paragraph></Alert>}
          {/* The case's own page: every form with its status at a glance, each a link to the form below. */}
          <Table className="case-forms" data-testid="case-forms">
            <caption>{t('reg.formsOverview')}</caption>
            <Table.Head><Table.Row><Table.HeaderCell scope="col">{t('reg.form')}</Table.HeaderCell><Table.HeaderCell scope="col">{t('reg.status')}</Table.HeaderCell><Table.HeaderCell scope="col">{t('reg.missing')}</Table.HeaderCell></Table.Row></Table.Head>
            <Table.Body>
              {forms.map((f) => (
                <Table.Row key={f.form + f.instance} data-form-row={`${f.form}${f.instance ? `/${f.instance}` : ''}`}>
                  <Table.Cell><a href={`#form-${f.form}-${f.instance || 'main'}`}>{formTitle(f)}</a></Table.Cell>
                  <Table.Cell><StatusMark status={f.status} /></Table.Cell>
                  <Table.Cell>{f.missing.length + f.findings.length === 0 ? '–' : f.missing.length + f.findings.length}</Table.Cell>
                </Table.Row>
              ))}
            </Table.Body>
          </Table>
          {forms.map((f) => <FormCard key={f.form + f.instance} title={formTitle(f)} registry={registry!} caseId={view.id} form={f} codebook={codebook.data!} onChange={setView} onDeleted={load} />)}
        </>
      )}
    </Page>
  );
}

/** Today in Norwegian time, as a date input writes it: nothing registered happens in the future. */
const todayIso = () => new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Oslo' }).format(new Date());

const toInput = (type: string, v: unknown): string => {
  if (v === null || v === undefined) return '';
  if (type === 'datetime' && typeof v === 'string') {
    const d = new Date(v);
    const p = (n: number) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
  }
  return String(v);
};
const fromInput = (type: string, s: string): unknown => {
  if (type === 'integer' || type === 'decimal') return Number(s.replace(',', '.'));
  if (type === 'boolean') return s === 'true';
  if (type === 'datetime') return new Date(s).toISOString();
  return s;
};

/** "Skadegradering 2: 450203.3": a repeating form's instance by its number and first value (its key is the sender's resource id). */
function instanceTitle(f: CaseForm, all: CaseForm[], codebook: Codebook | null, lang: 'nb' | 'en'): string {
  const def = codebook?.forms.find((d) => d.id === f.form);
  const title = def?.title[lang] ?? f.form;
  if (!f.instance) return title;
  const n = all.filter((x) => x.form === f.form).findIndex((x) => x.instance === f.instance) + 1;
  const first = def?.variables.map((v) => f.data[v.id]).find((v) => v !== null && v !== undefined && v !== '');
  return `${title} ${n}${first !== undefined ? `: ${String(first)}` : ''}`;
}

/** A form's status by symbol and word; finalised is green (see styles.css), never by colour alone. */
function StatusMark({ status }: { status: CaseForm['status'] }) {
  const { t } = useI18n();
  return (
    <span className={`form-status form-status--${status}`}>
      <span aria-hidden="true">{status === 'finalised' ? '✔' : status === 'reopened' ? '↺' : '✎'}</span> <strong>{t(`status.${status}` as Key)}</strong>
    </span>
  );
}

function FormCard({ title, registry, caseId, form, codebook, onChange, onDeleted }: { title: string; registry: string; caseId: number; form: CaseForm; codebook: Codebook; onChange(v: CaseView): void; onDeleted(): void }) {
  const { t, lang } = useI18n();
  const { me } = useSession();
  const def = codebook.forms.find((f) => f.id === form.form);
  const [values, setValues] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [message, setMessage] = useState<{ kind: 'success' | 'danger'; text: string; details: string[] } | null>(null);
  // Per field, why a save was refused (the rule broken) and a suggested value, from the answer's details.
  const [fieldProblems, setFieldProblems] = useState<Record<string, { rule: string; suggestion?: string }>>({});
  const { tryT } = useI18n();
  const failed = (err: unknown) => {
    const details = err instanceof ApiError ? (err.details as Array<{ variable?: string; rule?: string; suggestion?: string }>) : [];
    setFieldProblems(Object.fromEntries(details.filter((d) => d && d.variable).map((d) => [d.variable!, { rule: d.rule ?? 'other', suggestion: d.suggestion }])));
    setMessage({ kind: 'danger', text: errorText(err, tryT), details: [] });
  };
  const status = useRef<HTMLDivElement>(null);
  useEffect(() => { setValues({}); }, [form.version]);
  if (!def) return null;
  const canWrite = !!me?.active && WRITERS.includes(me.active.role);
  const locked = form.status === 'finalised' || !canWrite;
  const url = `/api/registries/${registry}/cases/${caseId}/forms/${form.form}${form.instance ? `/${encodeURIComponent(form.instance)}` : ''}`;
  const label = (v: string) => def.variables.find((x) => x.id === v)?.label[lang] ?? v;
  const headingId = `form-${form.form}-${form.instance || 'main'}`;

  const run = async (what: 'save' | 'finalise' | 'reopen') => {
    setBusy(true); setMessage(null); setFieldProblems({});
    try {
      let res: CaseView;
      if (what === 'save') {
        const changed = Object.fromEntries(Object.entries(values).filter(([k, v]) => v !== '' && v !== toInput(def.variables.find((x) => x.id === k)!.type, form.data[k]))
          .map(([k, v]) => [k, fromInput(def.variables.find((x) => x.id === k)!.type, v)]));
        if (!Object.keys(changed).length) { setMessage({ kind: 'danger', text: t('reg.nothingChanged'), details: [] }); return; }
        res = await api<CaseView>(url, { method: 'PATCH', body: { values: changed } });
      } else {
        res = await api<CaseView>(`${url}/${what}`, { method: 'POST' });
      }
      setMessage({ kind: 'success', text: t(`reg.done.${what}` as Key), details: [] });
      onChange(res);
    } catch (err) {
      failed(err);
    } finally {
      setBusy(false);
      setTimeout(() => status.current?.focus(), 0);
    }
  };

  // Only instances of repeating forms (an injury, a transfer) can be deleted, and a finalised one
  // only after it is reopened: deleting is a change to quality-assured data.
  const remove = async () => {
    setBusy(true); setMessage(null);
    try {
      await api(url, { method: 'DELETE' });
      onDeleted();
    } catch (err) {
      failed(err);
      setBusy(false);
      setConfirmDelete(false);
    }
  };

  return (
    <Card className={`case-form case-form--${form.status}`} data-form={form.form} data-instance={form.instance || undefined}>
      <section aria-labelledby={headingId}>
        <Heading level={2} data-size="sm" id={headingId}>{title}</Heading>
        <p className={`form-status form-status--${form.status}`} data-testid={`status-${form.form}`}>
          <span aria-hidden="true">{form.status === 'finalised' ? '✔' : form.status === 'reopened' ? '↺' : '✎'}</span> {t('reg.status')}: <strong>{t(`status.${form.status}` as Key)}</strong>
        </p>
        {form.missing.length > 0 && <Paragraph data-size="sm">{t('reg.missing')}: {form.missing.map(label).join(', ')}</Paragraph>}
        {form.findings.length > 0 && (
          <ul className="findings">{form.findings.map((f) => <li key={f.rule}><ValidationMessage data-color={f.severity === 'error' ? 'danger' : 'warning'}>{f.severity === 'error' ? t('reg.error') : t('reg.warning')}: {f.message[lang]}</ValidationMessage></li>)}</ul>
        )}
        <div ref={status} tabIndex={-1} role="status" className="form-message">
          {message && <Alert data-color={message.kind}><Paragraph>{message.text}</Paragraph></Alert>}
        </div>
        <form onSubmit={(e) => { e.preventDefault(); void run('save'); }} className="completion-form">
          {def.variables.map((v) => {
            const id = `${form.form}-${form.instance || 'main'}-${v.id}`;
            const current = values[v.id] ?? toInput(v.type, form.data[v.id]);
            const set = (s: string) => setValues((x) => ({ ...x, [v.id]: s }));
            const missing = form.missing.includes(v.id);
            const codes = v.codelist ? codebook.codelists.find((c) => c.id === v.codelist)?.codes ?? [] : [];
            const req = v.required === true ? ` (${t('reg.required')})` : v.required === 'conditional' ? ` (${t('reg.requiredWhen')})` : '';
            return (
              <Field key={v.id} className="completion-field">
                <Label htmlFor={id}>{v.label[lang]}{v.unit ? ` (${v.unit})` : ''}{req}</Label>
                {v.type === 'boolean' || (v.type === 'code' && codes.length <= 40) ? (
                  <Select id={id} value={current} disabled={locked} onChange={(e) => set(e.target.value)} aria-describedby={`${id}-d`} aria-invalid={missing || undefined}>
                    <Select.Option value="">{t('reg.choose')}</Select.Option>
                    {v.type === 'boolean'
                      ? <><Select.Option value="true">{t('common.yes')}</Select.Option><Select.Option value="false">{t('common.no')}</Select.Option></>
                      : codes.map((c) => <Select.Option key={c.code} value={c.code}>{c.display[lang]}</Select.Option>)}
                  </Select>
                ) : (
                  <>
                    <Input id={id} value={current} readOnly={locked} aria-describedby={`${id}-d`} aria-invalid={missing || undefined} list={codes.length ? `${id}-codes` : undefined}
                      type={v.type === 'date' ? 'date' : v.type === 'datetime' ? 'datetime-local' : v.type === 'integer' || v.type === 'decimal' ? 'number' : 'text'}
                      step={v.type === 'decimal' ? 'any' : undefined} min={v.range?.min}
                      max={v.type === 'date' ? todayIso() : v.type === 'datetime' ? `${todayIso()}T23:59` : v.range?.max} onChange={(e) => set(e.target.value)} />
                    {codes.length > 0 && <datalist id={`${id}-codes`}>{codes.map((c) => <option key={c.code} value={c.code}>{c.display[lang]}</option>)}</datalist>}
                  </>
                )}
                <p id={`${id}-d`} className="field-help">{v.description[lang]}</p>
                {missing && <ValidationMessage>{t('reg.fieldMissing')}</ValidationMessage>}
                {fieldProblems[v.id] && (
                  <ValidationMessage data-testid={`problem-${v.id}`}>
                    {tryT(`field.rule.${fieldProblems[v.id].rule.replace(/:.*$/, '')}`, t('field.rule.other'))}
                    {fieldProblems[v.id].suggestion && <> {fill(t('field.didYouMean'), { code: fieldProblems[v.id].suggestion! })}{' '}
                      <Button type="button" data-size="sm" variant="secondary" onClick={() => set(fieldProblems[v.id].suggestion!)}>{fill(t('field.useSuggestion'), { code: fieldProblems[v.id].suggestion! })}</Button></>}
                  </ValidationMessage>
                )}
              </Field>
            );
          })}
          {canWrite && (
            <div className="form-actions">
              {form.status !== 'finalised' && <Button type="submit" loading={busy}>{t('reg.save')}</Button>}
              {form.status !== 'finalised' && <Button type="button" variant="secondary" onClick={() => void run('finalise')} disabled={busy}>{t('reg.finalise')}</Button>}
              {form.status === 'finalised' && <Button type="button" variant="secondary" onClick={() => void run('reopen')} disabled={busy}>{t('reg.reopen')}</Button>}
              {def.repeating && form.status !== 'finalised' && !confirmDelete && <Button type="button" variant="tertiary" data-color="danger" onClick={() => setConfirmDelete(true)} disabled={busy}>{t('reg.delete')}</Button>}
              {def.repeating && confirmDelete && (
                <>
                  <Button type="button" variant="primary" data-color="danger" onClick={() => void remove()} disabled={busy}>{t('reg.deleteConfirm')}</Button>
                  <Button type="button" variant="tertiary" onClick={() => setConfirmDelete(false)} disabled={busy}>{t('reg.cancel')}</Button>
                </>
              )}
            </div>
          )}
          {canWrite && def.repeating && form.status === 'finalised' && <Paragraph data-size="sm">{t('reg.reopenToDelete')}</Paragraph>}
        </form>
      </section>
    </Card>
  );
}

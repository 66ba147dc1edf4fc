// One case: who and what it is about (the header), its forms in the codebook's order with their
// status, each form generated from the codebook with save, finalise, reopen and (for a repeating
// form's instance) delete; each field's history; adding an instance of a repeating form (an injury);
// and a printable version. The API's messages are shown by their codes, in the reader's language.
import { Alert, Button, Card, Heading, Paragraph, Spinner, Table, ValidationMessage } from '@digdir/designsystemet-react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { api, ApiError } from '../api.ts';
import { CaseHeader, type CaseHeaderView } from '../components/CaseHeader.tsx';
import { FieldInput, fromInput, toInput } from '../components/FieldInput.tsx';
import { Page } from '../components/Page.tsx';
import { ScrollTable } from '../components/ScrollTable.tsx';
import { useCodebook, type Codebook } from '../codebook.ts';
import { unitName, useApi, useRegistryId, useUnits, type Text } from '../data.tsx';
import { dateShort } from '../dates.ts';
import { errorText, fill, isNotFound } from '../errors.ts';
import { formatDateTime, useI18n, type Key, type Lang } from '../i18n.tsx';
import { apiKey, invalidatePaths } from '../query.ts';
import { Link } from '../router.tsx';
import { useSession } from '../session.tsx';
import { NotFound } from './NotFound.tsx';

export interface Finding {
  rule: string;
  severity: 'error' | 'warning';
  variables: string[];
  message: Text;
}
export interface CaseForm {
  form: string;
  instance: string;
  status: 'draft' | 'finalised' | 'reopened';
  data: Record<string, unknown>;
  missing: string[];
  findings: Finding[];
  version: number;
  updated_at: string;
}
export interface CaseView {
  id: number;
  unit: string | null;
  createdAt: string;
  updatedAt: string;
  person: { birthDate: string | null; sex: string | null };
  forms: CaseForm[];
  /** Registries that group cases into events: the event's id (e.g. the trauma ID) and whether this registration counts. */
  event?: { label: Text; id: string | null; invalidReason: string | null; mergedInto: number | null };
}
interface FieldChange {
  at: string;
  from: unknown;
  to: unknown;
  source: { kind: 'system' | 'user' | 'unknown'; name: string | null; merged?: boolean; repair?: boolean };
}
interface FieldHistory {
  form: string;
  instance: string;
  variable: string;
  changes: FieldChange[];
}

const WRITERS = ['unit-registrar', 'registry-admin', 'platform-admin'];

/** "Skadegradering 2: 450203.3": a repeating form's instance by its number and first value. */
export function instanceTitle(
  f: Pick<CaseForm, 'form' | 'instance' | 'data'>,
  all: Array<Pick<CaseForm, 'form' | 'instance'>>,
  codebook: Codebook | null,
  lang: Lang,
): string {
  const def = codebook?.forms.find((d) => d.id === f.form);
  const title = def?.title[lang] ?? f.form;
  if (!f.instance) return title;
  const n = all.filter((x) => x.form === f.form).findIndex((x) => x.instance === f.instance) + 1;
  const first = def?.variables.map((v) => f.data[v.id]).find((v) => v !== null && v !== undefined && v !== '');
  return `${title} ${n}${first !== undefined ? `: ${String(first)}` : ''}`;
}

/** A form's status by symbol and word; finalised is green (see styles.css), never by colour alone. */
export function StatusMark({ status }: { status: CaseForm['status'] }) {
  const { t } = useI18n();
  return (
    <span className={`form-status form-status--${status}`}>
      <span aria-hidden="true">{status === 'finalised' ? '✔' : status === 'reopened' ? '↺' : '✎'}</span>{' '}
      <strong>{t(`status.${status}` as Key)}</strong>
    </span>
  );
}

/** The API path of a case. */
export const casePath = (registry: string, caseId: string | number) => `/api/registries/${registry}/cases/${caseId}`;

/**
 * What a change to a case makes stale: the case (set at once from the answer when there is one),
 * its header and field history, the worklist and the monthly summary, the data-quality report and
 * the patient's page.
 */
export function useCaseChanged(registry: string, caseId: string | number): (view?: CaseView) => Promise<void> {
  const client = useQueryClient();
  return async (view) => {
    const url = casePath(registry, caseId);
    if (view) client.setQueryData(apiKey(url), view);
    await invalidatePaths(client, [
      view ? `${url}/` : url,
      `/api/registries/${registry}/worklist`,
      `/api/registries/${registry}/registrations`,
      `/api/registries/${registry}/quality`,
      '/api/patients/',
    ]);
  };
}

export function CasePage({ caseId }: { caseId: string }) {
  const { t, tryT, lang } = useI18n();
  const { me } = useSession();
  const registry = useRegistryId();
  const codebook = useCodebook(registry);
  const url = registry ? casePath(registry, caseId) : null;
  // The page one edits on is read anew each time it opens (another registrar or the hospital's
  // system may have changed the case a moment ago); the cached answer shows meanwhile.
  const caseQuery = useApi<CaseView>(url, { fresh: 0 });
  const header = useApi<CaseHeaderView>(url && `${url}/header`, { fresh: 0 });
  const history = useApi<FieldHistory[]>(url && `${url}/field-history`, { fresh: 0 });
  const view = caseQuery.data;
  const error = caseQuery.error;
  const changed = useCaseChanged(registry ?? '', caseId);
  const units = useUnits();
  const canWrite = !!me?.active && WRITERS.includes(me.active.role);
  // Forms in the codebook's order (the catalogue's: e.g. the trauma period first), instances numbered.
  const order = (f: CaseForm) => codebook.data?.forms.findIndex((d) => d.id === f.form) ?? 0;
  const forms = view ? [...view.forms].sort((a, b) => order(a) - order(b) || a.instance.localeCompare(b.instance)) : [];
  const titles = new Map(forms.map((f) => [f.form + f.instance, instanceTitle(f, forms, codebook.data, lang)]));
  const formTitle = (f: CaseForm) => titles.get(f.form + f.instance) ?? f.form;
  const repeating = codebook.data?.forms.filter((f) => f.repeating) ?? [];

  // A new instance of a repeating form (an injury typed in by hand): created empty, then filled in below.
  const add = useMutation({
    mutationFn: (form: string) =>
      api<CaseView & { instance: string }>(`${url}/forms/${form}/instances`, { method: 'POST', body: { values: {} } }),
    onSuccess: async (res, form) => {
      await changed(res);
      setTimeout(() => document.getElementById(`form-${form}-${res.instance}`)?.focus(), 50);
    },
  });
  const addError = add.error ? errorText(add.error, tryT) : null;

  // A case that does not exist: said plainly, with the way back (a case of another unit is refused, in words, below).
  if (isNotFound(caseQuery.failure))
    return (
      <NotFound
        title={`${t('reg.caseTitle')} ${caseId}`}
        text={tryT('error.code.case.notFound', error ?? '')}
        back={{ to: '/registrations', label: t('reg.back') }}
      />
    );

  return (
    <Page title={`${t('reg.caseTitle')} ${caseId}`}>
      <nav className="case-links" aria-label={t('case.links')}>
        <Link to="/registrations">{t('reg.back')}</Link>
        {header.data && <Link to={`/patients/${header.data.personId}`}>{t('case.patientCases')}</Link>}
        {view && <Link to={`/print?case=${caseId}${registry ? `&registry=${registry}` : ''}`}>{t('print.case')}</Link>}
      </nav>
      {error && (
        <Alert data-color="danger">
          <Paragraph>{error}</Paragraph>
        </Alert>
      )}
      {header.data && registry && (
        <CaseHeader
          registry={registry}
          header={header.data}
          unitName={header.data.unit ? unitName(units.byResh.get(header.data.unit), lang, header.data.unit, units.byResh) : null}
        />
      )}
      {(!view || !codebook.data) && !error && <Spinner aria-label={t('common.loading')} />}
      {view && codebook.data && (
        <>
          <dl className="facts">
            <dt>{t('reg.created')}</dt>
            <dd>{formatDateTime(view.createdAt, lang)}</dd>
            <dt>{t('reg.updated')}</dt>
            <dd>{formatDateTime(view.updatedAt, lang)}</dd>
          </dl>
          {view.event?.mergedInto && (
            <Alert data-color="warning">
              <Paragraph>
                {t('reg.invalid')} <Link to={`/registrations?case=${view.event.mergedInto}`}>{view.event.mergedInto}</Link>.
              </Paragraph>
            </Alert>
          )}
          {/* The case's own page: every form with its status at a glance, each a link to the form below. */}
          <ScrollTable label={t('reg.formsOverview')}>
            <Table className="case-forms" data-testid="case-forms">
              <caption>{t('reg.formsOverview')}</caption>
              <Table.Head>
                <Table.Row>
                  <Table.HeaderCell scope="col">{t('reg.form')}</Table.HeaderCell>
                  <Table.HeaderCell scope="col">{t('reg.status')}</Table.HeaderCell>
                  <Table.HeaderCell scope="col">{t('reg.missing')}</Table.HeaderCell>
                </Table.Row>
              </Table.Head>
              <Table.Body>
                {forms.map((f) => (
                  <Table.Row key={f.form + f.instance} data-form-row={`${f.form}${f.instance ? `/${f.instance}` : ''}`}>
                    <Table.Cell>
                      <a href={`#form-${f.form}-${f.instance || 'main'}`}>{formTitle(f)}</a>
                    </Table.Cell>
                    <Table.Cell>
                      <StatusMark status={f.status} />
                    </Table.Cell>
                    <Table.Cell>{f.missing.length + f.findings.length === 0 ? '–' : f.missing.length + f.findings.length}</Table.Cell>
                  </Table.Row>
                ))}
              </Table.Body>
            </Table>
          </ScrollTable>
          {canWrite && repeating.length > 0 && (
            <div className="case-add">
              {repeating.map((f) => (
                <Button
                  key={f.id}
                  variant="secondary"
                  data-size="sm"
                  onClick={() => add.mutate(f.id)}
                  loading={add.isPending && add.variables === f.id}
                  disabled={add.isPending}
                >
                  {fill(t('case.addInstance'), { form: f.title[lang].toLowerCase() })}
                </Button>
              ))}
              {addError && (
                <Alert data-color="danger">
                  <Paragraph>{addError}</Paragraph>
                </Alert>
              )}
            </div>
          )}
          {forms.map((f) => (
            <FormCard
              key={f.form + f.instance}
              title={formTitle(f)}
              registry={registry!}
              caseId={view.id}
              form={f}
              codebook={codebook.data!}
              history={(history.data ?? []).filter((h) => h.form === f.form && h.instance === f.instance)}
            />
          ))}
        </>
      )}
    </Page>
  );
}

/** One change as read: "01.03.2024 10:00: – → 2R3A2 (SUS DIPS Arena)". */
function ChangeLine({ c, show }: { c: FieldChange; show(v: unknown): string }) {
  const { t, lang } = useI18n();
  const who =
    c.source.kind === 'system'
      ? (c.source.name ?? t('header.someSystem'))
      : c.source.kind === 'user'
        ? (c.source.name ?? t('history.someone'))
        : t('history.unknownSource');
  return (
    <li>
      {dateShort(c.at, lang, true)}: {show(c.from)} → {show(c.to)} ({who}
      {c.source.merged ? `, ${t('history.merged')}` : ''}
      {c.source.repair ? `, ${t('history.repair')}` : ''})
    </li>
  );
}

/** A form of the codebook; a form the codebook does not have (any more) is not shown. */
interface FormCardProps {
  title: string;
  registry: string;
  caseId: number;
  form: CaseForm;
  codebook: Codebook;
  history: FieldHistory[];
}

function FormCard(props: FormCardProps) {
  const def = props.codebook.forms.find((f) => f.id === props.form.form);
  return def ? <FormCardOf {...props} def={def} /> : null;
}

function FormCardOf({ def, title, registry, caseId, form, codebook, history }: FormCardProps & { def: Codebook['forms'][number] }) {
  const { t, tryT, lang } = useI18n();
  const { me } = useSession();
  const [values, setValues] = useState<Record<string, string>>({});
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [message, setMessage] = useState<{ kind: 'success' | 'danger'; text: string } | null>(null);
  // Per field, why a save was refused (the rule broken) and a suggested value, from the answer's details.
  const [fieldProblems, setFieldProblems] = useState<Record<string, { rule: string; suggestion?: string }>>({});
  const status = useRef<HTMLDivElement>(null);
  useEffect(() => {
    setValues({});
  }, [form.version]);
  const canWrite = !!me?.active && WRITERS.includes(me.active.role);
  const locked = form.status === 'finalised' || !canWrite;
  const url = `/api/registries/${registry}/cases/${caseId}/forms/${form.form}${form.instance ? `/${encodeURIComponent(form.instance)}` : ''}`;
  const headingId = `form-${form.form}-${form.instance || 'main'}`;
  const label = (v: string) => def.variables.find((x) => x.id === v)?.label[lang] ?? v;
  const failed = (err: unknown) => {
    const details = err instanceof ApiError ? (err.details as Array<{ variable?: string; rule?: string; suggestion?: string }>) : [];
    setFieldProblems(
      Object.fromEntries(
        details
          .filter((d) => d && typeof d === 'object' && d.variable)
          .map((d) => [d.variable!, { rule: d.rule ?? 'other', suggestion: d.suggestion }]),
      ),
    );
    setMessage({ kind: 'danger', text: errorText(err, tryT) });
  };

  const changed = useCaseChanged(registry, caseId);
  const started = () => {
    setMessage(null);
    setFieldProblems({});
  };
  const settled = () => setTimeout(() => status.current?.focus(), 0);

  // Save (only the values changed), finalise or reopen; the answer is the case as it now is.
  const act = useMutation({
    mutationFn: ({ what, values: changedValues }: { what: 'save' | 'finalise' | 'reopen'; values?: Record<string, unknown> }) =>
      what === 'save'
        ? api<CaseView>(url, { method: 'PATCH', body: { values: changedValues } })
        : api<CaseView>(`${url}/${what}`, { method: 'POST' }),
    onMutate: started,
    onSuccess: async (res, { what }) => {
      setMessage({ kind: 'success', text: t(`reg.done.${what}` as Key) });
      await changed(res);
    },
    onError: failed,
    onSettled: settled,
  });
  const run = (what: 'save' | 'finalise' | 'reopen') => {
    if (what !== 'save') return act.mutate({ what });
    const changedValues = Object.fromEntries(
      Object.entries(values)
        .filter(([k, v]) => v !== '' && v !== toInput(def.variables.find((x) => x.id === k)!.type, form.data[k]))
        .map(([k, v]) => [k, fromInput(def.variables.find((x) => x.id === k)!.type, v)]),
    );
    if (!Object.keys(changedValues).length) {
      started();
      setMessage({ kind: 'danger', text: t('reg.nothingChanged') });
      settled();
      return;
    }
    act.mutate({ what, values: changedValues });
  };

  // Only instances of repeating forms (an injury, a transfer) can be deleted, and a finalised one
  // only after it is reopened: deleting is a change to quality-assured data.
  const remove = useMutation({
    mutationFn: () => api(url, { method: 'DELETE' }),
    onMutate: started,
    onSuccess: () => changed(),
    onError: (err) => {
      failed(err);
      setConfirmDelete(false);
    },
  });
  // After a delete the card stays busy until the case is read again without it.
  const busy = act.isPending || remove.isPending || remove.isSuccess;
  const statusHistory = history.find((h) => h.variable === '$status');

  return (
    <Card className={`case-form case-form--${form.status}`} data-form={form.form} data-instance={form.instance || undefined}>
      <section aria-labelledby={headingId}>
        <Heading level={2} data-size="sm" id={headingId} tabIndex={-1}>
          {title}
        </Heading>
        <p className={`form-status form-status--${form.status}`} data-testid={`status-${form.form}`}>
          <span aria-hidden="true">{form.status === 'finalised' ? '✔' : form.status === 'reopened' ? '↺' : '✎'}</span> {t('reg.status')}:{' '}
          <strong>{t(`status.${form.status}` as Key)}</strong>
        </p>
        {form.missing.length > 0 && (
          <Paragraph data-size="sm">
            {t('reg.missing')}: {form.missing.map(label).join(', ')}
          </Paragraph>
        )}
        {form.findings.length > 0 && (
          <ul className="findings">
            {form.findings.map((f) => (
              <li key={f.rule}>
                <ValidationMessage data-color={f.severity === 'error' ? 'danger' : 'warning'}>
                  {f.severity === 'error' ? t('reg.error') : t('reg.warning')}: {f.message[lang]}
                </ValidationMessage>
              </li>
            ))}
          </ul>
        )}
        <div ref={status} tabIndex={-1} role="status" className="form-message">
          {message && (
            <Alert data-color={message.kind}>
              <Paragraph>{message.text}</Paragraph>
            </Alert>
          )}
        </div>
        {/* The platform checks every value and says what is wrong in words; the browser's own bubbles would not. */}
        <form
          onSubmit={(e) => {
            e.preventDefault();
            run('save');
          }}
          className="completion-form"
          noValidate
        >
          {def.variables.map((v) => {
            const id = `${form.form}-${form.instance || 'main'}-${v.id}`;
            const current = values[v.id] ?? toInput(v.type, form.data[v.id]);
            const set = (s: string) => setValues((x) => ({ ...x, [v.id]: s }));
            const problem = fieldProblems[v.id];
            const changes = history.find((h) => h.variable === v.id)?.changes ?? [];
            const show = (x: unknown) =>
              x === null || x === undefined || x === '' ? '–' : typeof x === 'boolean' ? t(x ? 'common.yes' : 'common.no') : String(x);
            return (
              <FieldInput
                key={v.id}
                id={id}
                registry={registry}
                variable={v}
                codebook={codebook}
                value={current}
                onChange={set}
                locked={locked}
                missing={form.missing.includes(v.id)}
                problem={
                  problem ? (
                    <ValidationMessage data-testid={`problem-${v.id}`}>
                      {tryT(`field.rule.${problem.rule.replace(/:.*$/, '')}`, t('field.rule.other'))}
                      {problem.suggestion && (
                        <>
                          {' '}
                          {fill(t('field.didYouMean'), { code: problem.suggestion })}{' '}
                          <Button type="button" data-size="sm" variant="secondary" onClick={() => set(problem.suggestion!)}>
                            {fill(t('field.useSuggestion'), { code: problem.suggestion })}
                          </Button>
                        </>
                      )}
                    </ValidationMessage>
                  ) : null
                }
                history={
                  changes.length > 0 ? (
                    <details className="field-history" data-history={v.id}>
                      <summary>{fill(t('history.field'), { n: changes.length })}</summary>
                      <ol>
                        {changes.map((c, i) => (
                          <ChangeLine key={i} c={c} show={show} />
                        ))}
                      </ol>
                    </details>
                  ) : null
                }
              />
            );
          })}
          {canWrite && (
            <div className="form-actions">
              {form.status !== 'finalised' && (
                <Button type="submit" loading={busy}>
                  {t('reg.save')}
                </Button>
              )}
              {form.status !== 'finalised' && (
                <Button type="button" variant="secondary" onClick={() => run('finalise')} disabled={busy}>
                  {t('reg.finalise')}
                </Button>
              )}
              {form.status === 'finalised' && (
                <Button type="button" variant="secondary" onClick={() => run('reopen')} disabled={busy}>
                  {t('reg.reopen')}
                </Button>
              )}
              {def.repeating && form.status !== 'finalised' && !confirmDelete && (
                <Button type="button" variant="tertiary" data-color="danger" onClick={() => setConfirmDelete(true)} disabled={busy}>
                  {t('reg.delete')}
                </Button>
              )}
              {def.repeating && confirmDelete && (
                <>
                  <Button type="button" variant="primary" data-color="danger" onClick={() => remove.mutate()} disabled={busy}>
                    {t('reg.deleteConfirm')}
                  </Button>
                  <Button type="button" variant="tertiary" onClick={() => setConfirmDelete(false)} disabled={busy}>
                    {t('reg.cancel')}
                  </Button>
                </>
              )}
            </div>
          )}
          {canWrite && def.repeating && form.status === 'finalised' && <Paragraph data-size="sm">{t('reg.reopenToDelete')}</Paragraph>}
        </form>
        {statusHistory && (
          <details className="field-history" data-history="$status">
            <summary>{fill(t('history.status'), { n: statusHistory.changes.length })}</summary>
            <ol>
              {statusHistory.changes.map((c, i) => (
                <ChangeLine key={i} c={c} show={(x) => (x ? tryT(`status.${String(x)}`, String(x)) : '–')} />
              ))}
            </ol>
          </details>
        )}
      </section>
    </Card>
  );
}

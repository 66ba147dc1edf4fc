// Research extracts in the web app. A researcher asks for the data an approved project needs
// (variables from the codebook, a period, how dates are handled) and follows the request until it is
// delivered or rejected with a reason. A registry admin sees the requests to the registry and
// approves — the extract is delivered (pseudonymised, recorded, audited) and its file comes to the
// admin to hand over — or rejects with a reason.
import {
  Alert,
  Button,
  Checkbox,
  Field,
  Fieldset,
  Heading,
  Input,
  Label,
  Paragraph,
  Select,
  Spinner,
  Table,
  Textarea,
} from '@digdir/designsystemet-react';
import { useState } from 'react';
import { api, ApiError } from '../api.ts';
import { Page } from '../components/Page.tsx';
import { ScrollTable } from '../components/ScrollTable.tsx';
import { labelOf, useCodebook } from '../codebook.ts';
import { useApi, useRegistries, useRegistryId } from '../data.tsx';
import { dateShort } from '../dates.ts';
import { errorText, fill } from '../errors.ts';
import { useI18n, type Key } from '../i18n.tsx';
import { useSession } from '../session.tsx';

interface ExtractRequest {
  id: number;
  registry: string;
  requesterName: string | null;
  project: string;
  approvalRef: string;
  purpose: string;
  definition: { variables: string[]; period?: { from: string; to: string }; dates: string; expires: string };
  status: 'submitted' | 'approved' | 'rejected' | 'delivered' | 'withdrawn';
  decisionNote: string | null;
  decidedAt: string | null;
  createdAt: string;
  delivery: { rows: number; sha256: string; deliveredAt: string } | null;
}

export function Research() {
  const { t } = useI18n();
  const { me } = useSession();
  const role = me?.active?.role;
  if (role !== 'researcher' && role !== 'registry-admin' && role !== 'platform-admin') {
    return (
      <Page title={t('research.title')}>
        <Alert data-color="info">
          <Paragraph>{t('research.notAllowed')}</Paragraph>
        </Alert>
      </Page>
    );
  }
  return <Page title={t('research.title')}>{role === 'researcher' ? <ResearcherView /> : <AdminView />}</Page>;
}

function StatusWord({ r }: { r: ExtractRequest }) {
  const { t } = useI18n();
  const mark = { submitted: '○', approved: '✔', delivered: '✔', rejected: '✗', withdrawn: '–' }[r.status];
  return (
    <span className={`request-status request-status--${r.status}`}>
      <span aria-hidden="true">{mark}</span> {t(`research.status.${r.status}` as Key)}
    </span>
  );
}

/** The variables by their names in the registry's codebook, never their ids. */
function VariableNames({ registry, ids }: { registry: string; ids: string[] }) {
  const { lang } = useI18n();
  const codebook = useCodebook(registry);
  return <>{ids.map((id) => labelOf(codebook.data, id, lang)).join(', ')}</>;
}

function RequestTable({ rows, actions }: { rows: ExtractRequest[]; actions?: (r: ExtractRequest) => React.ReactNode }) {
  const { t, lang } = useI18n();
  const registries = useRegistries();
  return (
    <ScrollTable label={t('research.requests')}>
      <Table zebra className="request-table" data-testid="request-table">
        <caption>{t('research.requests')}</caption>
        <Table.Head>
          <Table.Row>
            {(['research.project', 'hosp.registry', 'research.variables', 'research.statusHead'] as Key[]).map((k) => (
              <Table.HeaderCell scope="col" key={k}>
                {t(k)}
              </Table.HeaderCell>
            ))}
            {actions && <Table.HeaderCell scope="col">{t('sub.actions')}</Table.HeaderCell>}
          </Table.Row>
        </Table.Head>
        <Table.Body>
          {rows.map((r) => (
            <Table.Row key={r.id} data-request={r.id}>
              <Table.HeaderCell scope="row">
                {r.project}
                <div className="worklist-what">
                  {r.approvalRef} · {dateShort(r.createdAt, lang)}
                  {r.requesterName ? ` · ${r.requesterName}` : ''}
                </div>
                <div className="worklist-what">{r.purpose}</div>
              </Table.HeaderCell>
              <Table.Cell>{registries.find((x) => x.id === r.registry)?.title[lang] ?? r.registry}</Table.Cell>
              <Table.Cell>
                <VariableNames registry={r.registry} ids={r.definition.variables} />
                {r.definition.period ? (
                  <div className="worklist-what">
                    {dateShort(r.definition.period.from, lang)}–{dateShort(r.definition.period.to, lang)}
                  </div>
                ) : null}
              </Table.Cell>
              <Table.Cell>
                <StatusWord r={r} />
                {r.decisionNote && <div className="worklist-what">{r.decisionNote}</div>}
                {r.delivery && (
                  <div className="worklist-what">
                    {fill(t('research.delivered'), { rows: r.delivery.rows, date: dateShort(r.delivery.deliveredAt, lang) })}
                    <br />
                    <span className="hash">SHA-256 {r.delivery.sha256.slice(0, 16)}…</span>
                  </div>
                )}
              </Table.Cell>
              {actions && <Table.Cell>{actions(r)}</Table.Cell>}
            </Table.Row>
          ))}
        </Table.Body>
      </Table>
    </ScrollTable>
  );
}

function ResearcherView() {
  const { t, tryT, lang } = useI18n();
  const registry = useRegistryId();
  const codebook = useCodebook(registry);
  const [version, setVersion] = useState(0);
  const list = useApi<ExtractRequest[]>(`/api/extract-requests?v=${version}`);
  const [form, setForm] = useState({ project: '', approvalRef: '', purpose: '', expires: '', from: '', to: '', dates: 'shift' });
  const [variables, setVariables] = useState<string[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState('');
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [k]: e.target.value }));
  const submit = async () => {
    setError(null);
    setStatus('');
    try {
      await api(`/api/registries/${registry}/extract-requests`, {
        method: 'POST',
        body: { ...form, variables, from: form.from || undefined, to: form.to || undefined },
      });
      setStatus(t('research.sent'));
      setVersion((v) => v + 1);
    } catch (err) {
      setError(err instanceof ApiError && err.code === 'form.notSaved' ? t('research.missing') : errorText(err, tryT));
    }
  };
  const forms = (codebook.data?.forms ?? []).filter((f) => !f.repeating);
  return (
    <>
      <Paragraph>{t('research.intro')}</Paragraph>
      <section aria-labelledby="my-requests">
        <Heading level={2} data-size="sm" id="my-requests">
          {t('research.mine')}
        </Heading>
        {list.loading && <Spinner aria-label={t('common.loading')} />}
        {list.data && (list.data.length ? <RequestTable rows={list.data} /> : <Paragraph>{t('research.none')}</Paragraph>)}
      </section>
      <section aria-labelledby="new-request">
        <Heading level={2} data-size="sm" id="new-request">
          {t('research.new')}
        </Heading>
        <form
          className="request-form"
          onSubmit={(e) => {
            e.preventDefault();
            void submit();
          }}
        >
          <div className="filters">
            <Field>
              <Label htmlFor="rq-project">{t('research.project')}</Label>
              <Input id="rq-project" value={form.project} onChange={set('project')} required />
            </Field>
            <Field>
              <Label htmlFor="rq-approval">{t('research.approval')}</Label>
              <Input id="rq-approval" value={form.approvalRef} onChange={set('approvalRef')} required aria-describedby="rq-approval-help" />
              <p id="rq-approval-help" className="field-help">
                {t('research.approvalHelp')}
              </p>
            </Field>
            <Field>
              <Label htmlFor="rq-expires">{t('research.expires')}</Label>
              <Input id="rq-expires" type="date" value={form.expires} onChange={set('expires')} required />
            </Field>
          </div>
          <Field>
            <Label htmlFor="rq-purpose">{t('research.purpose')}</Label>
            <Textarea id="rq-purpose" rows={3} value={form.purpose} onChange={set('purpose')} required />
          </Field>
          <div className="filters">
            <Field>
              <Label htmlFor="rq-from">{t('wl.from')}</Label>
              <Input id="rq-from" type="date" value={form.from} onChange={set('from')} />
            </Field>
            <Field>
              <Label htmlFor="rq-to">{t('wl.to')}</Label>
              <Input id="rq-to" type="date" value={form.to} onChange={set('to')} />
            </Field>
            <Field>
              <Label htmlFor="rq-dates">{t('research.dates')}</Label>
              <Select id="rq-dates" value={form.dates} onChange={set('dates')}>
                {['shift', 'month', 'year', 'exact'].map((d) => (
                  <Select.Option key={d} value={d}>
                    {t(`research.dates.${d}` as Key)}
                  </Select.Option>
                ))}
              </Select>
            </Field>
          </div>
          <Fieldset className="request-variables">
            <Fieldset.Legend>{t('research.variables')}</Fieldset.Legend>
            <Fieldset.Description>{t('research.variablesHelp')}</Fieldset.Description>
            {forms.map((f) => (
              <div key={f.id} className="request-variable-group">
                <p className="request-variable-form">
                  <strong>{f.title[lang]}</strong>
                </p>
                {f.variables.map((v) => (
                  <Checkbox
                    key={v.id}
                    label={v.label[lang]}
                    value={v.id}
                    checked={variables.includes(v.id)}
                    onChange={(e) => setVariables((xs) => (e.target.checked ? [...xs, v.id] : xs.filter((x) => x !== v.id)))}
                  />
                ))}
              </div>
            ))}
          </Fieldset>
          <Button type="submit" disabled={!variables.length}>
            {t('research.submit')}
          </Button>
          <div role="status">
            {status && (
              <Alert data-color="success">
                <Paragraph>{status}</Paragraph>
              </Alert>
            )}
            {error && (
              <Alert data-color="danger">
                <Paragraph>{error}</Paragraph>
              </Alert>
            )}
          </div>
        </form>
      </section>
    </>
  );
}

function AdminView() {
  const { t, tryT } = useI18n();
  const [version, setVersion] = useState(0);
  const list = useApi<ExtractRequest[]>(`/api/extract-requests?v=${version}`);
  const [notes, setNotes] = useState<Record<number, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [file, setFile] = useState<{ id: number; url: string; name: string } | null>(null);
  const decide = async (r: ExtractRequest, approve: boolean) => {
    setError(null);
    try {
      const res = await api<{ delivery?: { id: number; csv: string } }>(`/api/extract-requests/${r.id}/decision`, {
        method: 'POST',
        body: { approve, note: notes[r.id] ?? '' },
      });
      if (res.delivery)
        setFile({
          id: r.id,
          url: URL.createObjectURL(new Blob([res.delivery.csv], { type: 'text/csv' })),
          name: `${r.registry}-${r.project}-${res.delivery.id}.csv`,
        });
      setVersion((v) => v + 1);
    } catch (err) {
      setError(errorText(err, tryT));
    }
  };
  return (
    <>
      <Paragraph>{t('research.adminIntro')}</Paragraph>
      {error && (
        <Alert data-color="danger">
          <Paragraph>{error}</Paragraph>
        </Alert>
      )}
      {file && (
        <Alert data-color="success">
          <Paragraph>
            {t('research.fileReady')}{' '}
            <a href={file.url} download={file.name}>
              {file.name}
            </a>
          </Paragraph>
        </Alert>
      )}
      {list.loading && <Spinner aria-label={t('common.loading')} />}
      {list.data &&
        (list.data.length === 0 ? (
          <Paragraph>{t('research.none')}</Paragraph>
        ) : (
          <RequestTable
            rows={list.data}
            actions={(r) =>
              r.status !== 'submitted' ? null : (
                <div className="request-decision">
                  <Field>
                    <Label htmlFor={`note-${r.id}`}>{t('research.note')}</Label>
                    <Textarea
                      id={`note-${r.id}`}
                      rows={2}
                      value={notes[r.id] ?? ''}
                      onChange={(e) => setNotes((n) => ({ ...n, [r.id]: e.target.value }))}
                    />
                  </Field>
                  <div className="row-actions">
                    <Button data-size="sm" onClick={() => void decide(r, true)}>
                      {t('research.approve')}
                    </Button>
                    <Button data-size="sm" variant="secondary" data-color="danger" onClick={() => void decide(r, false)}>
                      {t('research.reject')}
                    </Button>
                  </div>
                </div>
              )
            }
          />
        ))}
    </>
  );
}

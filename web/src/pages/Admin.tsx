// The platform admin's pages: the quarantine (messages that could not be processed, with what was
// wrong, reprocessed after the fix), the people who log in and their grants, the units, and the
// audit trail. The senders' own explanations are FHIR OperationOutcomes in English, the API's
// language: shown as such, marked as English.
import { Alert, Button, Field, Heading, Input, Label, Paragraph, Select, Spinner, Table, Tabs } from '@digdir/designsystemet-react';
import { useMemo, useState } from 'react';
import { api } from '../api.ts';
import { Page } from '../components/Page.tsx';
import { ScrollTable } from '../components/ScrollTable.tsx';
import { UnitCombobox } from '../components/UnitCombobox.tsx';
import { fold } from '../components/Combobox.tsx';
import { unitName, useApi, useRegistries, useUnits } from '../data.tsx';
import { dateShort } from '../dates.ts';
import { errorText, fill } from '../errors.ts';
import { useI18n, type Key } from '../i18n.tsx';
import { useQuery, useRoute } from '../router.tsx';
import { useSession } from '../session.tsx';

const TABS = ['quarantine', 'users', 'units', 'audit'] as const;

export function Admin() {
  const { t } = useI18n();
  const { me } = useSession();
  const q = useQuery();
  const { setQuery } = useRoute();
  const tab = (TABS as readonly string[]).includes(q.get('tab') ?? '') ? q.get('tab')! : 'quarantine';
  const allowed = me?.active?.role === 'platform-admin' || (me?.active?.role === 'registry-admin' && me.active.registry === '*');
  if (!allowed)
    return (
      <Page title={t('admin.title')}>
        <Alert data-color="info">
          <Paragraph>{t('admin.notAllowed')}</Paragraph>
        </Alert>
      </Page>
    );
  return (
    <Page title={t('admin.title')}>
      <Tabs value={tab} onChange={(v) => setQuery({ tab: v === 'quarantine' ? null : v, after: null })}>
        <Tabs.List>
          {TABS.map((x) => (
            <Tabs.Tab key={x} value={x}>
              {t(`admin.tab.${x}` as Key)}
            </Tabs.Tab>
          ))}
        </Tabs.List>
        <Tabs.Panel value="quarantine">{tab === 'quarantine' && <Quarantine />}</Tabs.Panel>
        <Tabs.Panel value="users">{tab === 'users' && <Users />}</Tabs.Panel>
        <Tabs.Panel value="units">{tab === 'units' && <Units />}</Tabs.Panel>
        <Tabs.Panel value="audit">{tab === 'audit' && <Audit />}</Tabs.Panel>
      </Tabs>
    </Page>
  );
}

interface InboxEntry {
  id: number;
  sender: string;
  channel: string;
  received_at: string;
  status: string;
  attempts: number;
  outcome: any;
  processed_at: string | null;
}

function Quarantine() {
  const { t, tryT, lang } = useI18n();
  const [version, setVersion] = useState(0);
  const list = useApi<InboxEntry[]>(`/api/inbox?status=quarantined&limit=200&v=${version}`);
  const [result, setResult] = useState<{ id: number; status: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const reprocess = async (id: number) => {
    setError(null);
    setResult(null);
    try {
      const r = await api<{ messageId: number; status: string }>(`/api/inbox/${id}/reprocess`, { method: 'POST' });
      setResult({ id, status: r.status });
      setVersion((v) => v + 1);
    } catch (err) {
      setError(errorText(err, tryT));
    }
  };
  // The stored outcome is {httpStatus, body}: an OperationOutcome, or a Bundle response with one per entry.
  const issues = (o: any): Array<{ diagnostics: string; expression?: string[] }> => {
    const body = o?.body ?? o;
    return body?.issue ?? body?.entry?.flatMap((e: any) => e.response?.outcome?.issue ?? []) ?? [];
  };
  return (
    <section aria-labelledby="quarantine-heading">
      <Heading level={2} data-size="sm" id="quarantine-heading">
        {t('admin.tab.quarantine')}
      </Heading>
      <Paragraph>{t('admin.quarantineIntro')}</Paragraph>
      <div role="status">
        {result && (
          <Alert data-color={result.status === 'processed' ? 'success' : 'warning'}>
            <Paragraph data-testid="reprocess-result">
              {fill(t('admin.reprocessed'), { id: result.id, status: tryT(`inbox.status.${result.status}`, result.status) })}
            </Paragraph>
          </Alert>
        )}
      </div>
      {error && (
        <Alert data-color="danger">
          <Paragraph>{error}</Paragraph>
        </Alert>
      )}
      {list.loading && <Spinner aria-label={t('common.loading')} />}
      {list.data &&
        (list.data.length === 0 ? (
          <Paragraph>{t('admin.quarantineEmpty')}</Paragraph>
        ) : (
          <ScrollTable label={t('admin.tab.quarantine')}>
            <Table zebra data-testid="quarantine-table">
              <caption>{fill(t('admin.quarantineCaption'), { n: list.data.length })}</caption>
              <Table.Head>
                <Table.Row>
                  {(['admin.message', 'admin.sender', 'admin.received', 'admin.problem', 'sub.actions'] as Key[]).map((k) => (
                    <Table.HeaderCell scope="col" key={k}>
                      {t(k)}
                    </Table.HeaderCell>
                  ))}
                </Table.Row>
              </Table.Head>
              <Table.Body>
                {list.data.map((m) => (
                  <Table.Row key={m.id} data-message={m.id}>
                    <Table.HeaderCell scope="row">{m.id}</Table.HeaderCell>
                    <Table.Cell>{m.sender}</Table.Cell>
                    <Table.Cell>
                      {dateShort(m.received_at, lang, true)}
                      {m.attempts > 1 ? ` (${fill(t('admin.attempts'), { n: m.attempts })})` : ''}
                    </Table.Cell>
                    <Table.Cell>
                      <span className="worklist-what">{t('admin.senderSays')}</span>
                      <ul className="outcome-issues" lang="en">
                        {issues(m.outcome)
                          .slice(0, 5)
                          .map((i, k) => (
                            <li key={k}>
                              {i.expression?.[0] ? <code>{i.expression[0]}</code> : null} {i.diagnostics}
                            </li>
                          ))}
                      </ul>
                    </Table.Cell>
                    <Table.Cell>
                      <Button
                        data-size="sm"
                        variant="secondary"
                        onClick={() => void reprocess(m.id)}
                        aria-label={fill(t('admin.reprocessOne'), { id: m.id })}
                      >
                        {t('admin.reprocess')}
                      </Button>
                    </Table.Cell>
                  </Table.Row>
                ))}
              </Table.Body>
            </Table>
          </ScrollTable>
        ))}
    </section>
  );
}

interface Grant {
  registry: string;
  role: string;
  unit: string;
}
interface UserView {
  subject: string;
  name: string;
  patient: boolean;
  lastLoginAt: string | null;
  grants: Grant[];
}
const ROLES = ['unit-registrar', 'unit-reader', 'registry-admin', 'researcher', 'platform-admin'];

function Users() {
  const { t, tryT, lang } = useI18n();
  const units = useUnits();
  const registries = useRegistries();
  const [version, setVersion] = useState(0);
  const list = useApi<UserView[]>(`/api/admin/users?v=${version}`);
  const [editing, setEditing] = useState<{ subject: string; grants: Grant[] } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState('');
  const save = async () => {
    if (!editing) return;
    setError(null);
    try {
      await api(`/api/admin/users/${encodeURIComponent(editing.subject)}/grants`, { method: 'PUT', body: { grants: editing.grants } });
      setStatus(t('admin.grantsSaved'));
      setEditing(null);
      setVersion((v) => v + 1);
    } catch (err) {
      setError(errorText(err, tryT));
    }
  };
  const grantText = (g: Grant) =>
    `${t(`role.${g.role}` as Key)} – ${g.unit === '1' ? t('home.nation') : unitName(units.byResh.get(g.unit), lang, g.unit, units.byResh)} (${g.registry === '*' ? t('admin.allRegistries') : (registries.find((r) => r.id === g.registry)?.title[lang] ?? g.registry)})`;
  return (
    <section aria-labelledby="users-heading">
      <Heading level={2} data-size="sm" id="users-heading">
        {t('admin.tab.users')}
      </Heading>
      <Paragraph>{t('admin.usersIntro')}</Paragraph>
      <div role="status">
        {status && (
          <Alert data-color="success">
            <Paragraph>{status}</Paragraph>
          </Alert>
        )}
      </div>
      {error && (
        <Alert data-color="danger">
          <Paragraph>{error}</Paragraph>
        </Alert>
      )}
      {list.data && (
        <ScrollTable label={t('admin.tab.users')}>
          <Table zebra data-testid="users-table">
            <caption>{t('admin.usersCaption')}</caption>
            <Table.Head>
              <Table.Row>
                {(['admin.person', 'admin.grants', 'admin.lastLogin', 'sub.actions'] as Key[]).map((k) => (
                  <Table.HeaderCell scope="col" key={k}>
                    {t(k)}
                  </Table.HeaderCell>
                ))}
              </Table.Row>
            </Table.Head>
            <Table.Body>
              {list.data.map((u) => (
                <Table.Row key={u.subject} data-user={u.subject}>
                  <Table.HeaderCell scope="row">
                    {u.name}
                    {u.patient ? <div className="worklist-what">{t('role.patient')}</div> : null}
                  </Table.HeaderCell>
                  <Table.Cell>
                    {editing?.subject === u.subject ? (
                      <div className="grant-editor">
                        {editing.grants.map((g, i) => (
                          <div key={i} className="grant-row filters">
                            <Field>
                              <Label htmlFor={`g-${i}-registry`}>{t('hosp.registry')}</Label>
                              <Select
                                id={`g-${i}-registry`}
                                value={g.registry}
                                onChange={(e) =>
                                  setEditing({
                                    ...editing,
                                    grants: editing.grants.map((x, k) => (k === i ? { ...x, registry: e.target.value } : x)),
                                  })
                                }
                              >
                                <Select.Option value="*">{t('admin.allRegistries')}</Select.Option>
                                {registries.map((r) => (
                                  <Select.Option key={r.id} value={r.id}>
                                    {r.title[lang]}
                                  </Select.Option>
                                ))}
                              </Select>
                            </Field>
                            <Field>
                              <Label htmlFor={`g-${i}-role`}>{t('auth.role')}</Label>
                              <Select
                                id={`g-${i}-role`}
                                value={g.role}
                                onChange={(e) =>
                                  setEditing({
                                    ...editing,
                                    grants: editing.grants.map((x, k) => (k === i ? { ...x, role: e.target.value } : x)),
                                  })
                                }
                              >
                                {ROLES.map((r) => (
                                  <Select.Option key={r} value={r}>
                                    {t(`role.${r}` as Key)}
                                  </Select.Option>
                                ))}
                              </Select>
                            </Field>
                            <Field className="unit-field">
                              <Label htmlFor={`g-${i}-unit`}>{t('ind.unit')}</Label>
                              <UnitCombobox
                                id={`g-${i}-unit`}
                                value={g.unit}
                                onChange={(v) =>
                                  setEditing({ ...editing, grants: editing.grants.map((x, k) => (k === i ? { ...x, unit: v } : x)) })
                                }
                              />
                            </Field>
                            <Button
                              data-size="sm"
                              variant="tertiary"
                              onClick={() => setEditing({ ...editing, grants: editing.grants.filter((_, k) => k !== i) })}
                            >
                              {t('admin.removeGrant')}
                            </Button>
                          </div>
                        ))}
                        <div className="row-actions">
                          <Button
                            data-size="sm"
                            variant="secondary"
                            onClick={() =>
                              setEditing({
                                ...editing,
                                grants: [...editing.grants, { registry: registries[0]?.id ?? '*', role: 'unit-reader', unit: '' }],
                              })
                            }
                          >
                            {t('admin.addGrant')}
                          </Button>
                          <Button data-size="sm" onClick={() => void save()}>
                            {t('reg.save')}
                          </Button>
                          <Button data-size="sm" variant="tertiary" onClick={() => setEditing(null)}>
                            {t('reg.cancel')}
                          </Button>
                        </div>
                      </div>
                    ) : u.grants.length ? (
                      <ul className="plain-list">
                        {u.grants.map((g, i) => (
                          <li key={i}>{grantText(g)}</li>
                        ))}
                      </ul>
                    ) : (
                      t('admin.noGrants')
                    )}
                  </Table.Cell>
                  <Table.Cell>{u.lastLoginAt ? dateShort(u.lastLoginAt, lang, true) : '–'}</Table.Cell>
                  <Table.Cell>
                    {editing?.subject !== u.subject && (
                      <Button
                        data-size="sm"
                        variant="secondary"
                        onClick={() => {
                          setStatus('');
                          setEditing({ subject: u.subject, grants: u.grants });
                        }}
                        aria-label={fill(t('admin.editGrantsOf'), { name: u.name })}
                      >
                        {t('admin.editGrants')}
                      </Button>
                    )}
                  </Table.Cell>
                </Table.Row>
              ))}
            </Table.Body>
          </Table>
        </ScrollTable>
      )}
    </section>
  );
}

function Units() {
  const { t, lang } = useI18n();
  const units = useUnits();
  const [filter, setFilter] = useState('');
  const shown = useMemo(() => {
    const words = fold(filter).split(/\s+/).filter(Boolean);
    return units.list
      .filter((u) => words.every((w) => fold(`${u.name.nb} ${u.name.en} ${u.resh} ${u.short ?? ''}`).includes(w)))
      .slice(0, 300);
  }, [units.list, filter]);
  return (
    <section aria-labelledby="units-heading">
      <Heading level={2} data-size="sm" id="units-heading">
        {t('admin.tab.units')}
      </Heading>
      <Paragraph>{t('admin.unitsIntro')}</Paragraph>
      <Field className="inline-field">
        <Label htmlFor="unit-filter">{t('admin.filter')}</Label>
        <Input id="unit-filter" type="search" value={filter} onChange={(e) => setFilter(e.target.value)} />
      </Field>
      <ScrollTable label={t('admin.tab.units')}>
        <Table zebra data-testid="units-table">
          <caption>{fill(t('admin.unitsCaption'), { shown: shown.length, n: units.list.length })}</caption>
          <Table.Head>
            <Table.Row>
              {(['admin.unitName', 'admin.level', 'admin.resh', 'admin.parent'] as Key[]).map((k) => (
                <Table.HeaderCell scope="col" key={k}>
                  {t(k)}
                </Table.HeaderCell>
              ))}
            </Table.Row>
          </Table.Head>
          <Table.Body>
            {shown.map((u) => (
              <Table.Row key={u.resh}>
                <Table.HeaderCell scope="row">{u.name[lang]}</Table.HeaderCell>
                <Table.Cell>{u.level === 'nation' ? t('home.nation') : t(`unitLevel.${u.level}` as Key)}</Table.Cell>
                <Table.Cell>{u.resh}</Table.Cell>
                <Table.Cell>{u.parent ? unitName(units.byResh.get(u.parent), lang, u.parent, units.byResh) : '–'}</Table.Cell>
              </Table.Row>
            ))}
          </Table.Body>
        </Table>
      </ScrollTable>
    </section>
  );
}

interface AuditRow {
  id: number;
  at: string;
  actor: string;
  role: string;
  unit: string | null;
  registry: string | null;
  personId: number | null;
  action: string;
  object: string;
  purpose: string;
  outcome: string;
}

function Audit() {
  const { t, tryT, lang } = useI18n();
  const q = useQuery();
  const { setQuery } = useRoute();
  const units = useUnits();
  const [action, setAction] = useState(q.get('action') ?? '');
  const params = new URLSearchParams({ limit: '50' });
  for (const k of ['action', 'from', 'to', 'outcome', 'after']) {
    const v = q.get(k);
    if (v) params.set(k, v);
  }
  const page = useApi<{ events: AuditRow[]; next: number | null }>(`/api/audit?${params}`);
  return (
    <section aria-labelledby="audit-heading">
      <Heading level={2} data-size="sm" id="audit-heading">
        {t('admin.tab.audit')}
      </Heading>
      <Paragraph>{t('admin.auditIntro')}</Paragraph>
      <form
        className="filters"
        aria-label={t('admin.auditFilters')}
        onSubmit={(e) => {
          e.preventDefault();
          setQuery({ action: action || null, after: null });
        }}
      >
        <Field>
          <Label htmlFor="audit-action">{t('admin.action')}</Label>
          <Input id="audit-action" value={action} onChange={(e) => setAction(e.target.value)} />
        </Field>
        <Field>
          <Label htmlFor="audit-from">{t('wl.from')}</Label>
          <Input
            id="audit-from"
            type="date"
            value={q.get('from') ?? ''}
            onChange={(e) => setQuery({ from: e.target.value || null, after: null })}
          />
        </Field>
        <Field>
          <Label htmlFor="audit-to">{t('wl.to')}</Label>
          <Input
            id="audit-to"
            type="date"
            value={q.get('to') ?? ''}
            onChange={(e) => setQuery({ to: e.target.value || null, after: null })}
          />
        </Field>
        <Field>
          <Label htmlFor="audit-outcome">{t('admin.outcome')}</Label>
          <Select
            id="audit-outcome"
            value={q.get('outcome') ?? ''}
            onChange={(e) => setQuery({ outcome: e.target.value || null, after: null })}
          >
            <Select.Option value="">{t('hosp.all')}</Select.Option>
            <Select.Option value="ok">{t('admin.outcome.ok')}</Select.Option>
            <Select.Option value="denied">{t('admin.outcome.denied')}</Select.Option>
          </Select>
        </Field>
        <div className="filter-actions">
          <Button type="submit" data-size="sm">
            {t('wl.apply')}
          </Button>
        </div>
      </form>
      {page.error && (
        <Alert data-color="danger">
          <Paragraph>{page.error}</Paragraph>
        </Alert>
      )}
      {page.data && (
        <>
          <ScrollTable label={t('admin.tab.audit')}>
            <Table zebra data-testid="audit-table">
              <caption>{t('admin.auditCaption')}</caption>
              <Table.Head>
                <Table.Row>
                  {(['innsyn.when', 'innsyn.who', 'ind.unit', 'admin.action', 'admin.object', 'innsyn.why', 'admin.outcome'] as Key[]).map(
                    (k) => (
                      <Table.HeaderCell scope="col" key={k}>
                        {t(k)}
                      </Table.HeaderCell>
                    ),
                  )}
                </Table.Row>
              </Table.Head>
              <Table.Body>
                {page.data.events.map((e) => (
                  <Table.Row key={e.id}>
                    <Table.Cell>{dateShort(e.at, lang, true)}</Table.Cell>
                    <Table.Cell>
                      {e.actor}
                      <div className="worklist-what">
                        {e.role
                          .split(',')
                          .map((r) => tryT(`role.${r}`, r))
                          .join(', ')}
                      </div>
                    </Table.Cell>
                    <Table.Cell>{e.unit ? unitName(units.byResh.get(e.unit), lang, e.unit, units.byResh) : '–'}</Table.Cell>
                    <Table.Cell>{tryT(`action.${e.action}`, tryT(`purpose.${e.action}`, e.action))}</Table.Cell>
                    <Table.Cell>
                      <code>{e.object}</code>
                      {e.personId ? <div className="worklist-what">{fill(t('admin.person.id'), { id: e.personId })}</div> : null}
                    </Table.Cell>
                    <Table.Cell>{tryT(`purpose.${e.purpose}`, e.purpose)}</Table.Cell>
                    <Table.Cell>{e.outcome === 'denied' ? t('admin.outcome.denied') : t('admin.outcome.ok')}</Table.Cell>
                  </Table.Row>
                ))}
              </Table.Body>
            </Table>
          </ScrollTable>
          {page.data.next && (
            <nav className="pager" aria-label={t('admin.auditPages')}>
              <Button data-size="sm" variant="secondary" onClick={() => setQuery({ after: String(page.data!.next) })}>
                {t('reg.next')}
              </Button>
            </nav>
          )}
        </>
      )}
    </section>
  );
}

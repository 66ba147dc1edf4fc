// The unit's follow-up worklist for digital home follow-up (/follow-up): patients whose PROM
// answers call for a check-up (thresholds crossed, asked for one, no answer), and those marked
// "no check-up needed", each with the reasons and the answers summarised. A registrar may change
// the assessment with a reason; the history shows who, when and why.
import {
  Alert,
  Button,
  Card,
  Dialog,
  Fieldset,
  Heading,
  Paragraph,
  Radio,
  Spinner,
  Table,
  Tabs,
  Textfield,
} from '@digdir/designsystemet-react';
import { useState } from 'react';
import { api } from '../api.ts';
import { Page } from '../components/Page.tsx';
import { useApi, useRegistryId } from '../data.tsx';
import { errorText } from '../errors.ts';
import { formatDateTime, useI18n, type Key } from '../i18n.tsx';
import { useInvalidate } from '../query.ts';
import { Link, useQuery, useRoute } from '../router.tsx';
import { useSession } from '../session.tsx';
import '../prom.css';

type Text = { nb: string; en: string };
interface Reason {
  kind: 'request' | 'threshold' | 'unassessable' | 'no-answer';
  criterion?: string;
  label?: Text;
  instrument?: string;
  value?: unknown;
  threshold?: string;
}
interface SummaryLine {
  instrument: string;
  instrumentTitle: Text;
  score?: string;
  item?: string;
  label: Text;
  value: unknown;
  display?: string;
  range?: [number, number];
  placeholder?: boolean;
}
interface Row {
  caseId: number;
  triage: string;
  title: Text;
  unit: string | null;
  person: { birthYear: number | null; sex: string | null };
  outcome: string;
  decision: 'visit' | 'no-visit';
  reasons: Reason[];
  summary: SummaryLine[];
  answeredAt: string | null;
  decidedAt: string;
  override: { by: string; at: string; reason: string } | null;
  verified: boolean;
  history: Array<{ at: string; kind: string; actor: string; decision: string; outcome: string | null; reason: string | null }>;
}
interface List {
  counts: { visit: number; 'no-visit': number };
  total: number;
  items: Row[];
}

const STAFF = ['unit-registrar', 'unit-reader', 'registry-admin', 'platform-admin'];
const WRITERS = ['unit-registrar', 'registry-admin', 'platform-admin'];

export function FollowUp() {
  const { t } = useI18n();
  const { me, loading } = useSession();
  const registry = useRegistryId();
  const query = useQuery();
  const { setQuery } = useRoute();
  const decision = query.get('decision') === 'no-visit' ? 'no-visit' : 'visit';
  const [editing, setEditing] = useState<Row | null>(null);
  const [notice, setNotice] = useState('');
  const role = me?.active?.role;
  const unit = me?.active && me.active.unit !== '1' && (role === 'unit-registrar' || role === 'unit-reader') ? me.active.unit : undefined;

  const listQuery = useApi<List>(
    registry && role && STAFF.includes(role)
      ? `/api/registries/${registry}/prom/follow-up?decision=${decision}${unit ? `&unit=${unit}` : ''}`
      : null,
  );
  const list = listQuery.data;
  const error = listQuery.error;
  const invalidate = useInvalidate();

  if (loading)
    return (
      <Page title={t('fu.title')}>
        <Spinner aria-label={t('auth.loading')} />
      </Page>
    );
  if (!role || !STAFF.includes(role))
    return (
      <Page title={t('fu.title')}>
        <Alert data-color="info">
          <Paragraph>{t('fu.notStaff')}</Paragraph>
        </Alert>
      </Page>
    );
  const canChange = WRITERS.includes(role);

  return (
    <Page title={t('fu.title')}>
      <Paragraph>{t('fu.intro')}</Paragraph>
      {list?.items.some((r) => !r.verified) && (
        <Alert data-color="warning">
          <Paragraph>{t('fu.unverified')}</Paragraph>
        </Alert>
      )}
      <p role="status" className="visually-hidden-if-empty">
        {notice}
      </p>
      {error && (
        <Alert data-color="danger">
          <Paragraph>{error}</Paragraph>
        </Alert>
      )}
      <Tabs
        value={decision}
        onChange={(v: string) => {
          setNotice('');
          setQuery({ decision: v === 'visit' ? null : v });
        }}
      >
        <Tabs.List aria-label={t('fu.lists')}>
          <Tabs.Tab value="visit">
            {t('fu.visit')}
            {list ? ` (${list.counts.visit})` : ''}
          </Tabs.Tab>
          <Tabs.Tab value="no-visit">
            {t('fu.noVisit')}
            {list ? ` (${list.counts['no-visit']})` : ''}
          </Tabs.Tab>
        </Tabs.List>
        {(['visit', 'no-visit'] as const).map((v) => (
          <Tabs.Panel key={v} value={v}>
            {v === decision && (
              <>
                {!list && !error && <Spinner aria-label={t('fu.loading')} />}
                {list && list.items.length === 0 && <Paragraph className="fu-empty">{t('fu.empty')}</Paragraph>}
                <ul className="fu-list">
                  {list?.items.map((r) => (
                    <li key={`${r.caseId}-${r.triage}`}>
                      <Patient row={r} canChange={canChange} onChange={() => setEditing(r)} />
                    </li>
                  ))}
                </ul>
              </>
            )}
          </Tabs.Panel>
        ))}
      </Tabs>
      {editing && registry && (
        <Override
          row={editing}
          registry={registry}
          onClose={() => setEditing(null)}
          onDone={async () => {
            setEditing(null);
            setNotice(t('fu.changed'));
            // Both tabs' lists (and their counts) change when a patient moves between them.
            await invalidate(`/api/registries/${registry}/prom/follow-up`);
          }}
        />
      )}
    </Page>
  );
}

function value(line: SummaryLine, t: (k: Key) => string): string {
  if (line.value === null || line.value === undefined || line.value === '') return '–';
  if (typeof line.value === 'boolean') return line.value ? t('prom.yes') : t('prom.no');
  if (line.display) return `${line.display} (${String(line.value)})`;
  if (line.range) return `${String(line.value)} (${line.range[0]}–${line.range[1]})`;
  return String(line.value);
}

function Patient({ row, canChange, onChange }: { row: Row; canChange: boolean; onChange(): void }) {
  const { t, lang } = useI18n();
  const who = [
    row.person.sex === 'female' ? t('fu.female') : row.person.sex === 'male' ? t('fu.male') : null,
    row.person.birthYear ? `${t('fu.born')} ${row.person.birthYear}` : null,
  ]
    .filter(Boolean)
    .join(', ');
  const headingId = `fu-${row.caseId}-${row.triage}`;
  return (
    <Card className={`fu-card fu-card--${row.decision}`} aria-labelledby={headingId}>
      <Heading level={2} data-size="xs" id={headingId}>
        {t('fu.case')} {row.caseId}
        {who ? ` – ${who}` : ''}
      </Heading>
      <dl className="prom-facts">
        <dt>{t('fu.answered')}</dt>
        <dd>{row.answeredAt ? formatDateTime(row.answeredAt, lang) : t('fu.notAnswered')}</dd>
        <dt>{t('fu.decision')}</dt>
        <dd>
          <strong>{row.decision === 'visit' ? `● ${t('fu.visit')}` : `○ ${t('fu.noVisit')}`}</strong>
          {row.override && (
            <>
              {' '}
              ({t('fu.changedBy')} {row.override.by}, {formatDateTime(row.override.at, lang)}: «{row.override.reason}»)
            </>
          )}
        </dd>
      </dl>
      <Heading level={3} data-size="2xs">
        {t('fu.reasons')}
      </Heading>
      {row.reasons.length === 0 ? (
        <Paragraph data-size="sm">{t('fu.noReasons')}</Paragraph>
      ) : (
        <ul className="fu-reasons">
          {row.reasons.map((r, i) => (
            <li key={i}>
              {r.kind === 'threshold'
                ? `${r.label?.[lang] ?? r.criterion}: ${String(r.value)} (${r.threshold})`
                : r.kind === 'request'
                  ? t('fu.reason.request')
                  : r.kind === 'no-answer'
                    ? t('fu.reason.no-answer')
                    : `${r.label?.[lang] ?? r.criterion}: ${t('fu.reason.unassessable')}`}
            </li>
          ))}
        </ul>
      )}
      {row.summary.length > 0 && (
        <Table data-size="sm" className="fu-answers">
          <caption>{t('fu.answers')}</caption>
          <Table.Head>
            <Table.Row>
              <Table.HeaderCell scope="col">{t('fu.question')}</Table.HeaderCell>
              <Table.HeaderCell scope="col">{t('fu.value')}</Table.HeaderCell>
            </Table.Row>
          </Table.Head>
          <Table.Body>
            {row.summary.map((s) => (
              <Table.Row key={`${s.instrument}.${s.score ?? s.item}`}>
                <Table.HeaderCell scope="row">
                  {s.instrumentTitle[lang]}: {s.label[lang]}
                </Table.HeaderCell>
                <Table.Cell>
                  {value(s, t)}
                  {s.placeholder && s.value !== null ? ` (${t('fu.placeholder')})` : ''}
                </Table.Cell>
              </Table.Row>
            ))}
          </Table.Body>
        </Table>
      )}
      {row.history.length > 0 && (
        <details className="fu-history">
          <summary>{t('fu.history')}</summary>
          <ul>
            {row.history.map((h, i) => (
              <li key={i}>
                {formatDateTime(h.at, lang)}: {h.decision === 'visit' ? t('fu.visit') : t('fu.noVisit')} –{' '}
                {h.kind === 'automatic' ? t('fu.automatic') : h.actor}
                {h.reason ? ` («${h.reason}»)` : ''}
              </li>
            ))}
          </ul>
        </details>
      )}
      <div className="fu-actions">
        {canChange && (
          <Button variant="secondary" data-size="sm" onClick={onChange}>
            {t('fu.change')}
          </Button>
        )}
        <Link to={`/registrations?case=${row.caseId}`}>{t('fu.openCase')}</Link>
      </div>
    </Card>
  );
}

function Override({ row, registry, onClose, onDone }: { row: Row; registry: string; onClose(): void; onDone(): Promise<void> }) {
  const { t, tryT } = useI18n();
  const [decision, setDecision] = useState<'visit' | 'no-visit'>(row.decision === 'visit' ? 'no-visit' : 'visit');
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [missing, setMissing] = useState(false);
  const [busy, setBusy] = useState(false);
  const save = async () => {
    if (reason.trim().length < 3) {
      setMissing(true);
      return;
    }
    setBusy(true);
    try {
      await api(`/api/registries/${registry}/prom/follow-up/${row.caseId}/${row.triage}`, { method: 'POST', body: { decision, reason } });
      await onDone();
    } catch (err) {
      setError(errorText(err, tryT));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog open modal onClose={onClose} closeButton={t('fu.cancel')} aria-labelledby="override-title">
      <Heading level={2} data-size="sm" id="override-title">
        {t('fu.change')}: {t('fu.case')} {row.caseId}
      </Heading>
      <form
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
        className="fu-override"
      >
        <Fieldset>
          <Fieldset.Legend>{t('fu.decision')}</Fieldset.Legend>
          <Radio
            name="decision"
            value="visit"
            label={t('fu.toVisit')}
            checked={decision === 'visit'}
            onChange={() => setDecision('visit')}
          />
          <Radio
            name="decision"
            value="no-visit"
            label={t('fu.toNoVisit')}
            checked={decision === 'no-visit'}
            onChange={() => setDecision('no-visit')}
          />
        </Fieldset>
        <Textfield
          multiline
          rows={3}
          label={t('fu.reason')}
          description={t('fu.reasonHelp')}
          value={reason}
          onChange={(e) => {
            setReason(e.target.value);
            setMissing(false);
          }}
          error={missing ? t('fu.reasonMissing') : undefined}
        />
        {error && (
          <Alert data-color="danger">
            <Paragraph>{error}</Paragraph>
          </Alert>
        )}
        <div className="dialog-actions">
          <Button type="submit" loading={busy}>
            {t('fu.save')}
          </Button>
          <Button type="button" variant="secondary" onClick={onClose}>
            {t('fu.cancel')}
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

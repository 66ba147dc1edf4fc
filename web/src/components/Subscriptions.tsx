// Report subscriptions, in two kinds that look the same to the user: a person's own (sent to
// their own e-mail address) and a registry admin's dispatches to a mailing list for a unit. One
// form to create either, one table to see them with their delivery log, send now, and end them.
import { Alert, Button, Details, Field, Input, Label, Paragraph, Select, Table, Textarea } from '@digdir/designsystemet-react';
import { useEffect, useId, useState } from 'react';
import { api } from '../api.ts';
import { errorText } from '../errors.ts';
import { unitName, useApi, type IndicatorDecl, type UnitView } from '../data.tsx';
import { formatDateTime, useI18n, type Key } from '../i18n.tsx';
import { useInvalidate } from '../query.ts';
import { UnitPicker } from './UnitPicker.tsx';
import { ScrollTable } from './ScrollTable.tsx';

export interface Subscription {
  id: number;
  registry: string;
  report: 'unit' | 'indicator';
  unit: string;
  indicator: string | null;
  frequency: 'daily' | 'weekly' | 'monthly' | 'quarterly';
  lang: 'nb' | 'en';
  recipients: string[];
  nextRunAt: string;
  expiresAt: string | null;
  active: boolean;
}
interface Delivery {
  recipient: string;
  attempt: number;
  at: string;
  outcome: 'sent' | 'failed';
  error: string | null;
  errorCode: string | null;
  bytes: number | null;
}
type Kind = 'own' | 'dispatch';
const FREQUENCIES = ['daily', 'weekly', 'monthly', 'quarterly'] as const;

/** Where each kind lives in the API. */
const paths = (kind: Kind, registry: string) =>
  kind === 'own'
    ? { create: `/api/registries/${registry}/subscriptions`, list: '/api/subscriptions', one: (id: number) => `/api/subscriptions/${id}` }
    : {
        create: `/api/registries/${registry}/dispatches`,
        list: `/api/registries/${registry}/dispatches`,
        one: (id: number) => `/api/registries/${registry}/dispatches/${id}`,
      };

export function SubscriptionForm({
  kind,
  registry,
  units,
  own,
  indicators,
  onCreated,
}: {
  kind: Kind;
  registry: string;
  units: UnitView[];
  own: string | null;
  indicators: IndicatorDecl[];
  onCreated?(): void;
}) {
  const { t, tryT, lang } = useI18n();
  const id = useId();
  const [report, setReport] = useState<'unit' | 'indicator'>('unit');
  const [indicator, setIndicator] = useState('');
  const [unit, setUnit] = useState(own ?? '');
  // The own unit is known only once the session has arrived (a page opened directly).
  useEffect(() => {
    if (own) setUnit((u) => u || own);
  }, [own]);
  const features = useApi<{ mail: boolean }>('/api/platform/features');
  const invalidate = useInvalidate();
  const [frequency, setFrequency] = useState<(typeof FREQUENCIES)[number]>('monthly');
  const [email, setEmail] = useState('');
  const [expires, setExpires] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState('');
  const active = indicators.filter((i) => i.status === 'active');
  const chosenIndicator = indicator || active[0]?.id || '';

  const submit = async () => {
    setError(null);
    setStatus('');
    const recipients = email.split(/[\s,;]+/).filter(Boolean);
    try {
      await api(paths(kind, registry).create, {
        method: 'POST',
        body: {
          report,
          unit,
          frequency,
          lang,
          indicator: report === 'indicator' ? chosenIndicator : undefined,
          ...(kind === 'own' ? { email } : { recipients }),
          expires: expires || undefined,
        },
      });
      setStatus(t(kind === 'own' ? 'sub.created' : 'sub.dispatchCreated'));
      setEmail('');
      setExpires('');
      // The list of subscriptions (or dispatches) shows the new one.
      await invalidate(paths(kind, registry).list);
      onCreated?.();
    } catch (err) {
      setError(errorText(err, tryT));
    }
  };

  return (
    <form
      className="subscription-form"
      aria-label={t(kind === 'own' ? 'sub.newOwn' : 'sub.newDispatch')}
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <div className="filters">
        <Field>
          <Label htmlFor={`${id}-report`}>{t('sub.report')}</Label>
          <Select id={`${id}-report`} value={report} onChange={(e) => setReport(e.target.value as 'unit' | 'indicator')}>
            <Select.Option value="unit">{t('sub.report.unit')}</Select.Option>
            <Select.Option value="indicator">{t('sub.report.indicator')}</Select.Option>
          </Select>
        </Field>
        {report === 'indicator' && (
          <Field>
            <Label htmlFor={`${id}-indicator`}>{t('sub.indicator')}</Label>
            <Select id={`${id}-indicator`} value={chosenIndicator} onChange={(e) => setIndicator(e.target.value)}>
              {active.map((i) => (
                <Select.Option key={i.id} value={i.id}>
                  {i.number}. {i.title}
                </Select.Option>
              ))}
            </Select>
          </Field>
        )}
        <UnitPicker id={`${id}-unit`} units={units} value={unit} onChange={setUnit} own={own} />
        <Field>
          <Label htmlFor={`${id}-frequency`}>{t('sub.frequency')}</Label>
          <Select id={`${id}-frequency`} value={frequency} onChange={(e) => setFrequency(e.target.value as typeof frequency)}>
            {FREQUENCIES.map((f) => (
              <Select.Option key={f} value={f}>
                {t(`sub.freq.${f}` as Key)}
              </Select.Option>
            ))}
          </Select>
        </Field>
        <Field>
          <Label htmlFor={`${id}-expires`}>{t('sub.expires')}</Label>
          <Input
            id={`${id}-expires`}
            type="date"
            value={expires}
            onChange={(e) => setExpires(e.target.value)}
            aria-describedby={`${id}-expires-d`}
          />
          <Paragraph data-size="sm" id={`${id}-expires-d`}>
            {t('sub.expiresHelp')}
          </Paragraph>
        </Field>
      </div>
      <Field>
        <Label htmlFor={`${id}-email`}>{t(kind === 'own' ? 'sub.email' : 'sub.recipients')}</Label>
        {kind === 'own' ? (
          <Input id={`${id}-email`} type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        ) : (
          <Textarea
            id={`${id}-email`}
            rows={3}
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            aria-describedby={`${id}-email-d`}
          />
        )}
        {kind === 'dispatch' && (
          <Paragraph data-size="sm" id={`${id}-email-d`}>
            {t('sub.recipientsHelp')}
          </Paragraph>
        )}
      </Field>
      {features.data && !features.data.mail && (
        <Alert data-color="warning">
          <Paragraph>{t('sub.mailMissing')}</Paragraph>
        </Alert>
      )}
      <Button type="submit" disabled={!unit}>
        {t(kind === 'own' ? 'sub.subscribe' : 'sub.createDispatch')}
      </Button>
      {!unit && <Paragraph data-size="sm">{t('sub.chooseUnit')}</Paragraph>}
      {error && (
        <Alert data-color="danger">
          <Paragraph>{error}</Paragraph>
        </Alert>
      )}
      <p role="status">{status}</p>
    </form>
  );
}

export function SubscriptionTable({
  kind,
  registry,
  units,
  indicators,
}: {
  kind: Kind;
  registry: string;
  units: Map<string, UnitView>;
  indicators: IndicatorDecl[];
}) {
  const { t, tryT, lang } = useI18n();
  const p = paths(kind, registry);
  const list = useApi<Subscription[]>(p.list);
  const invalidate = useInvalidate();
  const [status, setStatus] = useState('');
  const [error, setError] = useState<string | null>(null);
  const rows = (list.data ?? []).filter((s) => s.registry === registry);
  const act = async (what: 'send' | 'end', s: Subscription) => {
    setError(null);
    setStatus('');
    try {
      if (what === 'send') {
        const r = await api<{ queued: number }>(`${p.one(s.id)}/send`, { method: 'POST' });
        setStatus(r.queued ? t('sub.sent') : t('sub.alreadyQueued'));
      } else {
        await api(p.one(s.id), { method: 'DELETE' });
        setStatus(t('sub.ended'));
        await invalidate(p.list);
      }
    } catch (err) {
      setError(errorText(err, tryT));
    }
  };
  const what = (s: Subscription) =>
    s.report === 'unit'
      ? t('sub.report.unit')
      : `${t('sub.report.indicator')}: ${indicators.find((i) => i.id === s.indicator)?.title ?? s.indicator}`;

  if (list.error)
    return (
      <Alert data-color="danger">
        <Paragraph>{list.error}</Paragraph>
      </Alert>
    );
  if (!list.loading && rows.length === 0) return <Paragraph>{t(kind === 'own' ? 'sub.noneOwn' : 'sub.noneDispatch')}</Paragraph>;
  return (
    <>
      <ScrollTable label={t(kind === 'own' ? 'sub.ownCaption' : 'sub.dispatchCaption')}>
        <Table zebra className="subscription-table" data-kind={kind}>
          <caption>{t(kind === 'own' ? 'sub.ownCaption' : 'sub.dispatchCaption')}</caption>
          <Table.Head>
            <Table.Row>
              {(
                [
                  'sub.report',
                  'sub.unit',
                  'sub.frequency',
                  kind === 'own' ? 'sub.email' : 'sub.recipients',
                  'sub.next',
                  'sub.expires',
                  'sub.actions',
                ] as Key[]
              ).map((k) => (
                <Table.HeaderCell scope="col" key={k}>
                  {t(k)}
                </Table.HeaderCell>
              ))}
            </Table.Row>
          </Table.Head>
          <Table.Body>
            {rows.map((s) => (
              <Table.Row key={s.id} data-subscription={s.id}>
                <Table.Cell>{what(s)}</Table.Cell>
                <Table.Cell>{unitName(units.get(s.unit), lang, s.unit, units)}</Table.Cell>
                <Table.Cell>{t(`sub.freq.${s.frequency}` as Key)}</Table.Cell>
                <Table.Cell>{s.recipients.join(', ')}</Table.Cell>
                <Table.Cell>{s.active ? formatDateTime(s.nextRunAt, lang) : t('sub.inactive')}</Table.Cell>
                <Table.Cell>{s.expiresAt ? formatDateTime(s.expiresAt, lang) : '–'}</Table.Cell>
                <Table.Cell>
                  <div className="row-actions">
                    <Button
                      data-size="sm"
                      variant="secondary"
                      disabled={!s.active}
                      onClick={() => {
                        void act('send', s);
                      }}
                      aria-label={`${t('sub.sendNow')}: ${what(s)}`}
                    >
                      {t('sub.sendNow')}
                    </Button>
                    <Button
                      data-size="sm"
                      variant="tertiary"
                      onClick={() => {
                        void act('end', s);
                      }}
                      aria-label={`${t('sub.end')}: ${what(s)}`}
                    >
                      {t('sub.end')}
                    </Button>
                  </div>
                  <Details>
                    <Details.Summary>{t('sub.log')}</Details.Summary>
                    <Details.Content>
                      <DeliveryLog path={`${p.one(s.id)}/deliveries`} />
                    </Details.Content>
                  </Details>
                </Table.Cell>
              </Table.Row>
            ))}
          </Table.Body>
        </Table>
      </ScrollTable>
      {error && (
        <Alert data-color="danger">
          <Paragraph>{error}</Paragraph>
        </Alert>
      )}
      <p role="status">{status}</p>
    </>
  );
}

/** Every attempt to deliver, newest last; loaded when opened, and again on request. */
function DeliveryLog({ path }: { path: string }) {
  const { t, tryT, lang } = useI18n();
  const log = useApi<Delivery[]>(path);
  if (log.error) return <Paragraph>{log.error}</Paragraph>;
  if (!log.data) return null;
  return (
    <>
      {log.data.length === 0 ? (
        <Paragraph data-size="sm">{t('sub.logEmpty')}</Paragraph>
      ) : (
        <ul className="delivery-log">
          {log.data.map((d, i) => (
            <li key={i}>
              {formatDateTime(d.at, lang)}: {d.recipient} –{' '}
              {d.outcome === 'sent'
                ? t('sub.outcome.sent')
                : `${t('sub.outcome.failed')} (${tryT(`sub.error.${d.errorCode ?? 'other'}`, t('sub.error.other'))})`}
              {d.attempt > 1 ? `, ${t('sub.attempt')} ${d.attempt}` : ''}
            </li>
          ))}
        </ul>
      )}
      <Button data-size="sm" variant="tertiary" onClick={log.reload}>
        {t('sub.refresh')}
      </Button>
    </>
  );
}

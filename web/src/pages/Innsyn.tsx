// Innsyn: everything registered about the patient, in plain words, who has looked at it, and the
// right to opt out (reservation) with a confirmation step.
import { Alert, Button, Card, Dialog, Heading, Paragraph, Spinner, Table } from '@digdir/designsystemet-react';
import { useCallback, useEffect, useRef, useState } from 'react';
import { api, ApiError } from '../api.ts';
import { Page } from '../components/Page.tsx';
import { ScrollTable } from '../components/ScrollTable.tsx';
import { dateWords } from '../dates.ts';
import { errorText, fill } from '../errors.ts';
import { useI18n } from '../i18n.tsx';
import { useSession } from '../session.tsx';

interface InnsynView {
  registered: boolean;
  registries: Array<{ id: string; title: string; cases: Array<{ id: number; unit: string | null; registeredAt: string;
    forms: Array<{ title: string; status: string; values: Array<{ variable: string; label: string; value: string; source: string }> }> }> }>;
  accessLog: Array<{ at: string; who: string; unit: string | null; action: string; purpose: string; outcome: string }>;
}

interface Contact { email?: string; phone?: string; address?: string; web?: string }
interface InnsynStatus {
  reservation: { reservedAt: string; channel: string } | null;
  registries: Array<{ id: string; title: { nb: string; en: string }; dataController: string | null; contact: Contact | null }>;
}

export function Innsyn() {
  const { t, tryT, lang } = useI18n();
  const { me, loading: sessionLoading } = useSession();
  const [view, setView] = useState<InnsynView | null>(null);
  const [status, setStatus] = useState<InnsynStatus | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [reserved, setReserved] = useState<string | null>(null);
  const confirmation = useRef<HTMLDivElement>(null);
  const isPatient = me?.active?.role === 'patient';

  const load = useCallback(async () => {
    setError(null);
    try {
      const [v, st] = await Promise.all([api<InnsynView>(`/api/innsyn?lang=${lang}`), api<InnsynStatus>('/api/innsyn/status')]);
      setView(v); setStatus(st);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? t('error.session') : errorText(err, tryT));
    }
  }, [lang, t, tryT]);
  useEffect(() => { if (isPatient) void load(); }, [isPatient, load]);

  const reserve = async () => {
    setBusy(true);
    try {
      const res = await api<{ message: { nb: string; en: string } }>('/api/innsyn/reservation', { method: 'POST' });
      setConfirming(false);
      setReserved(res.message[lang]);
      await load();
      confirmation.current?.focus();
    } catch (err) {
      setConfirming(false);
      setError(errorText(err, tryT));
    } finally {
      setBusy(false);
    }
  };

  if (sessionLoading) return <Page title={t('innsyn.title')}><Spinner aria-label={t('auth.loading')} /></Page>;
  if (!isPatient) return <Page title={t('innsyn.title')}><Alert data-color="info"><Paragraph>{t('innsyn.notPatient')}</Paragraph></Alert></Page>;

  return (
    <Page title={t('innsyn.title')}>
      <Paragraph>{t('innsyn.intro')}</Paragraph>
      {reserved && (
        <Alert data-color="success" ref={confirmation} tabIndex={-1} className="innsyn-confirmation">
          <Heading level={2} data-size="xs">{t('innsyn.reserved')}</Heading>
          <Paragraph>{reserved}</Paragraph>
        </Alert>
      )}
      {error && <Alert data-color="danger"><Heading level={2} data-size="xs">{t('error.generic')}</Heading><Paragraph>{error}</Paragraph></Alert>}
      {!view && !error && <Spinner aria-label={t('innsyn.loading')} />}
      {status?.reservation && (
        <Alert data-color="info" className="innsyn-reservation" data-testid="innsyn-reservation">
          <Heading level={2} data-size="xs">{t('innsyn.reservedTitle')}</Heading>
          <Paragraph>{fill(t('innsyn.reservedOn'), { date: dateWords(status.reservation.reservedAt, lang) })}</Paragraph>
          <Paragraph>{t('innsyn.reservedLog')}</Paragraph>
          <Heading level={3} data-size="2xs">{t('innsyn.withdrawTitle')}</Heading>
          <Paragraph>{t('innsyn.withdrawText')}</Paragraph>
        </Alert>
      )}
      {view && !view.registered && !status?.reservation && <Paragraph className="innsyn-nothing">{t('innsyn.nothing')}</Paragraph>}
      {view?.registries.map((r) => (
        <section key={r.id} aria-labelledby={`reg-${r.id}`} className="innsyn-registry">
          <Heading level={2} data-size="md" id={`reg-${r.id}`}>{r.title}</Heading>
          {r.cases.map((c, i) => (
            <Card key={c.id} className="innsyn-case">
              <Heading level={3} data-size="sm">{t('innsyn.case')} {i + 1}</Heading>
              <dl className="innsyn-facts">
                <dt>{t('innsyn.registeredAt')}</dt><dd>{dateWords(c.registeredAt, lang, true)}</dd>
                {c.unit && <><dt>{t('innsyn.unit')}</dt><dd>{c.unit}</dd></>}
              </dl>
              {c.forms.map((f) => (
                <ScrollTable key={f.title} label={f.title}><Table zebra className="innsyn-form">
                  <caption>{f.title} <span className="innsyn-status">({t('innsyn.status').toLowerCase()}: {f.status})</span></caption>
                  <Table.Head><Table.Row>
                    <Table.HeaderCell scope="col">{t('innsyn.variable')}</Table.HeaderCell>
                    <Table.HeaderCell scope="col">{t('innsyn.value')}</Table.HeaderCell>
                    <Table.HeaderCell scope="col">{t('innsyn.source')}</Table.HeaderCell>
                  </Table.Row></Table.Head>
                  <Table.Body>{f.values.map((v) => (
                    <Table.Row key={v.variable}><Table.HeaderCell scope="row">{v.label}</Table.HeaderCell><Table.Cell>{v.value}</Table.Cell><Table.Cell>{v.source}</Table.Cell></Table.Row>
                  ))}</Table.Body>
                </Table></ScrollTable>
              ))}
            </Card>
          ))}
        </section>
      ))}
      {view?.registered && (
        <section aria-labelledby="access-log" className="innsyn-log">
          <Heading level={2} data-size="md" id="access-log">{t('innsyn.log')}</Heading>
          <Paragraph>{t('innsyn.logIntro')}</Paragraph>
          {view.accessLog.length === 0 ? <Paragraph>{t('innsyn.logEmpty')}</Paragraph> : (
            <ScrollTable label={t('innsyn.log')}><Table zebra>
              <Table.Head><Table.Row>
                <Table.HeaderCell scope="col">{t('innsyn.when')}</Table.HeaderCell>
                <Table.HeaderCell scope="col">{t('innsyn.who')}</Table.HeaderCell>
                <Table.HeaderCell scope="col">{t('innsyn.what')}</Table.HeaderCell>
                <Table.HeaderCell scope="col">{t('innsyn.why')}</Table.HeaderCell>
              </Table.Row></Table.Head>
              <Table.Body>{view.accessLog.map((e, i) => (
                <Table.Row key={i}>
                  <Table.Cell>{dateWords(e.at, lang, true)}</Table.Cell>
                  <Table.Cell>{e.who}{e.unit ? `, ${e.unit}` : ''}</Table.Cell>
                  <Table.Cell>{tryT(`action.${e.action}`, tryT(`purpose.${e.action}`, e.action))}{e.outcome === 'denied' ? ` (${t('innsyn.denied')})` : ''}</Table.Cell>
                  <Table.Cell>{tryT(`purpose.${e.purpose}`, e.purpose)}</Table.Cell>
                </Table.Row>
              ))}</Table.Body>
            </Table></ScrollTable>
          )}
        </section>
      )}
      {view?.registered && (
        <section aria-labelledby="reserve" className="innsyn-reserve">
          <Heading level={2} data-size="md" id="reserve">{t('innsyn.reserveTitle')}</Heading>
          <Paragraph>{t('innsyn.reserveText')}</Paragraph>
          <Button variant="secondary" data-color="danger" onClick={() => setConfirming(true)}>{t('innsyn.reserve')}</Button>
        </section>
      )}
      {status && (
        <section aria-labelledby="contact" className="innsyn-contact">
          <Heading level={2} data-size="md" id="contact">{t('innsyn.contactTitle')}</Heading>
          <Paragraph>{t('innsyn.contactText')}</Paragraph>
          {status.registries.filter((r) => r.contact || r.dataController).map((r) => (
            <Card key={r.id} className="innsyn-case">
              <Paragraph><strong>{r.title[lang]}</strong></Paragraph>
              <dl className="innsyn-facts">
                {r.dataController && <><dt>{t('innsyn.dataController')}</dt><dd>{r.dataController}</dd></>}
                {r.contact?.address && <><dt>{t('innsyn.contactAddress')}</dt><dd>{r.contact.address}</dd></>}
                {r.contact?.email && <><dt>{t('innsyn.contactEmail')}</dt><dd><a href={`mailto:${r.contact.email}`}>{r.contact.email}</a></dd></>}
                {r.contact?.phone && <><dt>{t('innsyn.contactPhone')}</dt><dd>{r.contact.phone}</dd></>}
                {r.contact?.web && <><dt>{t('innsyn.contactWeb')}</dt><dd><a href={r.contact.web}>{r.contact.web.replace(/^https?:\/\//, '')}</a></dd></>}
              </dl>
            </Card>
          ))}
        </section>
      )}
      <Dialog open={confirming} modal onClose={() => setConfirming(false)} closeButton={t('innsyn.cancel')} aria-labelledby="confirm-title">
        <Heading level={2} data-size="sm" id="confirm-title">{t('innsyn.confirmTitle')}</Heading>
        <Paragraph>{t('innsyn.confirmText')}</Paragraph>
        <div className="dialog-actions">
          <Button data-color="danger" onClick={() => void reserve()} loading={busy}>{t('innsyn.confirm')}</Button>
          <Button variant="secondary" onClick={() => setConfirming(false)}>{t('innsyn.cancel')}</Button>
        </div>
      </Dialog>
    </Page>
  );
}

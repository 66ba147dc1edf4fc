// Innsyn: everything registered about the patient, in plain words, who has looked at it, and the
// right to opt out (reservation) with a confirmation step.
import { Alert, Button, Card, Dialog, Heading, Paragraph, Spinner, Table } from '@digdir/designsystemet-react';
import { useRef, useState } from 'react';
import { api, ApiError } from '../api.ts';
import { Page } from '../components/Page.tsx';
import { ScrollTable } from '../components/ScrollTable.tsx';
import { dateWords } from '../dates.ts';
import { errorText, fill } from '../errors.ts';
import { useApi } from '../data.tsx';
import { useI18n } from '../i18n.tsx';
import { useInvalidate } from '../query.ts';
import { useSession } from '../session.tsx';

interface InnsynView {
  registered: boolean;
  registries: Array<{
    id: string;
    title: string;
    cases: Array<{
      id: number;
      unit: string | null;
      registeredAt: string;
      forms: Array<{ title: string; status: string; values: Array<{ variable: string; label: string; value: string; source: string }> }>;
    }>;
  }>;
  accessLog: Array<{ at: string; who: string; unit: string | null; action: string; purpose: string; outcome: string }>;
  prom?: PromInnsyn;
}

/** The questionnaires sent to the patient and their answers (src/prom/innsyn.ts). */
interface PromInnsyn {
  invitations: Array<{
    id: number;
    hospital: string;
    purpose: string;
    status: string;
    sentAt: string | null;
    deadline: string | null;
    answeredAt: string | null;
    asked: Array<{ registry: string; timepoint: string; instrument: string; status: string }>;
  }>;
  answers: Array<{
    id: number;
    instrument: string;
    recall: string;
    status: string;
    answeredAt: string | null;
    source: string;
    scores: Array<{ label: string; value: string }>;
    items: Array<{ question: string; answer: string }>;
    sharedWith: Array<{ registry: string; timepoint: string }>;
  }>;
}

/** Innsyn's PROM section: what the patient was asked, by whom and what became of it, and every answer kept. */
function PromSection({ prom }: { prom: PromInnsyn }) {
  const { t, lang } = useI18n();
  if (!prom.invitations.length && !prom.answers.length) return null;
  return (
    <section aria-labelledby="innsyn-prom" className="innsyn-prom">
      <Heading level={2} data-size="md" id="innsyn-prom">
        {t('innsyn.prom')}
      </Heading>
      <Paragraph>{t('innsyn.promIntro')}</Paragraph>
      {prom.invitations.length > 0 && (
        <Heading level={3} data-size="sm">
          {t('innsyn.promInvitations')}
        </Heading>
      )}
      {prom.invitations.map((v) => (
        <Card key={v.id} className="innsyn-case">
          <Heading level={4} data-size="xs">
            {v.hospital}
          </Heading>
          <Paragraph data-size="sm">{v.purpose}</Paragraph>
          <dl className="innsyn-facts">
            <dt>{t('innsyn.status')}</dt>
            <dd>{v.status}</dd>
            {v.sentAt && (
              <>
                <dt>{t('innsyn.promSent')}</dt>
                <dd>{dateWords(v.sentAt, lang, true)}</dd>
              </>
            )}
            {v.deadline && (
              <>
                <dt>{t('innsyn.promDeadline')}</dt>
                <dd>{dateWords(v.deadline, lang, true)}</dd>
              </>
            )}
            {v.answeredAt && (
              <>
                <dt>{t('innsyn.promAnswered')}</dt>
                <dd>{dateWords(v.answeredAt, lang, true)}</dd>
              </>
            )}
          </dl>
          <Table zebra className="innsyn-form">
            <caption>{t('innsyn.promAsked')}</caption>
            <Table.Head>
              <Table.Row>
                <Table.HeaderCell scope="col">{t('promResults.instrument')}</Table.HeaderCell>
                <Table.HeaderCell scope="col">{t('innsyn.promRegistry')}</Table.HeaderCell>
                <Table.HeaderCell scope="col">{t('innsyn.promWhen')}</Table.HeaderCell>
                <Table.HeaderCell scope="col">{t('innsyn.status')}</Table.HeaderCell>
              </Table.Row>
            </Table.Head>
            <Table.Body>
              {v.asked.map((a, i) => (
                <Table.Row key={i}>
                  <Table.HeaderCell scope="row">{a.instrument}</Table.HeaderCell>
                  <Table.Cell>{a.registry}</Table.Cell>
                  <Table.Cell>{a.timepoint}</Table.Cell>
                  <Table.Cell>{a.status}</Table.Cell>
                </Table.Row>
              ))}
            </Table.Body>
          </Table>
        </Card>
      ))}
      {prom.answers.length > 0 && (
        <Heading level={3} data-size="sm">
          {t('innsyn.promAnswers')}
        </Heading>
      )}
      {prom.answers.map((a) => (
        <Card key={a.id} className="innsyn-case">
          <Heading level={4} data-size="xs">
            {a.instrument}
          </Heading>
          <dl className="innsyn-facts">
            <dt>{t('innsyn.status')}</dt>
            <dd>
              {a.status} ({a.recall.toLowerCase()})
            </dd>
            {a.answeredAt && (
              <>
                <dt>{t('innsyn.promAnswered')}</dt>
                <dd>{dateWords(a.answeredAt, lang, true)}</dd>
              </>
            )}
            <dt>{t('innsyn.source')}</dt>
            <dd>{a.source}</dd>
            {a.sharedWith.length > 0 && (
              <>
                <dt>{t('innsyn.promShared')}</dt>
                <dd>{a.sharedWith.map((x) => `${x.registry} (${x.timepoint.toLowerCase()})`).join(', ')}</dd>
              </>
            )}
            {a.scores.length > 0 && (
              <>
                <dt>{t('innsyn.promScores')}</dt>
                <dd>{a.scores.map((x) => `${x.label}: ${x.value}`).join('; ')}</dd>
              </>
            )}
          </dl>
          <Table zebra className="innsyn-form">
            <caption>{a.instrument}</caption>
            <Table.Head>
              <Table.Row>
                <Table.HeaderCell scope="col">{t('innsyn.promQuestion')}</Table.HeaderCell>
                <Table.HeaderCell scope="col">{t('innsyn.promAnswer')}</Table.HeaderCell>
              </Table.Row>
            </Table.Head>
            <Table.Body>
              {a.items.map((x, i) => (
                <Table.Row key={i}>
                  <Table.HeaderCell scope="row">{x.question}</Table.HeaderCell>
                  <Table.Cell>{x.answer}</Table.Cell>
                </Table.Row>
              ))}
            </Table.Body>
          </Table>
        </Card>
      ))}
    </section>
  );
}

interface Contact {
  email?: string;
  phone?: string;
  address?: string;
  web?: string;
}
interface InnsynStatus {
  reservation: { reservedAt: string; channel: string } | null;
  registries: Array<{ id: string; title: { nb: string; en: string }; dataController: string | null; contact: Contact | null }>;
}

export function Innsyn() {
  const { t, tryT, lang } = useI18n();
  const { me, loading: sessionLoading } = useSession();
  const [actionError, setError] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [reserved, setReserved] = useState<string | null>(null);
  const confirmation = useRef<HTMLDivElement>(null);
  const isPatient = me?.active?.role === 'patient';

  const viewQuery = useApi<InnsynView>(isPatient ? `/api/innsyn?lang=${lang}` : null);
  const statusQuery = useApi<InnsynStatus>(isPatient ? '/api/innsyn/status' : null);
  const view = viewQuery.data;
  const status = statusQuery.data;
  const failure = viewQuery.failure ?? statusQuery.failure;
  const error =
    (failure ? (failure instanceof ApiError && failure.status === 401 ? t('error.session') : errorText(failure, tryT)) : null) ??
    actionError;
  const invalidate = useInvalidate();

  const reserve = async () => {
    setBusy(true);
    try {
      const res = await api<{ message: { nb: string; en: string } }>('/api/innsyn/reservation', { method: 'POST' });
      setConfirming(false);
      setReserved(res.message[lang]);
      // What is registered, and the reservation itself, change: read both again.
      await invalidate('/api/innsyn');
      confirmation.current?.focus();
    } catch (err) {
      setConfirming(false);
      setError(errorText(err, tryT));
    } finally {
      setBusy(false);
    }
  };

  if (sessionLoading)
    return (
      <Page title={t('innsyn.title')}>
        <Spinner aria-label={t('auth.loading')} />
      </Page>
    );
  if (!isPatient)
    return (
      <Page title={t('innsyn.title')}>
        <Alert data-color="info">
          <Paragraph>{t('innsyn.notPatient')}</Paragraph>
        </Alert>
      </Page>
    );

  return (
    <Page title={t('innsyn.title')}>
      <Paragraph>{t('innsyn.intro')}</Paragraph>
      {reserved && (
        <Alert data-color="success" ref={confirmation} tabIndex={-1} className="innsyn-confirmation">
          <Heading level={2} data-size="xs">
            {t('innsyn.reserved')}
          </Heading>
          <Paragraph>{reserved}</Paragraph>
        </Alert>
      )}
      {error && (
        <Alert data-color="danger">
          <Heading level={2} data-size="xs">
            {t('error.generic')}
          </Heading>
          <Paragraph>{error}</Paragraph>
        </Alert>
      )}
      {!view && !error && <Spinner aria-label={t('innsyn.loading')} />}
      {status?.reservation && (
        <Alert data-color="info" className="innsyn-reservation" data-testid="innsyn-reservation">
          <Heading level={2} data-size="xs">
            {t('innsyn.reservedTitle')}
          </Heading>
          <Paragraph>{fill(t('innsyn.reservedOn'), { date: dateWords(status.reservation.reservedAt, lang) })}</Paragraph>
          <Paragraph>{t('innsyn.reservedLog')}</Paragraph>
          <Heading level={3} data-size="2xs">
            {t('innsyn.withdrawTitle')}
          </Heading>
          <Paragraph>{t('innsyn.withdrawText')}</Paragraph>
        </Alert>
      )}
      {view && !view.registered && !status?.reservation && <Paragraph className="innsyn-nothing">{t('innsyn.nothing')}</Paragraph>}
      {view?.registries.map((r) => (
        <section key={r.id} aria-labelledby={`reg-${r.id}`} className="innsyn-registry">
          <Heading level={2} data-size="md" id={`reg-${r.id}`}>
            {r.title}
          </Heading>
          {r.cases.map((c, i) => (
            <Card key={c.id} className="innsyn-case">
              <Heading level={3} data-size="sm">
                {t('innsyn.case')} {i + 1}
              </Heading>
              <dl className="innsyn-facts">
                <dt>{t('innsyn.registeredAt')}</dt>
                <dd>{dateWords(c.registeredAt, lang, true)}</dd>
                {c.unit && (
                  <>
                    <dt>{t('innsyn.unit')}</dt>
                    <dd>{c.unit}</dd>
                  </>
                )}
              </dl>
              {c.forms.map((f) => (
                <ScrollTable key={f.title} label={f.title}>
                  <Table zebra className="innsyn-form">
                    <caption>
                      {f.title}{' '}
                      <span className="innsyn-status">
                        ({t('innsyn.status').toLowerCase()}: {f.status})
                      </span>
                    </caption>
                    <Table.Head>
                      <Table.Row>
                        <Table.HeaderCell scope="col">{t('innsyn.variable')}</Table.HeaderCell>
                        <Table.HeaderCell scope="col">{t('innsyn.value')}</Table.HeaderCell>
                        <Table.HeaderCell scope="col">{t('innsyn.source')}</Table.HeaderCell>
                      </Table.Row>
                    </Table.Head>
                    <Table.Body>
                      {f.values.map((v) => (
                        <Table.Row key={v.variable}>
                          <Table.HeaderCell scope="row">{v.label}</Table.HeaderCell>
                          <Table.Cell>{v.value}</Table.Cell>
                          <Table.Cell>{v.source}</Table.Cell>
                        </Table.Row>
                      ))}
                    </Table.Body>
                  </Table>
                </ScrollTable>
              ))}
            </Card>
          ))}
        </section>
      ))}
      {view?.prom && <PromSection prom={view.prom} />}
      {view?.registered && (
        <section aria-labelledby="access-log" className="innsyn-log">
          <Heading level={2} data-size="md" id="access-log">
            {t('innsyn.log')}
          </Heading>
          <Paragraph>{t('innsyn.logIntro')}</Paragraph>
          {view.accessLog.length === 0 ? (
            <Paragraph>{t('innsyn.logEmpty')}</Paragraph>
          ) : (
            <ScrollTable label={t('innsyn.log')}>
              <Table zebra>
                <Table.Head>
                  <Table.Row>
                    <Table.HeaderCell scope="col">{t('innsyn.when')}</Table.HeaderCell>
                    <Table.HeaderCell scope="col">{t('innsyn.who')}</Table.HeaderCell>
                    <Table.HeaderCell scope="col">{t('innsyn.what')}</Table.HeaderCell>
                    <Table.HeaderCell scope="col">{t('innsyn.why')}</Table.HeaderCell>
                  </Table.Row>
                </Table.Head>
                <Table.Body>
                  {view.accessLog.map((e, i) => (
                    <Table.Row key={i}>
                      <Table.Cell>{dateWords(e.at, lang, true)}</Table.Cell>
                      <Table.Cell>
                        {e.who}
                        {e.unit ? `, ${e.unit}` : ''}
                      </Table.Cell>
                      <Table.Cell>
                        {tryT(`action.${e.action}`, tryT(`purpose.${e.action}`, e.action))}
                        {e.outcome === 'denied' ? ` (${t('innsyn.denied')})` : ''}
                      </Table.Cell>
                      <Table.Cell>{tryT(`purpose.${e.purpose}`, e.purpose)}</Table.Cell>
                    </Table.Row>
                  ))}
                </Table.Body>
              </Table>
            </ScrollTable>
          )}
        </section>
      )}
      {view?.registered && (
        <section aria-labelledby="reserve" className="innsyn-reserve">
          <Heading level={2} data-size="md" id="reserve">
            {t('innsyn.reserveTitle')}
          </Heading>
          <Paragraph>{t('innsyn.reserveText')}</Paragraph>
          <Button variant="secondary" data-color="danger" onClick={() => setConfirming(true)}>
            {t('innsyn.reserve')}
          </Button>
        </section>
      )}
      {status && (
        <section aria-labelledby="contact" className="innsyn-contact">
          <Heading level={2} data-size="md" id="contact">
            {t('innsyn.contactTitle')}
          </Heading>
          <Paragraph>{t('innsyn.contactText')}</Paragraph>
          {status.registries
            .filter((r) => r.contact || r.dataController)
            .map((r) => (
              <Card key={r.id} className="innsyn-case">
                <Paragraph>
                  <strong>{r.title[lang]}</strong>
                </Paragraph>
                <dl className="innsyn-facts">
                  {r.dataController && (
                    <>
                      <dt>{t('innsyn.dataController')}</dt>
                      <dd>{r.dataController}</dd>
                    </>
                  )}
                  {r.contact?.address && (
                    <>
                      <dt>{t('innsyn.contactAddress')}</dt>
                      <dd>{r.contact.address}</dd>
                    </>
                  )}
                  {r.contact?.email && (
                    <>
                      <dt>{t('innsyn.contactEmail')}</dt>
                      <dd>
                        <a href={`mailto:${r.contact.email}`}>{r.contact.email}</a>
                      </dd>
                    </>
                  )}
                  {r.contact?.phone && (
                    <>
                      <dt>{t('innsyn.contactPhone')}</dt>
                      <dd>{r.contact.phone}</dd>
                    </>
                  )}
                  {r.contact?.web && (
                    <>
                      <dt>{t('innsyn.contactWeb')}</dt>
                      <dd>
                        <a href={r.contact.web}>{r.contact.web.replace(/^https?:\/\//, '')}</a>
                      </dd>
                    </>
                  )}
                </dl>
              </Card>
            ))}
        </section>
      )}
      <Dialog open={confirming} modal onClose={() => setConfirming(false)} closeButton={t('innsyn.cancel')} aria-labelledby="confirm-title">
        <Heading level={2} data-size="sm" id="confirm-title">
          {t('innsyn.confirmTitle')}
        </Heading>
        <Paragraph>{t('innsyn.confirmText')}</Paragraph>
        <div className="dialog-actions">
          <Button data-color="danger" onClick={() => void reserve()} loading={busy}>
            {t('innsyn.confirm')}
          </Button>
          <Button variant="secondary" onClick={() => setConfirming(false)}>
            {t('innsyn.cancel')}
          </Button>
        </div>
      </Dialog>
    </Page>
  );
}

// The patient's form (/prom/:token, the link in the invitation): mobile first. The patient logs in
// with the platform's secure login and answers one part (instrument) at a time; answers are saved
// as a draft (by the button, and on their own a few seconds after a change), so the patient can
// leave and resume with the same link; each part is checked before it is sent, with an error
// summary that leads to each question; the last part sent shows a receipt. A proxy (a parent, a
// relative) logs in as themselves and gives the one-time code from the hospital's letter.
import {
  Alert,
  Button,
  ErrorSummary,
  Fieldset,
  Heading,
  Paragraph,
  Radio,
  Spinner,
  Tag,
  Textfield,
  ValidationMessage,
} from '@digdir/designsystemet-react';
import { useCallback, useEffect, useRef, useState } from 'react';
import { api, ApiError } from '../api.ts';
import { Page } from '../components/Page.tsx';
import { fieldId, problems, QuestionnaireForm, type Answer, type Answers } from '../components/QuestionnaireForm.tsx';
import { formatDateTime, useI18n, type Key } from '../i18n.tsx';
import { useParams } from '../router.tsx';
import { useSession } from '../session.tsx';
import '../prom.css';

interface Part {
  id: string;
  recall: 'current' | 'pre-injury';
  title: { nb: string; en: string };
  questionnaire: Record<string, any>;
  answers: Answers;
  status: 'new' | 'draft' | 'completed';
  answeredAt: string | null;
}
interface FormView {
  invitation: {
    id: number;
    hospital: string;
    purpose: { nb: string; en: string };
    deadline: string | null;
    status: string;
    answeredAt: string | null;
  };
  respondent: { kind: 'patient' } | { kind: 'proxy'; relation: string };
  instruments: Part[];
}
interface Saved {
  status: string;
  invitationStatus: string;
  answeredAt: string | null;
}

const OPEN = ['ordered', 'sent', 'reminded', 'not-reachable'];
const RELATIONS = ['parent', 'guardian', 'relative', 'other'] as const;
const AUTOSAVE_MS = 3000;

export function PromForm() {
  const { token = '' } = useParams();
  const { t, lang } = useI18n();
  const { me, loading: sessionLoading, login } = useSession();
  const [view, setView] = useState<FormView | null>(null);
  const [state, setState] = useState<'loading' | 'ready' | 'not-yours' | 'staff' | 'error'>('loading');
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async () => {
    setError(null);
    try {
      const v = await api<FormView>(`/api/prom/form/${encodeURIComponent(token)}`);
      setView(v);
      setState('ready');
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) setState('not-yours');
      else if (err instanceof ApiError && err.status === 403) setState('staff');
      else {
        setError((err as Error).message);
        setState('error');
      }
    }
  }, [token]);
  useEffect(() => {
    if (me) void load();
  }, [me, load]);

  if (sessionLoading)
    return (
      <Page title={t('prom.title')}>
        <Spinner aria-label={t('auth.loading')} />
      </Page>
    );
  if (!me) {
    return (
      <Page title={t('prom.title')}>
        <div className="prom-page">
          <Paragraph>{t('prom.loginIntro')}</Paragraph>
          <Button onClick={login} className="prom-login">
            {t('prom.login')}
          </Button>
          <Paragraph data-size="sm">{t('prom.loginProxy')}</Paragraph>
        </div>
      </Page>
    );
  }
  return (
    <Page title={t('prom.title')}>
      <div className="prom-page">
        {state === 'loading' && <Spinner aria-label={t('prom.loading')} />}
        {state === 'staff' && (
          <Alert data-color="info">
            <Paragraph>{t('prom.staff')}</Paragraph>
          </Alert>
        )}
        {state === 'error' && (
          <Alert data-color="danger">
            <Heading level={2} data-size="xs">
              {t('error.generic')}
            </Heading>
            <Paragraph>{error}</Paragraph>
          </Alert>
        )}
        {state === 'not-yours' && <ProxyCode token={token} onBound={load} />}
        {state === 'ready' && view && <Questionnaires token={token} view={view} setView={setView} lang={lang} />}
      </div>
    </Page>
  );
}

function Facts({ view }: { view: FormView }) {
  const { t, lang } = useI18n();
  return (
    <>
      <Paragraph>
        <strong>
          {t('prom.from')} {view.invitation.hospital}.
        </strong>{' '}
        {view.invitation.purpose[lang]}
      </Paragraph>
      {view.invitation.deadline && OPEN.includes(view.invitation.status) && (
        <Paragraph>
          {t('prom.deadline')} {formatDate(view.invitation.deadline, lang)}.
        </Paragraph>
      )}
    </>
  );
}

function formatDate(iso: string, lang: 'nb' | 'en') {
  return new Intl.DateTimeFormat(lang === 'nb' ? 'nb-NO' : 'en-GB', { dateStyle: 'long', timeZone: 'Europe/Oslo' }).format(new Date(iso));
}

function Questionnaires({ token, view, setView, lang }: { token: string; view: FormView; setView(v: FormView): void; lang: 'nb' | 'en' }) {
  const { t } = useI18n();
  const parts = view.instruments;
  const firstOpen = parts.findIndex((p) => p.status !== 'completed');
  const [current, setCurrent] = useState(firstOpen < 0 ? parts.length : firstOpen);
  const [answers, setAnswers] = useState<Answers>(() => ({ ...(parts[current]?.answers ?? {}) }));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [showSummary, setShowSummary] = useState(false);
  const [busy, setBusy] = useState<'save' | 'send' | null>(null);
  const [status, setStatus] = useState('');
  const [failure, setFailure] = useState<string | null>(null);
  const dirty = useRef(false);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  // The summary is a custom element of the design system; it is focused when shown.
  const summaryRef = useRef<any>(null);
  const partHeading = useRef<HTMLHeadingElement>(null);
  const receiptHeading = useRef<HTMLHeadingElement>(null);
  const part = parts[current];
  const prefix = part ? `q-${part.id}-${part.recall}` : 'q';
  const answered = view.invitation.status === 'answered';

  const save = useCallback(
    async (auto: boolean) => {
      if (!part || !dirty.current) {
        if (!auto) setStatus(t('prom.saved'));
        return;
      }
      if (timer.current) clearTimeout(timer.current);
      dirty.current = false;
      if (!auto) setBusy('save');
      try {
        await api<Saved>(`/api/prom/form/${encodeURIComponent(token)}/${part.id}`, {
          method: 'POST',
          body: { answers, recall: part.recall },
        });
        setStatus(
          auto
            ? `${t('prom.autosaved')} ${new Intl.DateTimeFormat(lang === 'nb' ? 'nb-NO' : 'en-GB', { timeStyle: 'short' }).format(new Date())}`
            : t('prom.saved'),
        );
        setFailure(null);
      } catch (err) {
        dirty.current = true;
        setFailure((err as Error).message);
      } finally {
        if (!auto) setBusy(null);
      }
    },
    [answers, part, token, t, lang],
  );

  // Saved on its own a few seconds after the last change, so that leaving the page loses little.
  useEffect(() => {
    if (!dirty.current) return undefined;
    timer.current = setTimeout(() => {
      void save(true);
    }, AUTOSAVE_MS);
    return () => {
      if (timer.current) clearTimeout(timer.current);
    };
  }, [answers, save]);

  const change = (linkId: string, value: Answer | undefined) => {
    dirty.current = true;
    setAnswers((a) => {
      const next = { ...a };
      if (value === undefined) delete next[linkId];
      else next[linkId] = value;
      return next;
    });
    if (errors[linkId])
      setErrors((e) => {
        const next = { ...e };
        delete next[linkId];
        return next;
      });
  };

  const send = async () => {
    if (!part) return;
    const found = problems(part.questionnaire, answers, t as (k: string) => string, true);
    setErrors(found);
    if (Object.keys(found).length) {
      setShowSummary(true);
      setTimeout(() => summaryRef.current?.focus(), 0);
      return;
    }
    setShowSummary(false);
    if (timer.current) clearTimeout(timer.current);
    setBusy('send');
    try {
      const res = await api<Saved>(`/api/prom/form/${encodeURIComponent(token)}/${part.id}/submit`, {
        method: 'POST',
        body: { answers, recall: part.recall },
      });
      dirty.current = false;
      const now = new Date().toISOString();
      const instruments = parts.map((p, i) => (i === current ? { ...p, answers, status: 'completed' as const, answeredAt: now } : p));
      const next = instruments.findIndex((p) => p.status !== 'completed');
      setView({ ...view, instruments, invitation: { ...view.invitation, status: res.invitationStatus, answeredAt: res.answeredAt } });
      setFailure(null);
      if (next < 0 || res.invitationStatus === 'answered') {
        setCurrent(parts.length);
        setTimeout(() => receiptHeading.current?.focus(), 0);
      } else {
        setCurrent(next);
        setAnswers({ ...instruments[next].answers });
        setErrors({});
        setStatus(t('prom.partSent'));
        setTimeout(() => {
          partHeading.current?.focus();
          window.scrollTo(0, 0);
        }, 0);
      }
    } catch (err) {
      setFailure((err as Error).message);
    } finally {
      setBusy(null);
    }
  };

  if (answered || current >= parts.length) {
    return (
      <section className="prom-receipt" aria-labelledby="receipt-title">
        <Alert data-color="success">
          <Heading level={2} data-size="sm" id="receipt-title" ref={receiptHeading} tabIndex={-1}>
            {t('prom.receiptTitle')}
          </Heading>
          <Paragraph>{t('prom.receiptText')}</Paragraph>
          {view.respondent.kind === 'proxy' && <Paragraph>{t('prom.receiptProxy')}</Paragraph>}
        </Alert>
        <dl className="prom-facts">
          <dt>{t('prom.receiptNumber')}</dt>
          <dd>{receiptNumber(view)}</dd>
          {view.invitation.answeredAt && (
            <>
              <dt>{t('prom.receiptAt')}</dt>
              <dd>{formatDateTime(view.invitation.answeredAt, lang)}</dd>
            </>
          )}
          <dt>{t('prom.from')}</dt>
          <dd>{view.invitation.hospital}</dd>
        </dl>
        <Heading level={3} data-size="xs">
          {t('prom.receiptParts')}
        </Heading>
        <ul className="prom-receipt__parts">
          {parts.map((p) => (
            <li key={`${p.id}-${p.recall}`}>
              {p.questionnaire.title ?? p.title[lang]}
              {p.answeredAt ? ` – ${formatDateTime(p.answeredAt, lang)}` : ''}
            </li>
          ))}
        </ul>
        <Button variant="secondary" onClick={() => window.print()}>
          {t('prom.print')}
        </Button>
      </section>
    );
  }
  if (!OPEN.includes(view.invitation.status))
    return (
      <>
        <Facts view={view} />
        <Alert data-color="info">
          <Paragraph>{t('prom.closed')}</Paragraph>
        </Alert>
      </>
    );

  const errorList = Object.entries(errors);
  const title = part.questionnaire.title ?? part.title[lang];
  return (
    <>
      <Facts view={view} />
      {current === firstOpen && part.status === 'new' && <Paragraph data-size="sm">{t('prom.intro')}</Paragraph>}
      {view.respondent.kind === 'proxy' && (
        <Alert data-color="info">
          <Paragraph>{t('prom.onBehalf')}</Paragraph>
        </Alert>
      )}
      <nav aria-label={t('prom.parts')} className="prom-progress">
        <ol>
          {parts.map((p, i) => (
            <li key={`${p.id}-${p.recall}`} aria-current={i === current ? 'step' : undefined}>
              <span className="prom-progress__name">{p.questionnaire.title ?? p.title[lang]}</span>{' '}
              <Tag data-size="sm" data-color={p.status === 'completed' ? 'success' : i === current ? 'accent' : 'neutral'}>
                {i === current && p.status !== 'completed'
                  ? `${t('prom.part')} ${i + 1} ${t('prom.of')} ${parts.length}`
                  : t(`prom.status.${p.status}` as Key)}
              </Tag>
            </li>
          ))}
        </ol>
      </nav>
      <section aria-labelledby="part-title" className="prom-part">
        <Heading level={2} data-size="sm" id="part-title" ref={partHeading} tabIndex={-1}>
          <span className="prom-part__count">
            {t('prom.part')} {current + 1} {t('prom.of')} {parts.length}:{' '}
          </span>
          {title}
        </Heading>
        {part.recall === 'pre-injury' && (
          <Alert data-color="warning" className="prom-recall">
            <Paragraph>{t('prom.recallPreInjury')}</Paragraph>
          </Alert>
        )}
        {showSummary && errorList.length > 0 && (
          <ErrorSummary ref={summaryRef} tabIndex={-1} className="prom-errors">
            <ErrorSummary.Heading>{t('prom.errorsTitle')}</ErrorSummary.Heading>
            <ErrorSummary.List>
              {errorList.map(([linkId, message]) => (
                <ErrorSummary.Item key={linkId}>
                  <ErrorSummary.Link href={`#${fieldId(prefix, linkId)}`}>
                    {questionText(part.questionnaire, linkId)}: {message}
                  </ErrorSummary.Link>
                </ErrorSummary.Item>
              ))}
            </ErrorSummary.List>
          </ErrorSummary>
        )}
        <form
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            void send();
          }}
        >
          <QuestionnaireForm questionnaire={part.questionnaire} answers={answers} errors={errors} prefix={prefix} onChange={change} />
          {failure && (
            <Alert data-color="danger" className="prom-failure">
              <Paragraph>{failure}</Paragraph>
            </Alert>
          )}
          <div className="prom-actions">
            <Button type="submit" loading={busy === 'send'} disabled={busy !== null}>
              {current === parts.length - 1 || parts.filter((p) => p.status !== 'completed').length === 1
                ? t('prom.sendLast')
                : t('prom.sendPart')}
            </Button>
            <Button
              type="button"
              variant="secondary"
              loading={busy === 'save'}
              disabled={busy !== null}
              onClick={() => {
                dirty.current = true;
                void save(false);
              }}
            >
              {t('prom.save')}
            </Button>
          </div>
        </form>
        <p role="status" aria-live="polite" className="prom-status">
          {status}
        </p>
      </section>
    </>
  );
}

function questionText(q: Record<string, any>, linkId: string): string {
  let found = linkId;
  const walk = (items: any[] | undefined) => {
    for (const it of items ?? []) {
      if (it.linkId === linkId) found = it.text ?? linkId;
      walk(it.item);
    }
  };
  walk(q.item);
  return found;
}

/** The invitation and the Norwegian date and time it was answered: 1234-202605131042. */
function receiptNumber(view: FormView): string {
  const at = view.invitation.answeredAt
    ? new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Oslo', dateStyle: 'short', timeStyle: 'short' })
        .format(new Date(view.invitation.answeredAt))
        .replace(/\D/g, '')
    : '';
  return `${view.invitation.id}-${at}`;
}

function ProxyCode({ token, onBound }: { token: string; onBound(): Promise<void> }) {
  const { t } = useI18n();
  const [code, setCode] = useState('');
  const [relation, setRelation] = useState('');
  const [errors, setErrors] = useState<{ code?: string; relation?: string }>({});
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async () => {
    const found = { ...(code.trim() ? {} : { code: t('prom.codeMissing') }), ...(relation ? {} : { relation: t('prom.relationMissing') }) };
    setErrors(found);
    if (found.code || found.relation) return;
    setBusy(true);
    try {
      await api(`/api/prom/form/${encodeURIComponent(token)}/proxy`, { method: 'POST', body: { code, relation } });
      await onBound();
    } catch (err) {
      const status = err instanceof ApiError ? err.status : 0;
      setFailure(
        status === 422
          ? t('prom.codeWrong')
          : status === 409
            ? t('prom.codeUsed')
            : status === 429
              ? t('prom.codeLocked')
              : status === 404
                ? t('prom.notYoursHelp')
                : (err as Error).message,
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <Alert data-color="info">
        <Heading level={2} data-size="xs">
          {t('prom.notYours')}
        </Heading>
        <Paragraph>{t('prom.notYoursHelp')}</Paragraph>
      </Alert>
      <section aria-labelledby="proxy-title" className="prom-proxy">
        <Heading level={2} data-size="sm" id="proxy-title">
          {t('prom.proxyTitle')}
        </Heading>
        <Paragraph>{t('prom.proxyIntro')}</Paragraph>
        <form
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            void submit();
          }}
          className="prom-proxy__form"
        >
          <Textfield
            label={t('prom.code')}
            description={t('prom.codeHelp')}
            value={code}
            onChange={(e) => setCode(e.target.value)}
            error={errors.code}
            autoComplete="off"
            autoCapitalize="characters"
            spellCheck={false}
            className="prom-code"
          />
          <Fieldset aria-describedby={errors.relation ? 'relation-error' : undefined}>
            <Fieldset.Legend>{t('prom.relation')}</Fieldset.Legend>
            {RELATIONS.map((r) => (
              <Radio
                key={r}
                name="relation"
                value={r}
                label={t(`prom.relation.${r}` as Key)}
                checked={relation === r}
                onChange={() => setRelation(r)}
                aria-invalid={errors.relation ? true : undefined}
              />
            ))}
            {errors.relation && <ValidationMessage id="relation-error">{errors.relation}</ValidationMessage>}
          </Fieldset>
          {failure && (
            <Alert data-color="danger">
              <Paragraph>{failure}</Paragraph>
            </Alert>
          )}
          <Button type="submit" loading={busy}>
            {t('prom.proxyGo')}
          </Button>
        </form>
      </section>
    </>
  );
}

// The front page. For staff it is the registry's home: key figures (cases this year, nation and
// own unit), how fresh the data are, and the own unit's worklist; links to the main pages.
import { Card, Heading, Paragraph } from '@digdir/designsystemet-react';
import { Page } from '../components/Page.tsx';
import { unitName, useApi, useOwnUnit, useRegistryId, useUnits } from '../data.tsx';
import { usePageScope } from '../scope.ts';
import { formatDateTime, useI18n } from '../i18n.tsx';
import { Link } from '../router.tsx';
import { useSession } from '../session.tsx';

interface KeyFigures {
  years: Array<{ year: number; nation: number | null; unit: number | null }>;
  smallCountThreshold: number;
}
interface Analytics {
  rows: number | null;
  pending: number;
  refreshedAt: string | null;
  newestData: string | null;
}

export function Home() {
  const { t } = useI18n();
  const { me, loading } = useSession();
  const staff = !!me?.active && me.active.role !== 'patient';
  return (
    <Page title={staff ? t('home.staffTitle') : t('home.title')}>
      {!staff && <Paragraph>{t('home.intro')}</Paragraph>}
      {!loading && !me && <Paragraph>{t('home.loginPrompt')}</Paragraph>}
      {!loading && !me && (
        <Paragraph>
          <Link to="/indicators">{t('home.publicIndicators')}</Link>
        </Paragraph>
      )}
      {me?.active?.role === 'patient' && (
        <Paragraph>
          <Link to="/innsyn">{t('home.patient')}</Link>
        </Paragraph>
      )}
      {staff && <RegistryHome />}
    </Page>
  );
}

function RegistryHome() {
  const { t, lang } = useI18n();
  const { me } = useSession();
  const registry = useRegistryId();
  const own = useOwnUnit();
  const units = useUnits();
  // The page scope's year (scope.ts): the newest full year with data (by the registry's case date,
  // e.g. the year of injury), or ?year=.
  const year = Number(usePageScope().year ?? 0);
  const figures = useApi<KeyFigures>(registry ? `/api/registries/${registry}/key-figures${own ? `?unit=${own}` : ''}` : null);
  const analytics = useApi<Analytics>(registry ? `/api/registries/${registry}/analytics` : null);
  const readsCases = !!me?.active && ['unit-registrar', 'unit-reader', 'registry-admin', 'platform-admin'].includes(me.active.role);
  const worklist = useApi<{ total: number | string }>(
    registry && readsCases ? `/api/registries/${registry}/worklist?limit=1${own ? `&unit=${own}` : ''}` : null,
  );
  const thisYear = figures.data?.years.find((y) => y.year === year);
  const count = (n: number | null | undefined) => (n === null ? t('result.tooFew') : String(n ?? 0));
  const ownUnit = own ? units.byResh.get(own) : null;
  return (
    <>
      <Paragraph>
        {me?.active?.registryTitle[lang]}
        {ownUnit ? ` – ${unitName(ownUnit, lang, '', units.byResh)}` : ''}
      </Paragraph>
      <section aria-labelledby="key-figures">
        <Heading level={2} data-size="md" id="key-figures">
          {t('home.keyFigures')}
        </Heading>
        <div className="key-figures">
          <Card className="key-figure">
            <Heading level={3} data-size="2xs">
              {t('home.casesThisYear')} {year || ''}
            </Heading>
            <p className="key-figure__value" data-testid="cases-nation">
              {figures.data ? count(thisYear?.nation) : '…'}
            </p>
            <p>{t('home.nation')}</p>
          </Card>
          {own && (
            <Card className="key-figure">
              <Heading level={3} data-size="2xs">
                {t('home.casesThisYear')} {year || ''}
              </Heading>
              <p className="key-figure__value" data-testid="cases-unit">
                {figures.data ? count(thisYear?.unit) : '…'}
              </p>
              <p>{unitName(ownUnit, lang, own, units.byResh)}</p>
            </Card>
          )}
          {readsCases && (
            <Card className="key-figure">
              <Heading level={3} data-size="2xs">
                {t('home.worklist')}
              </Heading>
              <p className="key-figure__value" data-testid="worklist-count">
                {worklist.data ? Number(worklist.data.total) : worklist.error ? '–' : '…'}
              </p>
              <p>
                <Link to="/registrations">{t('home.openWorklist')}</Link>
              </p>
            </Card>
          )}
        </div>
        {analytics.data && (
          <dl className="facts">
            <dt>{t('home.casesTotal')}</dt>
            <dd>{count(analytics.data.rows)}</dd>
            <dt>{t('home.refreshedAt')}</dt>
            <dd>{analytics.data.refreshedAt ? formatDateTime(analytics.data.refreshedAt, lang) : '–'}</dd>
            <dt>{t('home.newestData')}</dt>
            <dd>{analytics.data.newestData ? formatDateTime(analytics.data.newestData, lang) : '–'}</dd>
          </dl>
        )}
      </section>
      <section aria-labelledby="go-to">
        <Heading level={2} data-size="md" id="go-to">
          {t('home.goTo')}
        </Heading>
        <ul>
          <li>
            <Link to="/indicators">{t('nav.indicators')}</Link>: {t('home.indicatorsText')}
          </li>
          {me?.active && ['unit-registrar', 'unit-reader', 'registry-admin', 'platform-admin'].includes(me.active.role) && (
            <li>
              <Link to="/registrations">{t('nav.registrations')}</Link>: {t('home.registrationsText')}
            </li>
          )}
          {me?.active && ['unit-registrar', 'unit-reader', 'registry-admin', 'platform-admin'].includes(me.active.role) && (
            <li>
              <Link to="/patients">{t('nav.patients')}</Link>: {t('home.patientsText')}
            </li>
          )}
        </ul>
      </section>
    </>
  );
}

// Reports: a unit's report as PDF now, the user's own report subscriptions by e-mail, and for
// registry admins the annual report and dispatches to a unit's mailing lists. Every PDF is made
// on the server from the same declarations and data as the pages.
import { Alert, Field, Heading, Label, Paragraph, Select } from '@digdir/designsystemet-react';
import { fill } from '../errors.ts';
import { useState } from 'react';
import { Page } from '../components/Page.tsx';
import { YearPicker } from '../components/YearPicker.tsx';
import { SubscriptionForm, SubscriptionTable } from '../components/Subscriptions.tsx';
import { UnitPicker } from '../components/UnitPicker.tsx';
import { usePageScope } from '../scope.ts';
import { pct, unitName, useApi, type IndicatorDecl } from '../data.tsx';
import { useI18n } from '../i18n.tsx';
import { useSession } from '../session.tsx';

export function Reports() {
  const { t, lang } = useI18n();
  const { me } = useSession();
  // The unit report's unit and year are the page scope (scope.ts), kept in the URL as on every page.
  const { registry, units, own, unit, year, years, setUnit, setYear } = usePageScope();
  const indicators = useApi<IndicatorDecl[]>(registry ? `/api/registries/${registry}/indicators?lang=${lang}` : null);
  const [annualChoice, setAnnualYear] = useState<string | null>(null);
  const unitYear = year ?? '';
  const annualYear = annualChoice ?? year ?? '';
  const [dataset, setDataset] = useState<'fresh' | 'qa'>('qa');
  const admin = me?.active?.role === 'registry-admin' || me?.active?.role === 'platform-admin';
  const reportUnit = unit ?? '';
  const decls = indicators.data ?? [];
  if (!registry)
    return (
      <Page title={t('rep.title')}>
        <Paragraph>{t('common.loading')}</Paragraph>
      </Page>
    );

  return (
    <Page title={t('rep.title')}>
      <Paragraph>{t('rep.intro')}</Paragraph>

      <section aria-labelledby="unit-report">
        <Heading level={2} data-size="sm" id="unit-report">
          {t('rep.unitReport')}
        </Heading>
        <Paragraph>{t('rep.unitReportIntro')}</Paragraph>
        <form className="filters" aria-label={t('rep.unitReport')} onSubmit={(e) => e.preventDefault()}>
          <UnitPicker id="report-unit" units={units.list} value={reportUnit} onChange={(v) => setUnit(v || null)} own={own} />
          <YearPicker id="report-year" value={unitYear} onChange={setYear} years={years} />
        </form>
        {reportUnit ? (
          <Paragraph>
            <a href={`/api/registries/${registry}/reports/unit/${reportUnit}.pdf?year=${unitYear}&lang=${lang}`} download>
              {t('rep.downloadUnit')}: {unitName(units.byResh.get(reportUnit), lang, reportUnit, units.byResh)} {unitYear} (PDF)
            </a>
          </Paragraph>
        ) : (
          <Paragraph>{t('sub.chooseUnit')}</Paragraph>
        )}
      </section>

      <section aria-labelledby="own-subscriptions">
        <Heading level={2} data-size="sm" id="own-subscriptions">
          {t('sub.ownTitle')}
        </Heading>
        <Paragraph>{t('sub.ownIntro')}</Paragraph>
        <SubscriptionForm kind="own" registry={registry} units={units.list} own={own} indicators={decls} />
        <SubscriptionTable kind="own" registry={registry} units={units.byResh} indicators={decls} />
      </section>

      {admin && (
        <>
          <section aria-labelledby="annual-report">
            <Heading level={2} data-size="sm" id="annual-report">
              {t('rep.annual')}
            </Heading>
            <Paragraph>{t('rep.annualIntro')}</Paragraph>
            <form className="filters" aria-label={t('rep.annual')} onSubmit={(e) => e.preventDefault()}>
              <YearPicker id="annual-year" value={annualYear} onChange={setAnnualYear} years={years} />
              <Field>
                <Label htmlFor="annual-dataset">{t('rep.dataset')}</Label>
                <Select id="annual-dataset" value={dataset} onChange={(e) => setDataset(e.target.value as 'fresh' | 'qa')}>
                  <Select.Option value="qa">{t('rep.dataset.qa')}</Select.Option>
                  <Select.Option value="fresh">{t('rep.dataset.fresh')}</Select.Option>
                </Select>
              </Field>
            </form>
            {dataset === 'qa' && <FinalisedWarning registry={registry} year={annualYear} />}
            <Paragraph>
              <a href={`/api/registries/${registry}/reports/annual/${annualYear}.pdf?dataset=${dataset}`} download>
                {t('rep.downloadAnnual')} {annualYear} (PDF)
              </a>
            </Paragraph>
            <Paragraph data-size="sm">{t('rep.annualSlow')}</Paragraph>
          </section>

          <section aria-labelledby="dispatches">
            <Heading level={2} data-size="sm" id="dispatches">
              {t('sub.dispatchTitle')}
            </Heading>
            <Paragraph>{t('sub.dispatchIntro')}</Paragraph>
            <SubscriptionForm kind="dispatch" registry={registry} units={units.list} own={own} indicators={decls} />
            <SubscriptionTable kind="dispatch" registry={registry} units={units.byResh} indicators={decls} />
          </section>
        </>
      )}
    </Page>
  );
}

/** The quality-assured annual report rests on finalised registrations: say so when most are not. */
function FinalisedWarning({ registry, year }: { registry: string; year: string }) {
  const { t, lang } = useI18n();
  const share = useApi<{ cases: number; finalised: number }>(year ? `/api/registries/${registry}/finalised-share?year=${year}` : null);
  if (!share.data || share.data.cases === 0 || share.data.finalised / share.data.cases >= 0.5) return null;
  return (
    <Alert data-color="warning" data-testid="finalised-warning">
      <Paragraph>
        {fill(t('rep.finalisedWarning'), {
          finalised: share.data.finalised,
          cases: share.data.cases,
          share: pct(share.data.finalised / share.data.cases, lang, 0),
          year,
        })}
      </Paragraph>
    </Alert>
  );
}

// The public hospital profile (no login): choose a hospital, see every indicator of every registry
// for it with last year's result, level by symbol and word, trend, and coverage (flagged under
// 60 %); filter by level and by registry; and the number of indicators at each level per year.
import { Alert, Field, Label, Paragraph, Select, Spinner, Table } from '@digdir/designsystemet-react';
import { Page } from '../components/Page.tsx';
import { UnitField } from '../components/UnitCombobox.tsx';
import { YearPicker } from '../components/YearPicker.tsx';
import { LevelIcon, pct, ResultCell, useApi, useDataYears, type Result } from '../data.tsx';
import { useI18n } from '../i18n.tsx';
import { Link, useQuery, useRoute } from '../router.tsx';
import { ScrollTable } from '../components/ScrollTable.tsx';

interface Hospital {
  resh: string;
  name: string;
  trust: string | null;
  region: string | null;
}
interface Profile {
  hospital: Hospital;
  year: number;
  indicators: Array<{
    registry: string;
    registryTitle: string;
    indicator: string;
    number: string;
    title: string;
    result: Result | null;
    coverage: { value: number; low: boolean } | null;
  }>;
  levels: Array<{ year: number; high: number; moderate: number; low: number; noLevel: number; tooFew: number; notComputable: number }>;
}

const LEVEL_FILTERS = ['high', 'moderate', 'low', 'too-few'] as const;

export function Hospitals() {
  const { t, lang } = useI18n();
  const { setQuery } = useRoute();
  const q = useQuery();
  const resh = q.get('hospital');
  const { years, defaultYear } = useDataYears('all');
  const year = q.get('year') ?? defaultYear;
  const level = q.get('level');
  const registry = q.get('registry');
  const list = useApi<Hospital[]>('/api/public/hospitals');
  const profile = useApi<Profile>(resh && year ? `/api/public/hospitals/${resh}?year=${year}&years=3&lang=${lang}` : null);
  const rows = (profile.data?.indicators ?? []).filter(
    (i) =>
      (!registry || i.registry === registry) &&
      (!level || (level === 'too-few' ? i.result?.status === 'too-few' : i.result?.level === level)),
  );
  const registries = [...new Map((profile.data?.indicators ?? []).map((i) => [i.registry, i.registryTitle])).entries()];

  return (
    <Page title={t('hosp.title')}>
      <Paragraph>{t('hosp.intro')}</Paragraph>
      <form className="filters" aria-label={t('ind.choices')} onSubmit={(e) => e.preventDefault()}>
        <UnitField
          id="hospital"
          label={t('hosp.choose')}
          value={resh ?? ''}
          onChange={(v) => setQuery({ hospital: v || null })}
          levels={['hospital']}
        />
        <YearPicker id="year" label="hosp.year" value={year ?? ''} onChange={(v) => setQuery({ year: v })} years={years} />
        <Field>
          <Label htmlFor="level">{t('hosp.filterLevel')}</Label>
          <Select id="level" value={level ?? ''} onChange={(e) => setQuery({ level: e.target.value || null })}>
            <Select.Option value="">{t('hosp.all')}</Select.Option>
            {LEVEL_FILTERS.map((l) => (
              <Select.Option key={l} value={l}>
                {t(l === 'too-few' ? 'hosp.tooFew' : (`hosp.${l}` as 'hosp.high'))}
              </Select.Option>
            ))}
          </Select>
        </Field>
        {registries.length > 1 && (
          <Field>
            <Label htmlFor="registry">{t('hosp.filterRegistry')}</Label>
            <Select id="registry" value={registry ?? ''} onChange={(e) => setQuery({ registry: e.target.value || null })}>
              <Select.Option value="">{t('hosp.all')}</Select.Option>
              {registries.map(([id, title]) => (
                <Select.Option key={id} value={id}>
                  {title}
                </Select.Option>
              ))}
            </Select>
          </Field>
        )}
      </form>
      {(list.error || profile.error) && (
        <Alert data-color="danger">
          <Paragraph>{list.error ?? profile.error}</Paragraph>
        </Alert>
      )}
      {(list.loading || profile.loading) && <Spinner aria-label={t('common.loading')} />}
      {profile.data && (
        <>
          <Paragraph>
            {profile.data.hospital.name}
            {profile.data.hospital.trust ? `, ${profile.data.hospital.trust}` : ''}
            {profile.data.hospital.region ? `, ${profile.data.hospital.region}` : ''}
          </Paragraph>
          {rows.length === 0 ? (
            <Paragraph>{t('hosp.none.short')}</Paragraph>
          ) : (
            <ScrollTable label={t('hosp.title')}>
              <Table zebra className="indicator-table">
                <caption>
                  {t('hosp.title')} {profile.data.year}
                </caption>
                <Table.Head>
                  <Table.Row>
                    <Table.HeaderCell scope="col">{t('hosp.registry')}</Table.HeaderCell>
                    <Table.HeaderCell scope="col">{t('hosp.indicator')}</Table.HeaderCell>
                    <Table.HeaderCell scope="col">{t('hosp.result')}</Table.HeaderCell>
                    <Table.HeaderCell scope="col">{t('hosp.coverage')}</Table.HeaderCell>
                  </Table.Row>
                </Table.Head>
                <Table.Body>
                  {rows.map((i) => (
                    <Table.Row key={`${i.registry}-${i.indicator}`}>
                      <Table.Cell>{i.registryTitle}</Table.Cell>
                      <Table.Cell>
                        <Link
                          to={`/indicators/${i.indicator}?registry=${i.registry}&period=${profile.data!.year}&unit=${profile.data!.hospital.resh}`}
                        >
                          {i.number}. {i.title}
                        </Link>
                      </Table.Cell>
                      <Table.Cell>
                        <ResultCell r={i.result ?? undefined} />
                      </Table.Cell>
                      <Table.Cell>
                        {i.coverage ? (
                          <>
                            {pct(i.coverage.value, lang, 0)}
                            {i.coverage.low && (
                              <>
                                <br />
                                <strong>⚠ {t('hosp.lowCoverage')}</strong>
                              </>
                            )}
                          </>
                        ) : (
                          '–'
                        )}
                      </Table.Cell>
                    </Table.Row>
                  ))}
                </Table.Body>
              </Table>
            </ScrollTable>
          )}
          <h2>{t('hosp.levelsTitle')}</h2>
          <ScrollTable label={t('hosp.levelsCaption')}>
            <Table zebra>
              <caption>{t('hosp.levelsCaption')}</caption>
              <Table.Head>
                <Table.Row>
                  <Table.HeaderCell scope="col">{t('hosp.year')}</Table.HeaderCell>
                  <Table.HeaderCell scope="col">
                    <LevelIcon level="high" /> {t('hosp.high')}
                  </Table.HeaderCell>
                  <Table.HeaderCell scope="col">
                    <LevelIcon level="moderate" /> {t('hosp.moderate')}
                  </Table.HeaderCell>
                  <Table.HeaderCell scope="col">
                    <LevelIcon level="low" /> {t('hosp.low')}
                  </Table.HeaderCell>
                  <Table.HeaderCell scope="col">{t('hosp.tooFew')}</Table.HeaderCell>
                  <Table.HeaderCell scope="col">{t('hosp.none')}</Table.HeaderCell>
                </Table.Row>
              </Table.Head>
              <Table.Body>
                {profile.data.levels.map((l) => {
                  const shown = l.high + l.moderate + l.low;
                  const share = (n: number) => (shown ? ` (${pct(n / shown, lang, 0)})` : '');
                  return (
                    <Table.Row key={l.year}>
                      <Table.HeaderCell scope="row">{l.year}</Table.HeaderCell>
                      <Table.Cell>
                        {l.high}
                        {share(l.high)}
                      </Table.Cell>
                      <Table.Cell>
                        {l.moderate}
                        {share(l.moderate)}
                      </Table.Cell>
                      <Table.Cell>
                        {l.low}
                        {share(l.low)}
                      </Table.Cell>
                      <Table.Cell>{l.tooFew}</Table.Cell>
                      <Table.Cell>{l.notComputable}</Table.Cell>
                    </Table.Row>
                  );
                })}
              </Table.Body>
            </Table>
          </ScrollTable>
        </>
      )}
    </Page>
  );
}

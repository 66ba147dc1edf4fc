// Finding a patient by identity number (within the units one has access to; the search is logged),
// and the patient's registrations in every registry one may see, each with its header: how a
// registrar gets from a paper form or a chart to the right registration.
import { Alert, Button, Field, Heading, Input, Label, Paragraph, Spinner, Table } from '@digdir/designsystemet-react';
import { useState } from 'react';
import { api } from '../api.ts';
import { personText, valueText, type CaseHeaderView } from '../components/CaseHeader.tsx';
import { Page } from '../components/Page.tsx';
import { ScrollTable } from '../components/ScrollTable.tsx';
import { unitName, useApi, useUnits, type Text } from '../data.tsx';
import { dateShort } from '../dates.ts';
import { errorText, fill } from '../errors.ts';
import { useI18n } from '../i18n.tsx';
import { Link, useParams, useRoute } from '../router.tsx';
import { useSession } from '../session.tsx';

interface PatientCase {
  registry: string;
  registryTitle: Text;
  caseId: number;
  unit: string | null;
  createdAt: string;
  forms: { total: number; finalised: number; missing: number };
  header: CaseHeaderView | null;
  invalid: boolean;
}
interface PatientView {
  personId: number;
  person: CaseHeaderView['person'] | null;
  cases: PatientCase[];
}
const READERS = ['unit-registrar', 'unit-reader', 'registry-admin', 'platform-admin'];

export function PatientSearch() {
  const { t, tryT } = useI18n();
  const { me } = useSession();
  const { navigate } = useRoute();
  const [nin, setNin] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (!me?.active || !READERS.includes(me.active.role))
    return (
      <Page title={t('patients.title')}>
        <Alert data-color="info">
          <Paragraph>{t('reg.notAllowed')}</Paragraph>
        </Alert>
      </Page>
    );
  const search = async () => {
    setBusy(true);
    setError(null);
    try {
      const view = await api<PatientView>('/api/patients/search', { method: 'POST', body: { nin } });
      navigate(`/patients/${view.personId}`);
    } catch (err) {
      setError(errorText(err, tryT));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Page title={t('patients.title')}>
      <Paragraph>{t('patients.intro')}</Paragraph>
      <form
        className="patient-search"
        onSubmit={(e) => {
          e.preventDefault();
          void search();
        }}
      >
        <Field>
          <Label htmlFor="nin">{t('patients.nin')}</Label>
          <Input
            id="nin"
            value={nin}
            onChange={(e) => setNin(e.target.value)}
            inputMode="numeric"
            autoComplete="off"
            spellCheck={false}
            aria-describedby="nin-help"
            required
          />
          <p id="nin-help" className="field-help">
            {t('patients.ninHelp')}
          </p>
        </Field>
        <Button type="submit" loading={busy}>
          {t('patients.search')}
        </Button>
      </form>
      <div role="status">
        {error && (
          <Alert data-color="warning">
            <Paragraph>{error}</Paragraph>
          </Alert>
        )}
      </div>
    </Page>
  );
}

export function PatientPage() {
  const { t, lang } = useI18n();
  const { personId } = useParams();
  const view = useApi<PatientView>(`/api/patients/${personId}`);
  const units = useUnits();
  return (
    <Page title={t('patients.viewTitle')}>
      <Paragraph>
        <Link to="/patients">{t('patients.again')}</Link>
      </Paragraph>
      {view.error && (
        <Alert data-color="warning">
          <Paragraph>{view.error}</Paragraph>
        </Alert>
      )}
      {view.loading && <Spinner aria-label={t('common.loading')} />}
      {view.data && (
        <>
          {view.data.person && (
            <Paragraph className="case-header__person">
              <strong data-testid="patient-person">{personText(view.data.person, t)}</strong>
            </Paragraph>
          )}
          <Heading level={2} data-size="sm">
            {fill(t('patients.cases'), { n: view.data.cases.length })}
          </Heading>
          <ScrollTable label={t('patients.casesCaption')}>
            <Table zebra className="patient-cases" data-testid="patient-cases">
              <caption>{t('patients.casesCaption')}</caption>
              <Table.Head>
                <Table.Row>
                  <Table.HeaderCell scope="col">{t('hosp.registry')}</Table.HeaderCell>
                  <Table.HeaderCell scope="col">{t('reg.case')}</Table.HeaderCell>
                  <Table.HeaderCell scope="col">{t('ind.unit')}</Table.HeaderCell>
                  <Table.HeaderCell scope="col">{t('patients.status')}</Table.HeaderCell>
                </Table.Row>
              </Table.Head>
              <Table.Body>
                {view.data.cases.map((c) => (
                  <Table.Row key={`${c.registry}-${c.caseId}`} data-case={c.caseId}>
                    <Table.Cell>{c.registryTitle[lang]}</Table.Cell>
                    <Table.HeaderCell scope="row">
                      <Link to={`/registrations?case=${c.caseId}&registry=${c.registry}`}>
                        {t('reg.open')} {c.caseId}
                      </Link>
                      <div className="worklist-what">
                        {c.header?.values.map((v) => `${v.label[lang]}: ${valueText(v, lang)}`).join(' · ')}
                      </div>
                      {c.invalid && <div className="worklist-what">{t('patients.invalid')}</div>}
                    </Table.HeaderCell>
                    <Table.Cell>{c.unit ? unitName(units.byResh.get(c.unit), lang, c.unit, units.byResh) : '–'}</Table.Cell>
                    <Table.Cell>
                      {fill(t('patients.formsStatus'), { finalised: c.forms.finalised, total: c.forms.total })}
                      {c.forms.missing ? `; ${fill(t('patients.missing'), { n: c.forms.missing })}` : ''}
                      <br />
                      <span className="worklist-what">
                        {t('reg.created')} {dateShort(c.createdAt, lang)}
                      </span>
                    </Table.Cell>
                  </Table.Row>
                ))}
              </Table.Body>
            </Table>
          </ScrollTable>
        </>
      )}
    </Page>
  );
}

// A new registration by hand, for a unit whose systems do not send yet: the patient (identity
// number, name), the unit (of those one registers for), and the form a case starts with (the
// codebook's first), with the same pickers and checks as everywhere; the registry decides by its
// inclusion rules, as for a captured case. The rest is completed on the case page.
import { Alert, Button, Field, Heading, Input, Label, Paragraph, ValidationMessage } from '@digdir/designsystemet-react';
import { useMemo, useState } from 'react';
import { api, ApiError } from '../api.ts';
import { FieldInput, fromInput } from '../components/FieldInput.tsx';
import { Page } from '../components/Page.tsx';
import { UnitCombobox } from '../components/UnitCombobox.tsx';
import { useCodebook } from '../codebook.ts';
import { useRegistryId, useUnits } from '../data.tsx';
import { errorText, fill } from '../errors.ts';
import { useI18n } from '../i18n.tsx';
import { useInvalidate } from '../query.ts';
import { Link, useRoute } from '../router.tsx';
import { useSession } from '../session.tsx';

const WRITERS = ['unit-registrar', 'registry-admin', 'platform-admin'];

export function ManualRegistration() {
  const { t, tryT, lang } = useI18n();
  const { me } = useSession();
  const { navigate } = useRoute();
  const invalidate = useInvalidate();
  const registry = useRegistryId();
  const codebook = useCodebook(registry);
  const units = useUnits();
  const [nin, setNin] = useState('');
  const [name, setName] = useState('');
  const active = me?.active;
  const admin = active?.role === 'registry-admin' || active?.role === 'platform-admin';
  // The units one registers for: the grant's unit and its sub-units (an admin: every unit).
  const allowed = useMemo(
    () => (admin || !active ? undefined : units.list.filter((u) => u.path.includes(active.unit)).map((u) => u.resh)),
    [admin, active, units.list],
  );
  const [unit, setUnit] = useState('');
  const [values, setValues] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [problems, setProblems] = useState<Record<string, { rule: string; suggestion?: string }>>({});
  if (!active || !WRITERS.includes(active.role))
    return (
      <Page title={t('manual.title')}>
        <Alert data-color="info">
          <Paragraph>{t('manual.notAllowed')}</Paragraph>
        </Alert>
      </Page>
    );
  const first = codebook.data?.forms.find((f) => !f.repeating);
  const chosenUnit =
    unit ||
    (allowed?.length === 1
      ? allowed[0]
      : allowed?.includes(active.unit) && units.byResh.get(active.unit)?.level === 'department'
        ? active.unit
        : '');

  const submit = async () => {
    if (!first) return;
    setBusy(true);
    setError(null);
    setProblems({});
    try {
      const typed = Object.fromEntries(
        Object.entries(values)
          .filter(([, v]) => v !== '')
          .map(([k, v]) => [k, fromInput(first.variables.find((x) => x.id === k)!.type, v)]),
      );
      const res = await api<{ caseId: number }>(`/api/registries/${registry}/manual-cases`, {
        method: 'POST',
        body: { nin, name, unit: chosenUnit, values: typed },
      });
      // A new case: the worklist, its monthly summary and the patient's page now hold it.
      void invalidate(`/api/registries/${registry}/worklist`, `/api/registries/${registry}/registrations`, '/api/patients/');
      navigate(`/registrations?case=${res.caseId}`);
    } catch (err) {
      const details = err instanceof ApiError ? (err.details as Array<{ variable?: string; rule?: string; suggestion?: string }>) : [];
      setProblems(
        Object.fromEntries(
          details.filter((d) => d?.variable).map((d) => [d.variable!, { rule: d.rule ?? 'other', suggestion: d.suggestion }]),
        ),
      );
      setError(errorText(err, tryT));
    } finally {
      setBusy(false);
    }
  };
  const problemOf = (v: string) =>
    problems[v] && (
      <ValidationMessage data-testid={`problem-${v}`}>
        {tryT(`field.rule.${problems[v].rule.replace(/:.*$/, '')}`, t('field.rule.other'))}
        {problems[v].suggestion && (
          <>
            {' '}
            {fill(t('field.didYouMean'), { code: problems[v].suggestion! })}{' '}
            <Button
              type="button"
              data-size="sm"
              variant="secondary"
              onClick={() => setValues((x) => ({ ...x, [v]: problems[v].suggestion! }))}
            >
              {fill(t('field.useSuggestion'), { code: problems[v].suggestion! })}
            </Button>
          </>
        )}
      </ValidationMessage>
    );
  return (
    <Page title={t('manual.title')}>
      <Paragraph>{t('manual.intro')}</Paragraph>
      <Paragraph>
        <Link to="/registrations">{t('reg.back')}</Link>
      </Paragraph>
      <form
        className="manual-form"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
        noValidate
      >
        <fieldset className="manual-fieldset">
          <legend>
            <Heading level={2} data-size="xs">
              {t('manual.patient')}
            </Heading>
          </legend>
          <div className="completion-form">
            <Field>
              <Label htmlFor="manual-nin">
                {t('patients.nin')} ({t('reg.required')})
              </Label>
              <Input
                id="manual-nin"
                value={nin}
                onChange={(e) => setNin(e.target.value)}
                inputMode="numeric"
                autoComplete="off"
                required
                aria-invalid={!!problems.nin || undefined}
                aria-describedby="manual-nin-help"
              />
              <p id="manual-nin-help" className="field-help">
                {t('manual.ninHelp')}
              </p>
              {problemOf('nin')}
            </Field>
            <Field>
              <Label htmlFor="manual-name">{t('manual.name')}</Label>
              <Input
                id="manual-name"
                value={name}
                onChange={(e) => setName(e.target.value)}
                autoComplete="off"
                aria-describedby="manual-name-help"
              />
              <p id="manual-name-help" className="field-help">
                {t('manual.nameHelp')}
              </p>
            </Field>
          </div>
        </fieldset>
        {codebook.data && first && (
          <fieldset className="manual-fieldset">
            <legend>
              <Heading level={2} data-size="xs">
                {first.title[lang]}
              </Heading>
            </legend>
            <div className="completion-form">
              <Field>
                <Label htmlFor="manual-unit">
                  {codebook.data.forms.flatMap((f) => f.variables).find((v) => v.id === codebook.data!.unitVariable)?.label[lang] ??
                    t('ind.unit')}{' '}
                  ({t('reg.required')})
                </Label>
                <UnitCombobox
                  id="manual-unit"
                  value={chosenUnit}
                  onChange={setUnit}
                  allowed={allowed}
                  invalid={!!problems[codebook.data.unitVariable]}
                />
                {problemOf(codebook.data.unitVariable)}
              </Field>
              {first.variables
                .filter((v) => v.id !== codebook.data!.unitVariable)
                .map((v) => (
                  <FieldInput
                    key={v.id}
                    id={`manual-${v.id}`}
                    registry={registry!}
                    variable={v}
                    codebook={codebook.data!}
                    value={values[v.id] ?? ''}
                    onChange={(s) => setValues((x) => ({ ...x, [v.id]: s }))}
                    locked={false}
                    missing={false}
                    problem={problemOf(v.id)}
                  />
                ))}
            </div>
          </fieldset>
        )}
        <div className="form-actions">
          <Button type="submit" loading={busy} disabled={!codebook.data}>
            {t('manual.submit')}
          </Button>
        </div>
        <div role="status">
          {error && (
            <Alert data-color="danger">
              <Paragraph>{error}</Paragraph>
            </Alert>
          )}
        </div>
      </form>
    </Page>
  );
}

// Printable forms: a case as registered (every form, every field with its value in words, blanks
// to fill in where something is missing), or the registry's blank form (every field with its
// choices), for registrars who work on paper first or send forms to a unit without the system.
import { Button, Heading, Paragraph, Spinner } from '@digdir/designsystemet-react';
import { CaseHeader, type CaseHeaderView } from '../components/CaseHeader.tsx';
import { Page } from '../components/Page.tsx';
import { useCodebook, type Codebook, type VariableView } from '../codebook.ts';
import { unitName, useApi, useRegistryId, useUnits } from '../data.tsx';
import { dateShort } from '../dates.ts';
import { isNotFound } from '../errors.ts';
import { NotFound } from './NotFound.tsx';
import { useI18n, type Key, type Lang } from '../i18n.tsx';
import { useQuery } from '../router.tsx';
import type { CaseView } from './Case.tsx';
import { instanceTitle } from './Case.tsx';

function valueWords(v: VariableView, value: unknown, codebook: Codebook, lang: Lang, unit: (r: string) => string): string {
  if (value === null || value === undefined || value === '') return '';
  if (v.id === codebook.unitVariable) return unit(String(value));
  if (typeof value === 'boolean') return value ? (lang === 'nb' ? 'Ja' : 'Yes') : lang === 'nb' ? 'Nei' : 'No';
  if (v.type === 'date') return dateShort(String(value), lang);
  if (v.type === 'datetime') return dateShort(String(value), lang, true);
  const code = v.codelist ? codebook.codelists.find((c) => c.id === v.codelist)?.codes.find((c) => c.code === String(value)) : undefined;
  // A classification's code beside its words; the platform's own ids ("left") are not shown.
  if (code) return /^[a-z][a-z0-9_]*$/.test(code.code) ? code.display[lang] : `${String(value)} – ${code.display[lang]}`;
  return `${String(value)}${v.unit ? ` ${v.unit}` : ''}`;
}

/** The choices of a field on paper: yes/no, a short code list, or where to find a long one. */
function Choices({ v, codebook }: { v: VariableView; codebook: Codebook }) {
  const { t, lang } = useI18n();
  const list = v.codelist ? codebook.codelists.find((c) => c.id === v.codelist) : undefined;
  if (v.type === 'boolean')
    return (
      <span className="print-choices">
        ☐ {t('common.yes')} ☐ {t('common.no')}
      </span>
    );
  if (list && !list.hierarchical && list.codes.length <= 12)
    return <span className="print-choices">{list.codes.map((c) => `☐ ${c.display[lang]}`).join('   ')}</span>;
  if (list)
    return (
      <span className="print-choices">
        {t('print.codeFrom')} {list.title[lang]}
      </span>
    );
  if (v.type === 'date') return <span className="print-choices">{t('print.dateFormat')}</span>;
  if (v.type === 'datetime') return <span className="print-choices">{t('print.dateTimeFormat')}</span>;
  return null;
}

export function PrintPage() {
  const { t, tryT, lang } = useI18n();
  const q = useQuery();
  const registry = useRegistryId();
  const codebook = useCodebook(registry);
  const units = useUnits();
  const caseId = q.get('case');
  const view = useApi<CaseView>(registry && caseId ? `/api/registries/${registry}/cases/${caseId}` : null);
  const header = useApi<CaseHeaderView>(registry && caseId ? `/api/registries/${registry}/cases/${caseId}/header` : null);
  const unit = (r: string) => unitName(units.byResh.get(r), lang, r, units.byResh);
  const cb = codebook.data;
  const title = caseId ? `${t('reg.caseTitle')} ${caseId}` : `${cb?.title[lang] ?? ''}: ${t('print.blankTitle')}`;
  const order = (form: string) => cb?.forms.findIndex((f) => f.id === form) ?? 0;
  const forms = view.data ? [...view.data.forms].sort((a, b) => order(a.form) - order(b.form) || a.instance.localeCompare(b.instance)) : [];
  if (isNotFound(view.failure))
    return (
      <NotFound
        title={title}
        text={tryT('error.code.case.notFound', view.error ?? '')}
        back={{ to: '/registrations', label: t('reg.back') }}
      />
    );
  return (
    <Page title={title}>
      <div className="print-actions">
        <Button onClick={() => window.print()}>{t('print.print')}</Button>
      </div>
      {(!cb || (caseId && !view.data && !view.error)) && <Spinner aria-label={t('common.loading')} />}
      {view.error && <Paragraph>{view.error}</Paragraph>}
      {cb && caseId && header.data && registry && (
        <CaseHeader registry={registry} header={header.data} unitName={header.data.unit ? unit(header.data.unit) : null} />
      )}
      {cb && !caseId && (
        <section className="print-form" aria-labelledby="print-patient">
          <Heading level={2} data-size="sm" id="print-patient">
            {t('manual.patient')}
          </Heading>
          <dl className="print-fields">
            <div>
              <dt>{t('manual.name')}</dt>
              <dd className="print-blank" />
            </div>
            <div>
              <dt>{t('patients.nin')}</dt>
              <dd className="print-blank" />
            </div>
          </dl>
        </section>
      )}
      {cb &&
        (caseId
          ? forms.map((f) => ({ def: cb.forms.find((d) => d.id === f.form)!, f, title: instanceTitle(f, forms, cb, lang) }))
          : cb.forms.map((def) => ({ def, f: null, title: def.title[lang] }))
        )
          .filter((x) => x.def)
          .map(({ def, f, title: formTitle }) => (
            <section key={`${def.id}-${f?.instance ?? ''}`} className="print-form" aria-label={formTitle}>
              <Heading level={2} data-size="sm">
                {formTitle}
                {f ? ` (${t(`status.${f.status}` as Key)})` : ''}
              </Heading>
              {def.repeating && !f && <Paragraph data-size="sm">{t('print.repeating')}</Paragraph>}
              <dl className="print-fields">
                {def.variables.map((v) => {
                  const value = f ? valueWords(v, f.data[v.id], cb, lang, unit) : '';
                  const req =
                    v.required === true ? ` (${t('reg.required')})` : v.required === 'conditional' ? ` (${t('reg.requiredWhen')})` : '';
                  return (
                    <div key={v.id} className={f?.missing.includes(v.id) ? 'print-missing' : undefined}>
                      <dt>
                        {v.label[lang]}
                        {v.unit ? ` (${v.unit})` : ''}
                        {req}
                      </dt>
                      <dd className={value ? undefined : 'print-blank'}>{value || <Choices v={v} codebook={cb} />}</dd>
                    </div>
                  );
                })}
              </dl>
            </section>
          ))}
    </Page>
  );
}

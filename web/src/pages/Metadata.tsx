// Open metadata of a registry (/metadata, /metadata/:registry: the DCAT-AP-NO landing page): its
// forms and variables with their change history, code lists, derived variables, validation rules
// and quality indicators in words, and the downloads (canonical codebook, REDCap dictionary,
// DCAT-AP-NO, FHIR Questionnaire per form). Public: definitions only, no data.
import { Alert, Heading, Paragraph, Spinner, Table } from '@digdir/designsystemet-react';
import { Page } from '../components/Page.tsx';
import { useApi, useRegistryId } from '../data.tsx';
import { isNotFound } from '../errors.ts';
import { NotFound } from './NotFound.tsx';
import { useI18n, type Lang } from '../i18n.tsx';
import { useParams } from '../router.tsx';
import '../quality.css';

interface History {
  version: string;
  validFrom: string;
  validTo: string | null;
  change: 'added' | 'changed' | 'removed';
}
interface Variable {
  id: string;
  label: string;
  description: string;
  type: string;
  unit: string | null;
  codelist: string | null;
  required: boolean | string;
  range: { min?: number; max?: number } | null;
  plausible: { min: number | null; max: number | null; comment: string | null } | null;
  history: History[];
}
interface Metadata {
  registry: {
    id: string;
    version: string;
    title: string;
    short: string;
    description: string;
    dataController: string | null;
    legalBasis: string | null;
  };
  forms: Array<{ id: string; title: string; description: string | null; repeating: boolean; variables: Variable[] }>;
  codelists: Array<{ id: string; title: string; size: number; codes: Array<{ code: string; display: string; unknown: boolean }> | null }>;
  derived: Array<{ id: string; label: string; description: string; type: string; computation: string }>;
  rules: Array<{ id: string; message: string; severity: string }>;
  indicators: Array<{
    id: string;
    number: string;
    title: string;
    description: string;
    definition: { numerator: string; denominator: string } | null;
  }>;
}

const TYPE: Record<Lang, Record<string, string>> = {
  nb: { code: 'kode', boolean: 'ja/nei', integer: 'heltall', decimal: 'desimaltall', date: 'dato', datetime: 'dato og tid', text: 'tekst' },
  en: { code: 'code', boolean: 'yes/no', integer: 'integer', decimal: 'decimal', date: 'date', datetime: 'date and time', text: 'text' },
};

export function Metadata() {
  const { t, lang } = useI18n();
  const params = useParams();
  const chosen = useRegistryId();
  const registry = params.registry ?? chosen;
  const base = registry ? `/api/public/registries/${registry}/metadata` : null;
  const meta = useApi<Metadata>(base ? `${base}?lang=${lang}` : null);
  const m = meta.data;
  const limits = (v: Variable) =>
    [
      v.range ? `${v.range.min ?? ''}–${v.range.max ?? ''}` : null,
      v.plausible ? `(${v.plausible.min ?? ''}–${v.plausible.max ?? ''})` : null,
      v.unit,
    ]
      .filter(Boolean)
      .join(' ');
  // /metadata/<a registry the platform does not run>: said plainly, with the way back.
  if (isNotFound(meta.failure))
    return <NotFound title={t('notfound.registry')} text={meta.error ?? ''} back={{ to: '/metadata', label: t('meta.title') }} />;
  return (
    <Page title={m ? `${t('meta.title')}: ${m.registry.title}` : t('meta.title')}>
      <Paragraph>{t('meta.intro')}</Paragraph>
      {meta.error && (
        <Alert data-color="danger">
          <Paragraph>{meta.error}</Paragraph>
        </Alert>
      )}
      {meta.loading && <Spinner aria-label={t('common.loading')} />}
      {m && base && (
        <>
          <Paragraph>{m.registry.description}</Paragraph>
          <section aria-labelledby="meta-downloads">
            <Heading level={2} data-size="sm" id="meta-downloads">
              {t('meta.downloads')}
            </Heading>
            <ul>
              <li>
                <a href={`${base}/codebook.csv`}>{t('meta.codebookCsv')}</a>
              </li>
              <li>
                <a href={`${base}/codebook.xlsx`}>{t('meta.codebookXlsx')}</a>
              </li>
              <li>
                <a href={`${base}/redcap.csv`}>{t('meta.redcap')}</a>
              </li>
              <li>
                <a href={`${base}/dcat.ttl`}>{t('meta.dcat')}</a>
              </li>
              <li>
                <a href={`${base}/metadata.json`}>{t('meta.json')}</a>
              </li>
            </ul>
          </section>
          <section aria-labelledby="meta-forms">
            <Heading level={2} data-size="md" id="meta-forms">
              {t('meta.forms')}
            </Heading>
            {m.forms.map((f) => (
              <section key={f.id} aria-labelledby={`form-${f.id}`}>
                <Heading level={3} data-size="sm" id={`form-${f.id}`}>
                  {f.title} <code>{f.id}</code>
                  {f.repeating ? ` (${t('meta.repeating')})` : ''}
                </Heading>
                {f.description && <Paragraph data-size="sm">{f.description}</Paragraph>}
                <Paragraph data-size="sm">
                  <a href={`${base}/Questionnaire/${f.id}`}>{t('meta.questionnaire')}</a>
                </Paragraph>
                <Table zebra className="meta-table">
                  <Table.Head>
                    <Table.Row>
                      <Table.HeaderCell scope="col">{t('meta.variable')}</Table.HeaderCell>
                      <Table.HeaderCell scope="col">{t('meta.label')}</Table.HeaderCell>
                      <Table.HeaderCell scope="col">{t('meta.type')}</Table.HeaderCell>
                      <Table.HeaderCell scope="col">{t('meta.required')}</Table.HeaderCell>
                      <Table.HeaderCell scope="col">{t('meta.values')}</Table.HeaderCell>
                      <Table.HeaderCell scope="col">{t('meta.history')}</Table.HeaderCell>
                    </Table.Row>
                  </Table.Head>
                  <Table.Body>
                    {f.variables.map((v) => (
                      <Table.Row key={v.id}>
                        <Table.Cell>
                          <code>{v.id}</code>
                        </Table.Cell>
                        <Table.Cell>
                          {v.label}
                          <br />
                          <span className="dq-detail">{v.description}</span>
                        </Table.Cell>
                        <Table.Cell>{TYPE[lang][v.type] ?? v.type}</Table.Cell>
                        <Table.Cell>
                          {v.required === true ? (
                            t('stage.yes')
                          ) : v.required === false ? (
                            t('stage.no')
                          ) : (
                            <>
                              {t('meta.requiredWhen')} <code>{v.required}</code>
                            </>
                          )}
                        </Table.Cell>
                        <Table.Cell>{v.codelist ? <a href={`#codelist-${v.codelist}`}>{v.codelist}</a> : limits(v) || '–'}</Table.Cell>
                        <Table.Cell>
                          {v.history
                            .map(
                              (h) =>
                                `${h.version}: ${t('meta.from')} ${h.validFrom}${h.validTo ? ` ${t('meta.to')} ${h.validTo}` : ''}${h.change === 'removed' ? ' ✕' : ''}`,
                            )
                            .join('; ') || '–'}
                        </Table.Cell>
                      </Table.Row>
                    ))}
                  </Table.Body>
                </Table>
              </section>
            ))}
          </section>
          <section aria-labelledby="meta-codelists">
            <Heading level={2} data-size="md" id="meta-codelists">
              {t('meta.codelists')}
            </Heading>
            {m.codelists.map((c) => (
              <details key={c.id} id={`codelist-${c.id}`}>
                <summary>
                  {c.title} <code>{c.id}</code> ({c.size} {t('meta.codes')})
                </summary>
                {c.codes && (
                  <ul>
                    {c.codes.map((x) => (
                      <li key={x.code}>
                        <code>{x.code}</code> {x.display}
                        {x.unknown ? ` (${t('dq.unknown').toLowerCase()})` : ''}
                      </li>
                    ))}
                  </ul>
                )}
              </details>
            ))}
          </section>
          <section aria-labelledby="meta-derived">
            <Heading level={2} data-size="md" id="meta-derived">
              {t('meta.derived')}
            </Heading>
            <dl className="meta-list">
              {m.derived.map((d) => (
                <div key={d.id}>
                  <dt>
                    <code>{d.id}</code> {d.label}
                  </dt>
                  <dd>
                    {d.description} {t('meta.computation')}: <code>{d.computation}</code>
                  </dd>
                </div>
              ))}
            </dl>
          </section>
          <section aria-labelledby="meta-rules">
            <Heading level={2} data-size="md" id="meta-rules">
              {t('meta.rules')}
            </Heading>
            <ul>
              {m.rules.map((r) => (
                <li key={r.id}>
                  <code>{r.id}</code>: {r.message}
                </li>
              ))}
            </ul>
          </section>
          <section aria-labelledby="meta-indicators">
            <Heading level={2} data-size="md" id="meta-indicators">
              {t('meta.indicators')}
            </Heading>
            <dl className="meta-list">
              {m.indicators.map((i) => (
                <div key={i.id}>
                  <dt>
                    {i.number}. {i.title}
                  </dt>
                  <dd>
                    {i.description}
                    {i.definition && (
                      <>
                        <br />
                        {t('meta.numerator')}: {i.definition.numerator}
                        <br />
                        {t('meta.denominator')}: {i.definition.denominator}
                      </>
                    )}
                  </dd>
                </div>
              ))}
            </dl>
          </section>
        </>
      )}
    </Page>
  );
}

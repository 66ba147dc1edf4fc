// Downloads of a figure rendered on the server from the same chart definition: the picture as
// PNG, SVG or PDF, and its numbers as CSV or XLSX.
import { Paragraph } from '@digdir/designsystemet-react';
import { useI18n } from '../i18n.tsx';

export function Downloads({
  registry,
  figure,
  params,
  label,
}: {
  registry: string;
  figure: string;
  params: Record<string, string | null | undefined>;
  label: string;
}) {
  const { t, lang } = useI18n();
  const all: Record<string, string | null | undefined> = { ...params, lang };
  const query = new URLSearchParams(Object.entries(all).filter((e): e is [string, string] => !!e[1])).toString();
  const href = (fmt: string) => `/api/registries/${registry}/figures/${figure}.${fmt}?${query}`;
  const link = (fmt: string, what: string) => (
    <a href={href(fmt)} download aria-label={`${what} ${fmt.toUpperCase()}: ${label}`}>
      {fmt.toUpperCase()}
    </a>
  );
  return (
    <Paragraph data-size="sm" className="downloads">
      {t('dl.figure')}: {link('png', t('dl.figure'))} · {link('svg', t('dl.figure'))} · {link('pdf', t('dl.figure'))}
      {' — '}
      {t('dl.table')}: {link('csv', t('dl.table'))} · {link('xlsx', t('dl.table'))}
    </Paragraph>
  );
}

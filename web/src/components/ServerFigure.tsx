// A figure drawn by the server's one chart renderer (src/reports/charts.ts), the same SVG that the
// PNG and PDF downloads and the PDF reports are made from: the browser does not draw charts of its
// own, so level symbols, patterns, intervals and "too few" markers look the same everywhere. The
// figure's numbers are in a table behind a toggle, from the same {spec, data} the SVG is drawn from.
import { Spinner } from '@digdir/designsystemet-react';
import { useState } from 'react';
import { useApi } from '../data.tsx';
import { useI18n } from '../i18n.tsx';
import { Downloads } from './Downloads.tsx';

type Cell = string | number | boolean | null;
interface Figure {
  spec: { title: string; description: string; note?: string; columns: Array<{ key: string; label: string; format?: string }> };
  data: Array<Record<string, Cell>>;
}

export function ServerFigure({
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
  // The table is built when opened: a page with two figures would otherwise carry every unit's row twice, unseen.
  const [open, setOpen] = useState(false);
  const query = new URLSearchParams(
    Object.entries<string | null | undefined>({ ...params, lang }).filter((e): e is [string, string] => !!e[1]),
  ).toString();
  const fig = useApi<Figure>(`/api/registries/${registry}/figures/${figure}?${query}`);
  const fmt = (v: Cell, format?: string) => {
    if (v === null || v === undefined) return '–';
    if (typeof v === 'number' && format === 'percent')
      return new Intl.NumberFormat(lang === 'nb' ? 'nb-NO' : 'en-GB', { style: 'percent', maximumFractionDigits: 1 }).format(v);
    if (typeof v === 'number') return v.toLocaleString(lang === 'nb' ? 'nb-NO' : 'en-GB', { maximumFractionDigits: 1 });
    return String(v);
  };
  return (
    <figure className="chart server-figure">
      {fig.loading && <Spinner aria-label={t('common.loading')} />}
      {fig.error && <p className="result-none">{fig.error}</p>}
      {fig.data && (
        <>
          <img
            src={`/api/registries/${registry}/figures/${figure}.svg?${query}`}
            alt={`${label}. ${fig.data.spec.description}`}
            style={{ maxWidth: '100%' }}
          />
          <details className="chart-data" onToggle={(e) => setOpen(e.currentTarget.open)}>
            <summary>{t('chart.showTable')}</summary>
            {open && (
              <table className="data-table">
                <caption>{label}</caption>
                <thead>
                  <tr>
                    {fig.data.spec.columns.map((c) => (
                      <th scope="col" key={c.key}>
                        {c.label}
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {fig.data.data.map((row, i) => (
                    <tr key={i}>
                      {fig.data!.spec.columns.map((c) => (
                        <td key={c.key}>{fmt(row[c.key], c.format)}</td>
                      ))}
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </details>
        </>
      )}
      <Downloads registry={registry} figure={figure} params={params} label={label} />
    </figure>
  );
}

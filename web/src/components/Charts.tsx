// Figures as plain SVG: each has a <title> and <desc>, series told apart by line style and marker
// shape (not colour alone), and the numbers in a table behind a toggle.
import { useId } from 'react';
import { pct, type Result, type Threshold } from '../data.tsx';
import { useI18n } from '../i18n.tsx';
import { ScrollTable } from './ScrollTable.tsx';

/** The share a target names (e.g. 0.8 for "> 80%"), or null. */
export function targetShare(target: Threshold | null): number | null {
  return target ? target.value : null;
}

const MARKERS = ['circle', 'square', 'triangle'] as const;
const DASHES = ['', '6 4', '2 3'];
const COLOURS = ['var(--ds-color-accent-base-default, #0062ba)', 'var(--ds-color-neutral-text-default, #1e2b3c)', '#8a4500'];

function Marker({ kind, x, y, colour }: { kind: (typeof MARKERS)[number]; x: number; y: number; colour: string }) {
  if (kind === 'circle') return <circle cx={x} cy={y} r={4.5} fill={colour} />;
  if (kind === 'square') return <rect x={x - 4} y={y - 4} width={8} height={8} fill={colour} />;
  return <polygon points={`${x},${y - 5.5} ${x + 5},${y + 4} ${x - 5},${y + 4}`} fill={colour} />;
}

export interface Series { label: string; points: Result[] }

/** Own unit, region and nation over time. */
export function LineChart({ title, series, target }: { title: string; series: Series[]; target: number | null }) {
  const { t, lang } = useI18n();
  const id = useId();
  const periods = [...new Set(series.flatMap((s) => s.points.map((p) => p.period)))].sort();
  const W = 640, H = 280, L = 48, R = 16, T = 16, B = 40;
  const x = (p: string) => L + (periods.length <= 1 ? (W - L - R) / 2 : (periods.indexOf(p) * (W - L - R)) / (periods.length - 1));
  const y = (v: number) => T + (1 - v) * (H - T - B);
  const desc = series.map((s) => `${s.label}: ${s.points.filter((p) => p.proportion !== null).map((p) => `${p.period} ${pct(p.proportion, lang)}`).join(', ') || t('result.none')}`).join('. ');
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby={`${id}-t ${id}-d`} className="chart-svg">
        <title id={`${id}-t`}>{title}</title>
        <desc id={`${id}-d`}>{desc}</desc>
        {[0, 0.25, 0.5, 0.75, 1].map((v) => (
          <g key={v}><line x1={L} x2={W - R} y1={y(v)} y2={y(v)} stroke="#c9d1db" strokeWidth={1} />
            <text x={L - 6} y={y(v) + 4} textAnchor="end" fontSize={11}>{pct(v, lang, 0)}</text></g>
        ))}
        {target !== null && <g><line x1={L} x2={W - R} y1={y(target)} y2={y(target)} stroke="#000" strokeDasharray="8 3 2 3" strokeWidth={1.5} />
          <text x={W - R} y={y(target) - 4} textAnchor="end" fontSize={11}>{t('chart.target')} {pct(target, lang, 0)}</text></g>}
        {periods.map((p, i) => (periods.length <= 12 || i % Math.ceil(periods.length / 12) === 0) && <text key={p} x={x(p)} y={H - B + 18} textAnchor="middle" fontSize={11}>{p}</text>)}
        {series.map((s, i) => {
          const pts = s.points.filter((p) => p.proportion !== null).sort((a, b) => a.period.localeCompare(b.period));
          return (
            <g key={s.label}>
              <polyline points={pts.map((p) => `${x(p.period)},${y(p.proportion!)}`).join(' ')} fill="none" stroke={COLOURS[i % 3]} strokeWidth={2} strokeDasharray={DASHES[i % 3]} />
              {pts.map((p) => <Marker key={p.period} kind={MARKERS[i % 3]} x={x(p.period)} y={y(p.proportion!)} colour={COLOURS[i % 3]} />)}
            </g>
          );
        })}
      </svg>
      <figcaption>
        <ul className="chart-legend">
          {series.map((s, i) => (
            <li key={s.label}><svg width="34" height="12" aria-hidden="true"><line x1="0" x2="34" y1="6" y2="6" stroke={COLOURS[i % 3]} strokeWidth={2} strokeDasharray={DASHES[i % 3]} /><Marker kind={MARKERS[i % 3]} x={17} y={6} colour={COLOURS[i % 3]} /></svg> {s.label}</li>
          ))}
          {target !== null && <li><svg width="34" height="12" aria-hidden="true"><line x1="0" x2="34" y1="6" y2="6" stroke="#000" strokeDasharray="8 3 2 3" strokeWidth={1.5} /></svg> {t('chart.target')}</li>}
        </ul>
      </figcaption>
      <details className="chart-data">
        <summary>{t('chart.showTable')}</summary>
        <ScrollTable label={title}><table className="data-table">
          <caption>{title}</caption>
          <thead><tr><th scope="col">{t('chart.period')}</th>{series.map((s) => <th scope="col" key={s.label}>{s.label}</th>)}</tr></thead>
          <tbody>{periods.map((p) => (
            <tr key={p}><th scope="row">{p}</th>{series.map((s) => { const r = s.points.find((x) => x.period === p); return <td key={s.label}>{cellText(r, t, lang)}</td>; })}</tr>
          ))}</tbody>
        </table></ScrollTable>
      </details>
    </figure>
  );
}

function cellText(r: Result | undefined, t: ReturnType<typeof useI18n>['t'], lang: 'nb' | 'en'): string {
  if (!r || r.status === 'not-computable') return t('result.none');
  if (r.status === 'too-few') return t('result.tooFew');
  return `${pct(r.proportion, lang)} (${r.numerator}/${r.denominator}; ${t('chart.ci')} ${pct(r.interval?.lower, lang)}–${pct(r.interval?.upper, lang)})`;
}

/** Every unit at one level, sorted best first, with Wilson intervals and the target line; units under the minimum are listed as too few. */
export function UnitBars({ title, results, names, target, direction, highlight }: {
  title: string; results: Result[]; names: (resh: string) => string; target: number | null; direction: 'higher-is-better' | 'lower-is-better'; highlight: string[];
}) {
  const { t, lang } = useI18n();
  const id = useId();
  const shown = results.filter((r) => r.status === 'ok').sort((a, b) => (direction === 'lower-is-better' ? a.proportion! - b.proportion! : b.proportion! - a.proportion!));
  const rest = results.filter((r) => r.status !== 'ok').sort((a, b) => names(a.unit.resh).localeCompare(names(b.unit.resh), 'nb'));
  const rows = [...shown, ...rest];
  const W = 720, LABEL = 250, VALUE = 90, ROW = 26, T = 24, B = 24;
  const H = T + B + rows.length * ROW;
  const x = (v: number) => LABEL + v * (W - LABEL - VALUE);
  const desc = rows.map((r) => `${names(r.unit.resh)}: ${r.status === 'ok' ? pct(r.proportion, lang) : r.status === 'too-few' ? t('result.tooFew') : t('result.none')}`).join('; ');
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby={`${id}-t ${id}-d`} className="chart-svg">
        <title id={`${id}-t`}>{title}</title>
        <desc id={`${id}-d`}>{desc}</desc>
        {[0, 0.25, 0.5, 0.75, 1].map((v) => (
          <g key={v}><line x1={x(v)} x2={x(v)} y1={T - 6} y2={H - B} stroke="#c9d1db" />
            <text x={x(v)} y={T - 10} textAnchor="middle" fontSize={11}>{pct(v, lang, 0)}</text></g>
        ))}
        {rows.map((r, i) => {
          const yy = T + i * ROW;
          const mine = highlight.includes(r.unit.resh);
          return (
            <g key={r.unit.resh} className={mine ? 'bar bar--own' : 'bar'}>
              <text x={LABEL - 8} y={yy + ROW / 2 + 4} textAnchor="end" fontSize={12} fontWeight={mine ? 700 : 400}>{names(r.unit.resh).slice(0, 38)}</text>
              {r.status === 'ok' ? (
                <>
                  <rect x={x(0)} y={yy + 5} width={Math.max(1, x(r.proportion!) - x(0))} height={ROW - 10} fill={mine ? 'var(--ds-color-accent-base-default, #0062ba)' : '#7d8fa6'} />
                  {r.interval && <g stroke="#000" strokeWidth={1.5}>
                    <line x1={x(r.interval.lower)} x2={x(r.interval.upper)} y1={yy + ROW / 2} y2={yy + ROW / 2} />
                    <line x1={x(r.interval.lower)} x2={x(r.interval.lower)} y1={yy + 8} y2={yy + ROW - 8} />
                    <line x1={x(r.interval.upper)} x2={x(r.interval.upper)} y1={yy + 8} y2={yy + ROW - 8} />
                  </g>}
                  <text x={W - VALUE + 8} y={yy + ROW / 2 + 4} fontSize={12}>{pct(r.proportion, lang)}</text>
                </>
              ) : <text x={x(0) + 6} y={yy + ROW / 2 + 4} fontSize={12} fontStyle="italic">{r.status === 'too-few' ? t('result.tooFew') : t('result.none')}</text>}
            </g>
          );
        })}
        {target !== null && <g><line x1={x(target)} x2={x(target)} y1={T - 4} y2={H - B + 4} stroke="#000" strokeDasharray="8 3 2 3" strokeWidth={1.5} />
          <text x={x(target)} y={H - 6} textAnchor="middle" fontSize={11}>{t('chart.target')} {pct(target, lang, 0)}</text></g>}
      </svg>
      <details className="chart-data">
        <summary>{t('chart.showTable')}</summary>
        <ScrollTable label={title}><table className="data-table">
          <caption>{title}</caption>
          <thead><tr><th scope="col">{t('ind.unit')}</th><th scope="col">{t('chart.share')}</th><th scope="col">{t('chart.ci')}</th><th scope="col">{t('chart.counts')}</th></tr></thead>
          <tbody>{rows.map((r) => (
            <tr key={r.unit.resh}><th scope="row">{names(r.unit.resh)}</th>
              <td>{r.status === 'ok' ? pct(r.proportion, lang) : r.status === 'too-few' ? t('result.tooFew') : t('result.none')}</td>
              <td>{r.interval ? `${pct(r.interval.lower, lang)}–${pct(r.interval.upper, lang)}` : '–'}</td>
              <td>{r.status === 'ok' ? `${r.numerator}/${r.denominator}` : '–'}</td></tr>
          ))}</tbody>
        </table></ScrollTable>
      </details>
    </figure>
  );
}

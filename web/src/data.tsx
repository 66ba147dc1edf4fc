// Shared data for the registry pages: the registry, the unit hierarchy, indicator types, and how a
// result is shown (share, level by symbol and word, trend by arrow and word: never by colour alone).
import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { useEffect } from 'react';
import { api, ApiError } from './api.ts';
import { errorText } from './errors.ts';
import { useI18n, type Key, type Lang } from './i18n.tsx';
import { FRESH, apiKey } from './query.ts';
import { useQuery as useUrlQuery } from './router.tsx';
import { useSession } from './session.tsx';
import { levelIcon } from '../../src/reports/level-symbols.ts';

export type Text = { nb: string; en: string };
export interface UnitView {
  resh: string;
  parent: string | null;
  level: 'nation' | 'region' | 'trust' | 'hospital' | 'department';
  name: Text;
  short: string | null;
  path: string[];
}
export interface Threshold {
  operator: '>' | '>=' | '<' | '<=';
  value: number;
}
/** "> 80 %": a target or level threshold as text. */
export function thresholdText(t: Threshold | null | undefined, lang: Lang): string {
  if (!t) return '–';
  const op = { '>': '>', '>=': '≥', '<': '<', '<=': '≤' }[t.operator];
  return `${op} ${pct(t.value, lang, 0)}`;
}
export interface IndicatorDecl {
  id: string;
  number: string;
  status: 'active' | 'pending';
  title: string;
  description: string;
  type: string[];
  source: string;
  target: Threshold | null;
  levels: { high: Threshold; moderate?: Threshold } | null;
  direction: 'higher-is-better' | 'lower-is-better';
  minimumDenominator: number;
  stratifiers: string[];
  grains: string[];
  references: string[];
  definition: { numerator: string; denominator: string; population?: string; exclusions?: string } | null;
  /** Registry parameters (thresholds) the definition uses that the registry has not set yet: results are provisional. */
  pendingParameters?: Array<{ id: string; title: string }>;
}
export interface Result {
  indicator: string;
  grain: string;
  period: string;
  unit: { resh: string; level: string | null; name: string | null };
  stratifier: string;
  stratum: string;
  status: 'ok' | 'too-few' | 'not-computable' | 'definition-pending';
  numerator: number | null;
  denominator: number | null;
  proportion: number | null;
  interval: { lower: number; upper: number } | null;
  targetMet: boolean | null;
  level: 'high' | 'moderate' | 'low' | null;
  trend: 'better' | 'worse' | 'stable' | null;
  previous: { period: string; proportion: number | null } | null;
  /** The unit's coverage against NPR in the result's year (src/quality/coverage-link.ts); low: under 60 %. */
  coverage?: { value: number; low: boolean } | null;
}

/**
 * Reads JSON from the API through the app's cache (query.ts): keyed by the path, so every component
 * asking for the same path shares one request and one answer; fetched again when the path changes
 * or the answer is stale. `error` is the message for people, in the reader's language (by the
 * answer's code); `failure` is the error itself. `fresh`: how long the answer may be reused
 * (FRESH.live by default; FRESH.reference for what changes only with an administrator's act).
 */
export function useApi<T>(
  path: string | null,
  options: { fresh?: number } = {},
): {
  data: T | null;
  error: string | null;
  failure: unknown;
  loading: boolean;
  reload(): void;
} {
  const { tryT } = useI18n();
  const q = useQuery<T>({
    queryKey: apiKey(path ?? ''),
    enabled: !!path,
    staleTime: options.fresh ?? FRESH.live,
  });
  const failure = path && q.error ? q.error : null;
  useEffect(() => {
    // A bug or a broken network, not an answer: worth a line in the console.
    if (failure && !(failure instanceof ApiError)) console.error(failure);
  }, [failure]);
  return {
    data: path ? (q.data ?? null) : null,
    error: failure ? errorText(failure, tryT) : null,
    failure,
    loading: !!path && q.isPending && !failure,
    reload: () => void q.refetch(),
  };
}

/**
 * A list the platform hands out a page at a time behind a cursor (`next`, asked for as `after=`):
 * the pages loaded so far, as one list, cached under the list's path like any other read; "show
 * more" asks for the page after the last. A new path (another finding, unit or year) starts again.
 */
export function useApiPages<Item, P extends { next: number | null }>(
  path: string | null,
  items: (page: P) => Item[],
): {
  items: Item[];
  more: boolean;
  loadMore(): void;
  loadingMore: boolean;
  loaded: boolean;
  loading: boolean;
  error: string | null;
} {
  const { tryT } = useI18n();
  const q = useInfiniteQuery({
    queryKey: ['api-pages', path ?? ''],
    enabled: !!path,
    initialPageParam: 0,
    queryFn: ({ pageParam }) => api<P>(`${path}${path?.includes('?') ? '&' : '?'}after=${pageParam}`),
    getNextPageParam: (last) => last.next ?? undefined,
  });
  return {
    items: q.data?.pages.flatMap(items) ?? [],
    more: q.hasNextPage,
    loadMore: () => void q.fetchNextPage(),
    loadingMore: q.isFetchingNextPage,
    loaded: q.isSuccess,
    loading: !!path && q.isPending && !q.error,
    error: q.error ? errorText(q.error, tryT) : null,
  };
}

/** The years a registry (or, without one, any registry) has data for, newest first, and the year pages open on. */
export function useDataYears(registry: string | null | 'all'): { years: string[]; defaultYear: string | null; loading: boolean } {
  const res = useApi<{ years: number[]; default: number | null }>(
    registry === 'all' ? '/api/years' : registry ? `/api/registries/${registry}/years` : null,
    { fresh: FRESH.reference },
  );
  return {
    years: (res.data?.years ?? []).map(String),
    defaultYear: res.data?.default === null || res.data?.default === undefined ? null : String(res.data.default),
    loading: res.loading || (!res.data && !res.error),
  };
}

export interface RegistryInfo {
  id: string;
  title: Text;
}
const REGISTRY_KEY = 'kvalreg.registry';

/** Every registry the platform runs (for the registry choice of visitors and patients). */
export function useRegistries(): RegistryInfo[] {
  return useApi<RegistryInfo[]>('/api/registries', { fresh: FRESH.reference }).data ?? [];
}

/** Remembers a visitor's registry choice across pages (the URL's ?registry= wins, so a view can be shared). */
export function rememberRegistry(id: string): void {
  localStorage.setItem(REGISTRY_KEY, id);
}

/** The registry the pages show: the active grant's; else ?registry=, the visitor's last choice, or the first. */
export function useRegistryId(): string | null {
  const { me } = useSession();
  const regs = useRegistries();
  const q = useUrlQuery();
  const active = me?.active?.registry;
  const known = (id: string | null) => (id && regs.some((r) => r.id === id) ? id : null);
  // A link that names its registry (e.g. a trauma indicator from the hospital profile) shows that
  // registry's open pages, whoever follows it.
  const asked = known(q.get('registry'));
  if (asked) return asked;
  if (active && active !== '*') return active;
  return known(localStorage.getItem(REGISTRY_KEY)) ?? regs[0]?.id ?? null;
}

export function useUnits() {
  const units = useApi<UnitView[]>('/api/units', { fresh: FRESH.reference });
  const byResh = new Map((units.data ?? []).map((u) => [u.resh, u]));
  const nation = units.data?.find((u) => u.level === 'nation') ?? null;
  const ancestor = (resh: string, level: UnitView['level']) =>
    byResh
      .get(resh)
      ?.path.map((r) => byResh.get(r))
      .find((u) => u?.level === level) ?? null;
  return { list: units.data ?? [], byResh, nation, ancestor, loading: units.loading };
}

/** The unit of the active grant, when it is a unit-level grant ("own unit"). */
export function useOwnUnit(): string | null {
  const { me } = useSession();
  const a = me?.active;
  if (!a || a.role === 'patient' || a.role === 'researcher') return null;
  return a.unit && a.unit !== '*' ? a.unit : null;
}

/** Whether the active grant may see person-level data of the unit (explanations, worklist). */
export function useCoversUnit(resh: string | null, units: ReturnType<typeof useUnits>): boolean {
  const { me } = useSession();
  const a = me?.active;
  if (!a || !resh || !['unit-registrar', 'unit-reader', 'registry-admin', 'platform-admin'].includes(a.role)) return false;
  if (a.role === 'platform-admin' || a.role === 'registry-admin') return true;
  return units.byResh.get(resh)?.path.includes(a.unit) ?? resh === a.unit;
}

export function pct(p: number | null | undefined, lang: Lang, digits = 1): string {
  if (p === null || p === undefined) return '–';
  return new Intl.NumberFormat(lang === 'nb' ? 'nb-NO' : 'en-GB', {
    style: 'percent',
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  }).format(p);
}

/** A unit's name; a department's with its hospital's (departments share names like "Ortopedisk avdeling"). */
export function unitName(u: UnitView | null | undefined, lang: Lang, fallback = '', byResh?: Map<string, UnitView>): string {
  if (!u) return fallback;
  const parent = u.level === 'department' && u.parent ? byResh?.get(u.parent) : undefined;
  return parent ? `${parent.short ?? parent.name[lang]}, ${u.name[lang]}` : u.name[lang];
}

export const TREND_ARROW = { better: '↗', worse: '↘', stable: '→' } as const;

/** A level's symbol, drawn by the same code as the figures' symbols (src/reports/level-symbols.ts). */
export function LevelIcon({ level }: { level: 'high' | 'moderate' | 'low' }) {
  // The markup is built from constants and numbers only (no user data).
  return <span className="level-icon" aria-hidden="true" dangerouslySetInnerHTML={{ __html: levelIcon(level) }} />;
}

/** Level by symbol and word. */
export function LevelMark({ level }: { level: Result['level'] }) {
  const { t } = useI18n();
  if (!level) return null;
  return (
    <span className={`level level--${level}`}>
      <LevelIcon level={level} /> {t(`level.${level}` as Key)}
    </span>
  );
}

/** Trend by arrow and word. */
export function TrendMark({ trend }: { trend: Result['trend'] }) {
  const { t } = useI18n();
  if (!trend) return null;
  return (
    <span className={`trend trend--${trend}`}>
      <span aria-hidden="true">{TREND_ARROW[trend]}</span> {t(`trend.${trend}` as Key)}
    </span>
  );
}

/** One result in a table cell: share (n/N), level, trend; or why there is none. */
export function ResultCell({ r }: { r: Result | undefined }) {
  const { t, lang } = useI18n();
  if (!r || r.status === 'not-computable') return <span className="result-none">{t('result.none')}</span>;
  if (r.status === 'definition-pending') return <span className="result-none">{t('result.pending')}</span>;
  if (r.status === 'too-few') return <span className="result-none">{t('result.tooFew')}</span>;
  return (
    <span className="result">
      <strong>{pct(r.proportion, lang)}</strong>{' '}
      <span className="result-n">
        ({r.numerator}/{r.denominator})
      </span>
      <br />
      <LevelMark level={r.level} /> <TrendMark trend={r.trend} />
      {r.coverage?.low && (
        <>
          <br />
          <strong className="low-coverage">
            ⚠ {t('cov.low')} ({pct(r.coverage.value, lang, 0)})
          </strong>
        </>
      )}
    </span>
  );
}

export const currentYear = () => new Date().getFullYear();

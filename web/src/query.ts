// The app's data cache (@tanstack/react-query). Every read from the platform is a query keyed by
// its URL (path and query string), so two components asking for the same thing share one request
// and one cached answer; a change (a mutation) names the paths it touched and every cached answer
// under them is fetched again.
import { QueryClient, useQueryClient } from '@tanstack/react-query';
import { api, ApiError } from './api.ts';

/** How long an answer counts as fresh: a page opened again within this reuses it without asking. */
export const FRESH = {
  /** Answers that change as people work (a case, the worklist, reports). */
  live: 30_000,
  /** Answers that change only with a deployment or an administrator's act (registries, units, codebooks, years). */
  reference: 10 * 60_000,
} as const;

/** The query key of a URL: the key is the URL itself, so equal URLs share one cache entry. */
export const apiKey = (path: string) => ['api', path] as const;

export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: FRESH.live,
        gcTime: 10 * 60_000,
        // A refusal (4xx) or a server error (5xx) is an answer: shown at once, not asked again
        // three times. Only a request that never got an answer (the network) is tried once more.
        retry: (failures, err) => !(err instanceof ApiError) && failures < 1,
        // No abort signal: a request is not cancelled when the last component reading it unmounts
        // (React's StrictMode mounts every component twice in development, and a cancelled read
        // would be asked for again); its answer goes into the cache for the next reader.
        queryFn: ({ queryKey }) => api(String(queryKey[1])),
      },
      mutations: { retry: false },
    },
  });
}

/** The path part of a key's URL ("/api/registries/x/cases/1" of "/api/registries/x/cases/1?v=2"). */
function pathOf(key: readonly unknown[]): string | null {
  return (key[0] === 'api' || key[0] === 'api-pages') && typeof key[1] === 'string' ? key[1].split('?')[0] : null;
}

/**
 * Marks every cached answer whose path is one of `paths` or lies under one (a path ending in "/"
 * matches only below it) as stale; those on screen are fetched again at once. Returns when they are.
 */
export function invalidatePaths(client: QueryClient, paths: string[]): Promise<void> {
  return client.invalidateQueries({
    predicate: (q) => {
      const p = pathOf(q.queryKey);
      return !!p && paths.some((x) => (x.endsWith('/') ? p.startsWith(x) : p === x || p.startsWith(`${x}/`)));
    },
  });
}

/** invalidatePaths bound to the app's client. */
export function useInvalidate(): (...paths: string[]) => Promise<void> {
  const client = useQueryClient();
  return (...paths) => invalidatePaths(client, paths);
}

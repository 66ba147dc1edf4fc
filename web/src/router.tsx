// A small router over the History API: the server answers every page path with index.html.
// The query string is part of the state, so a view's choices (period, unit, comparison) can be
// kept in the URL and shared.
import { createContext, useCallback, useContext, useEffect, useState, type AnchorHTMLAttributes, type ReactNode } from 'react';

interface RouteState {
  path: string;
  search: string;
  navigate(to: string): void;
  /** Sets (or, with null/'' , removes) query parameters of the current page, replacing the history entry. */
  setQuery(updates: Record<string, string | null | undefined>): void;
}

const Ctx = createContext<RouteState>({ path: '/', search: '', navigate: () => undefined, setQuery: () => undefined });

export function Router({ children }: { children: ReactNode }) {
  const [loc, setLoc] = useState({ path: window.location.pathname, search: window.location.search });
  useEffect(() => {
    const onPop = () => setLoc({ path: window.location.pathname, search: window.location.search });
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  const navigate = useCallback((to: string) => {
    window.history.pushState(null, '', to);
    setLoc({ path: window.location.pathname, search: window.location.search });
    // Focus moves to the new page's heading (see Page), so screen readers announce it.
  }, []);
  const setQuery = useCallback((updates: Record<string, string | null | undefined>) => {
    const q = new URLSearchParams(window.location.search);
    for (const [k, v] of Object.entries(updates)) {
      if (v === null || v === undefined || v === '') q.delete(k);
      else q.set(k, v);
    }
    const s = q.toString();
    window.history.replaceState(null, '', `${window.location.pathname}${s ? `?${s}` : ''}`);
    setLoc({ path: window.location.pathname, search: window.location.search });
  }, []);
  return <Ctx.Provider value={{ ...loc, navigate, setQuery }}>{children}</Ctx.Provider>;
}

export const useRoute = () => useContext(Ctx);

/** The current query parameters. */
export function useQuery(): URLSearchParams {
  const { search } = useRoute();
  return new URLSearchParams(search);
}

/** Matches a path against a pattern like /indicators/:indicator; the parameters, or null. */
export function matchPath(pattern: string, path: string): Record<string, string> | null {
  const a = pattern.split('/').filter(Boolean);
  const b = path.split('/').filter(Boolean);
  if (a.length !== b.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < a.length; i++) {
    if (a[i].startsWith(':')) params[a[i].slice(1)] = decodeURIComponent(b[i]);
    else if (a[i] !== b[i]) return null;
  }
  return params;
}

const ParamsCtx = createContext<Record<string, string>>({});
export const ParamsProvider = ParamsCtx.Provider;
export const useParams = () => useContext(ParamsCtx);

export function Link({ to, children, ...rest }: { to: string; children: ReactNode } & AnchorHTMLAttributes<HTMLAnchorElement>) {
  const { path, navigate } = useRoute();
  return (
    <a
      href={to}
      aria-current={path === to ? 'page' : undefined}
      {...rest}
      onClick={(e) => {
        if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(to);
      }}
    >
      {children}
    </a>
  );
}

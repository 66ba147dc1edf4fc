// Who is logged in, for every page: loaded from GET /api/me, with role switching and logout.
import { useQueryClient } from '@tanstack/react-query';
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from 'react';
import { api, ApiError, setCsrfToken, type GrantView, type Me } from './api.ts';

interface SessionState {
  me: Me | null;
  loading: boolean;
  login(): void;
  logout(): Promise<void>;
  switchRole(g: GrantView): Promise<void>;
  reload(): Promise<void>;
}

const Ctx = createContext<SessionState | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null>(null);
  const [loading, setLoading] = useState(true);
  const queries = useQueryClient();

  const reload = useCallback(async () => {
    try {
      const m = await api<Me>('/api/me');
      setCsrfToken(m.csrfToken);
      setMe(m);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) console.error(err);
      setCsrfToken(undefined);
      setMe(null);
    } finally {
      setLoading(false);
    }
  }, []);
  useEffect(() => {
    void reload();
  }, [reload]);

  const login = () => {
    window.location.assign(`/auth/login?returnTo=${encodeURIComponent(window.location.pathname + window.location.search)}`);
  };
  const logout = async () => {
    const res = await api<{ loggedOut: boolean; providerLogoutUrl: string | null }>('/auth/logout', { method: 'POST' });
    setCsrfToken(undefined);
    setMe(null);
    // What was read was read as that person: nothing of it may show after they leave.
    void queries.resetQueries();
    // Also end the session at the login service, when it supports it.
    if (res.providerLogoutUrl) window.location.assign(res.providerLogoutUrl);
  };
  const switchRole = async (g: GrantView) => {
    await api('/auth/role', { method: 'POST', body: { registry: g.registry, role: g.role, unit: g.unit } });
    // Answers depend on the active grant (its unit, what it may see): cached ones are dropped and
    // those on screen fetched again under the new grant.
    void queries.resetQueries();
    await reload();
  };
  return <Ctx.Provider value={{ me, loading, login, logout, switchRole, reload }}>{children}</Ctx.Provider>;
}

export function useSession(): SessionState {
  const v = useContext(Ctx);
  if (!v) throw new Error('useSession outside SessionProvider');
  return v;
}

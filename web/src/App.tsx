// The app's frame: skip link, header, the current page in <main>, footer.
import { SkipLink } from '@digdir/designsystemet-react';
import { Header } from './components/Header.tsx';
import { useI18n } from './i18n.tsx';
import { NOT_FOUND, PAGES } from './pages/index.ts';
import { useApi, type RegistryInfo } from './data.tsx';
import { NotFound } from './pages/NotFound.tsx';
import { FRESH } from './query.ts';
import { matchPath, ParamsProvider, useQuery, useRoute } from './router.tsx';

export function App() {
  const { t } = useI18n();
  const { path } = useRoute();
  let params: Record<string, string> = {};
  const page =
    PAGES.find((p) => {
      const m = matchPath(p.path, path);
      if (m) params = m;
      return !!m;
    }) ?? NOT_FOUND;
  // A link naming a registry the platform does not run (misspelt, or one taken down) is answered
  // plainly, not with another registry's figures.
  const askedRegistry = useQuery().get('registry');
  const registries = useApi<RegistryInfo[]>('/api/registries', { fresh: FRESH.reference });
  const unknownRegistry = !!askedRegistry && !!registries.data && !registries.data.some((r) => r.id === askedRegistry);
  const Current = page.component;
  return (
    <>
      <SkipLink href="#main">{t('app.skip')}</SkipLink>
      <Header />
      <main id="main" className="app-main">
        <ParamsProvider value={params}>
          {unknownRegistry ? (
            <NotFound key={path} title={t('notfound.registry')} text={`${t('error.code.registry.unknown')} (${askedRegistry})`} />
          ) : (
            <Current key={path} />
          )}
        </ParamsProvider>
      </main>
      <footer className="app-footer">
        <p>{t('app.footer')}</p>
      </footer>
    </>
  );
}

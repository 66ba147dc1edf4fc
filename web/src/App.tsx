// The app's frame: skip link, header, the current page in <main>, footer.
import { SkipLink } from '@digdir/designsystemet-react';
import { Header } from './components/Header.tsx';
import { useI18n } from './i18n.tsx';
import { NOT_FOUND, PAGES } from './pages/index.ts';
import { matchPath, ParamsProvider, useRoute } from './router.tsx';

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
  const Current = page.component;
  return (
    <>
      <SkipLink href="#main">{t('app.skip')}</SkipLink>
      <Header />
      <main id="main" className="app-main">
        <ParamsProvider value={params}>
          <Current key={path} />
        </ParamsProvider>
      </main>
      <footer className="app-footer">
        <p>{t('app.footer')}</p>
      </footer>
    </>
  );
}

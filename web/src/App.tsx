// The app's frame: skip link, header, the current page in <main>, footer.
import { SkipLink } from '@digdir/designsystemet-react';
import { Header } from './components/Header.tsx';
import { useI18n } from './i18n.tsx';
import { PAGES } from './pages/index.ts';
import { useRoute } from './router.tsx';

export function App() {
  const { t } = useI18n();
  const { path } = useRoute();
  const page = PAGES.find((p) => p.path === path) ?? PAGES[0];
  const Current = page.component;
  return (
    <>
      <SkipLink href="#main">{t('app.skip')}</SkipLink>
      <Header />
      <main id="main" className="app-main"><Current /></main>
      <footer className="app-footer"><p>{t('app.footer')}</p></footer>
    </>
  );
}

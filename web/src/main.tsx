import '@digdir/designsystemet-css';
import '@digdir/designsystemet-css/theme';
import '@fontsource-variable/inter';
import './styles.css';
import { QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.tsx';
import { I18nProvider } from './i18n.tsx';
import { createQueryClient } from './query.ts';
import { Router } from './router.tsx';
import { SessionProvider } from './session.tsx';

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={createQueryClient()}>
      <I18nProvider>
        <SessionProvider>
          <Router>
            <App />
          </Router>
        </SessionProvider>
      </I18nProvider>
    </QueryClientProvider>
  </StrictMode>,
);

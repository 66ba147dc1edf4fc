// A path the app does not have, or a thing (a registry, a case, an indicator) the platform does not
// know: said plainly, with the way back, instead of a blank page (it used to show the home page).
import { Paragraph } from '@digdir/designsystemet-react';
import { Page } from '../components/Page.tsx';
import { useI18n } from '../i18n.tsx';
import { Link, useRoute } from '../router.tsx';

export function NotFound({ title, text, back }: { title?: string; text?: string; back?: { to: string; label: string } } = {}) {
  const { t } = useI18n();
  const { path } = useRoute();
  return (
    <Page title={title ?? t('notfound.title')}>
      <div data-testid="not-found">
        <Paragraph>
          {text ?? (
            <>
              {t('notfound.text')} <code>{path}</code>
            </>
          )}
        </Paragraph>
        <Paragraph>
          {back && (
            <>
              <Link to={back.to}>{back.label}</Link> ·{' '}
            </>
          )}
          <Link to="/">{t('notfound.home')}</Link>
        </Paragraph>
      </div>
    </Page>
  );
}

// A path the app does not have: said plainly, with the way back (it used to show the home page).
import { Paragraph } from '@digdir/designsystemet-react';
import { Page } from '../components/Page.tsx';
import { useI18n } from '../i18n.tsx';
import { Link, useRoute } from '../router.tsx';

export function NotFound() {
  const { t } = useI18n();
  const { path } = useRoute();
  return (
    <Page title={t('notfound.title')}>
      <Paragraph>
        {t('notfound.text')} <code>{path}</code>
      </Paragraph>
      <Paragraph>
        <Link to="/">{t('notfound.home')}</Link>
      </Paragraph>
    </Page>
  );
}

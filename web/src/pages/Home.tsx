import { Paragraph } from '@digdir/designsystemet-react';
import { Page } from '../components/Page.tsx';
import { useI18n } from '../i18n.tsx';
import { Link } from '../router.tsx';
import { useSession } from '../session.tsx';

export function Home() {
  const { t } = useI18n();
  const { me, loading } = useSession();
  return (
    <Page title={t('home.title')}>
      <Paragraph>{t('home.intro')}</Paragraph>
      {!loading && !me && <Paragraph>{t('home.loginPrompt')}</Paragraph>}
      {me?.active?.role === 'patient' && <Paragraph><Link to="/innsyn">{t('home.patient')}</Link></Paragraph>}
      {me && me.active && me.active.role !== 'patient' && <Paragraph>{t('home.staff')}</Paragraph>}
    </Page>
  );
}

// The header on every page: the app's name, the menu, the language switch, and login state —
// with the role/unit switcher for a person holding several grants.
import { Button, Field, Label, Select } from '@digdir/designsystemet-react';
import { useState } from 'react';
import { grantKey } from '../api.ts';
import { rememberRegistry, useRegistries, useRegistryId } from '../data.tsx';
import { useI18n } from '../i18n.tsx';
import { PAGES } from '../pages/index.ts';
import { Link, useRoute } from '../router.tsx';
import { useSession } from '../session.tsx';

export function Header() {
  const { t, lang, setLang } = useI18n();
  const { me, loading, login, logout, switchRole } = useSession();
  const [status, setStatus] = useState('');
  // The grant chosen in the switcher but not yet submitted, tied to the grant that was active when
  // it was chosen: once another grant is active, the choice is spent and the switcher shows the
  // active one. Derived while rendering rather than copied in an effect, so that neither a fresh
  // read of the session nor an effect running after the user's pick can undo the pick.
  const activeKey = me?.active ? grantKey(me.active) : '';
  const [pick, setPick] = useState<{ while: string; key: string } | null>(null);
  const choice = pick && pick.while === activeKey ? pick.key : activeKey;

  const roleWords = (g: { role: string; unit: string; registryTitle: { nb: string; en: string }; unitName: { nb: string; en: string } }) =>
    g.role === 'patient' ? t('role.patient') : `${t(`role.${g.role}` as 'role.patient')} – ${g.unitName[lang]} (${g.registryTitle[lang]})`;
  const registries = useRegistries();
  const registry = useRegistryId();
  const { setQuery, path } = useRoute();
  // Visitors and patients choose the registry whose results they read; staff act in their grant's.
  // Not on the patient's PROM form, which belongs to no registry.
  const chooseRegistry = !!registry && registries.length > 1 && (!me?.active || me.active.registry === '*') && !path.startsWith('/prom/');
  const activeRole = me?.active?.role;
  const pages = PAGES.filter((p) => p.menu !== false && (!p.roles || (activeRole && p.roles.includes(activeRole))));

  return (
    <header className="app-header">
      <div className="app-header__top">
        <Link to="/" className="app-header__brand">
          {t('app.title')}
        </Link>
        <div className="app-header__tools">
          <Button
            variant="tertiary"
            data-size="sm"
            onClick={() => setLang(lang === 'nb' ? 'en' : 'nb')}
            lang={lang === 'nb' ? 'en' : 'nb'}
            aria-label={t('lang.switchLabel')}
          >
            {t('lang.switch')}
          </Button>
          {loading ? (
            <span>{t('auth.loading')}</span>
          ) : me ? (
            <>
              <span className="app-header__user">
                {t('auth.loggedInAs')} <strong>{me.name}</strong>
              </span>
              <Button
                variant="secondary"
                data-size="sm"
                onClick={() => {
                  void logout().then(() => setStatus(t('auth.loggedOut')));
                }}
              >
                {t('auth.logout')}
              </Button>
            </>
          ) : (
            <Button variant="primary" data-size="sm" onClick={login}>
              {t('auth.login')}
            </Button>
          )}
        </div>
      </div>
      {me && me.via === 'session' && me.grants.length > 1 && (
        <form
          className="app-header__role"
          aria-label={t('auth.switch')}
          onSubmit={(e) => {
            e.preventDefault();
            const g = me.grants.find((x) => grantKey(x) === choice);
            if (g)
              void switchRole(g).then(() => {
                // Spent: were this grant active again later, the switcher shows it, not this old pick.
                setPick(null);
                setStatus(`${t('auth.switched')}: ${roleWords(g)}`);
              });
          }}
        >
          <Field>
            <Label htmlFor="role-select">{t('auth.role')}</Label>
            <Select id="role-select" value={choice} onChange={(e) => setPick({ while: activeKey, key: e.target.value })}>
              {me.grants.map((g) => (
                <Select.Option key={grantKey(g)} value={grantKey(g)}>
                  {roleWords(g)}
                </Select.Option>
              ))}
            </Select>
          </Field>
          <Button type="submit" variant="secondary" data-size="sm" disabled={!!me.active && choice === grantKey(me.active)}>
            {t('auth.switch')}
          </Button>
        </form>
      )}
      {me?.active && me.grants.length <= 1 && <p className="app-header__active">{roleWords(me.active)}</p>}
      {chooseRegistry && (
        <div className="app-header__registry">
          <Field>
            <Label htmlFor="registry-select">{t('app.registry')}</Label>
            <Select
              id="registry-select"
              value={registry ?? ''}
              onChange={(e) => {
                rememberRegistry(e.target.value);
                setQuery({ registry: e.target.value });
              }}
            >
              {registries.map((r) => (
                <Select.Option key={r.id} value={r.id}>
                  {r.title[lang]}
                </Select.Option>
              ))}
            </Select>
          </Field>
        </div>
      )}
      <nav aria-label={t('app.nav')} className="app-nav">
        <ul>
          {pages.map((p) => (
            <li key={p.path}>
              <Link to={p.path}>{t(p.label)}</Link>
            </li>
          ))}
        </ul>
      </nav>
      <p role="status" className="visually-hidden-if-empty">
        {status}
      </p>
    </header>
  );
}

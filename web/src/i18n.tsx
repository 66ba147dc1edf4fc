// Words of the user interface: Norwegian bokmål first, English second, through translation keys.
// A page adds its keys here; the language choice is kept in the browser and set on <html lang>.
import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';

export type Lang = 'nb' | 'en';

const nb = {
  'app.title': 'Kvalitetsregister',
  'app.skip': 'Hopp til hovedinnholdet',
  'app.nav': 'Hovedmeny',
  'app.footer': 'Nasjonale medisinske kvalitetsregistre',
  'lang.switch': 'English',
  'lang.switchLabel': 'Change language to English',
  'auth.login': 'Logg inn',
  'auth.logout': 'Logg ut',
  'auth.loggedInAs': 'Logget inn som',
  'auth.role': 'Rolle og enhet',
  'auth.switch': 'Bytt rolle',
  'auth.switched': 'Du handler nå som',
  'auth.loggedOut': 'Du er logget ut.',
  'auth.loading': 'Henter innloggingen …',
  'role.platform-admin': 'Driftsansvarlig',
  'role.registry-admin': 'Registeradministrator',
  'role.unit-registrar': 'Registrar',
  'role.unit-reader': 'Leser',
  'role.researcher': 'Forsker',
  'role.patient': 'Pasient',
  'home.title': 'Velkommen',
  'home.intro': 'Her kan helsepersonell arbeide med registrene, og pasienter se hva som er registrert om dem.',
  'home.loginPrompt': 'Logg inn for å fortsette.',
  'home.patient': 'Se hva som er registrert om deg, og hvem som har sett på det.',
  'home.staff': 'Du er logget inn. Flere sider for registrering og resultater kommer.',
  'nav.home': 'Forside',
  'nav.innsyn': 'Innsyn',
  'innsyn.title': 'Innsyn: dine opplysninger',
  'innsyn.intro': 'Her ser du alt som er registrert om deg i kvalitetsregistrene, og hvem som har sett på opplysningene.',
  'innsyn.loading': 'Henter opplysningene dine …',
  'innsyn.nothing': 'Det er ikke registrert noe om deg i kvalitetsregistrene.',
  'innsyn.registeredAt': 'Registrert',
  'innsyn.unit': 'Behandlingssted',
  'innsyn.status': 'Status',
  'innsyn.variable': 'Opplysning',
  'innsyn.value': 'Verdi',
  'innsyn.source': 'Kilde',
  'innsyn.case': 'Registrering',
  'innsyn.log': 'Hvem har sett på opplysningene dine',
  'innsyn.logIntro': 'Hver gang noen leser eller endrer opplysningene dine, blir det logget.',
  'innsyn.logEmpty': 'Ingen har sett på opplysningene dine ennå.',
  'innsyn.when': 'Når',
  'innsyn.who': 'Hvem',
  'innsyn.what': 'Hva',
  'innsyn.why': 'Hvorfor',
  'innsyn.denied': 'avvist',
  'innsyn.reserveTitle': 'Reservere deg',
  'innsyn.reserveText': 'Du har rett til å reservere deg mot registrering. Da slettes alt som er registrert om deg, og nye opplysninger blir ikke lagret.',
  'innsyn.reserve': 'Reserver meg',
  'innsyn.confirmTitle': 'Vil du reservere deg?',
  'innsyn.confirmText': 'Alt som er registrert om deg i kvalitetsregistrene blir slettet, og nye opplysninger om deg blir ikke lagret. Dette kan ikke angres her.',
  'innsyn.confirm': 'Ja, reserver meg',
  'innsyn.cancel': 'Avbryt',
  'innsyn.reserved': 'Reservasjonen er registrert',
  'innsyn.notPatient': 'Innsyn er for pasienter. Bytt til pasientrollen, eller logg inn som pasient.',
  'action.read': 'Leste',
  'action.capture': 'Mottok opplysninger',
  'action.change': 'Endret',
  'action.reserve': 'Reservasjon',
  'purpose.innsyn': 'Ditt innsyn',
  'purpose.worklist': 'Arbeidsliste for registrering',
  'purpose.case:read': 'Kvalitetssikring av registreringen',
  'purpose.case:history': 'Historikk for registreringen',
  'purpose.case:complete': 'Utfylling av manglende opplysninger',
  'purpose.capture': 'Automatisk overføring fra sykehuset',
  'purpose.capture:process': 'Automatisk overføring fra sykehuset',
  'purpose.capture:recover': 'Automatisk overføring fra sykehuset',
  'purpose.case:finalise': 'Ferdigstilling av registreringen',
  'purpose.case:reopen': 'Gjenåpning av registreringen',
  'purpose.case:delete-form': 'Sletting av et skjema',
  'purpose.reservation': 'Reservasjon',
  'purpose.reservation:innsyn': 'Din reservasjon',
  'purpose.research-extract': 'Utlevering til godkjent forskningsprosjekt',
  'error.generic': 'Noe gikk galt',
  'error.session': 'Økten din er utløpt. Logg inn på nytt.',
} as const;

export type Key = keyof typeof nb;

const en: Record<Key, string> = {
  'app.title': 'Quality registries',
  'app.skip': 'Skip to main content',
  'app.nav': 'Main menu',
  'app.footer': 'National medical quality registries',
  'lang.switch': 'Norsk',
  'lang.switchLabel': 'Bytt språk til norsk',
  'auth.login': 'Log in',
  'auth.logout': 'Log out',
  'auth.loggedInAs': 'Logged in as',
  'auth.role': 'Role and unit',
  'auth.switch': 'Switch role',
  'auth.switched': 'You now act as',
  'auth.loggedOut': 'You are logged out.',
  'auth.loading': 'Checking your login …',
  'role.platform-admin': 'Platform administrator',
  'role.registry-admin': 'Registry administrator',
  'role.unit-registrar': 'Registrar',
  'role.unit-reader': 'Reader',
  'role.researcher': 'Researcher',
  'role.patient': 'Patient',
  'home.title': 'Welcome',
  'home.intro': 'Health personnel work with the registries here, and patients see what is registered about them.',
  'home.loginPrompt': 'Log in to continue.',
  'home.patient': 'See what is registered about you, and who has looked at it.',
  'home.staff': 'You are logged in. More pages for registration and results are coming.',
  'nav.home': 'Home',
  'nav.innsyn': 'My data',
  'innsyn.title': 'My data in the registries',
  'innsyn.intro': 'Here you see everything registered about you in the quality registries, and who has looked at it.',
  'innsyn.loading': 'Fetching your data …',
  'innsyn.nothing': 'Nothing is registered about you in the quality registries.',
  'innsyn.registeredAt': 'Registered',
  'innsyn.unit': 'Treated at',
  'innsyn.status': 'Status',
  'innsyn.variable': 'Item',
  'innsyn.value': 'Value',
  'innsyn.source': 'Source',
  'innsyn.case': 'Registration',
  'innsyn.log': 'Who has looked at your data',
  'innsyn.logIntro': 'Every time someone reads or changes your data, it is logged.',
  'innsyn.logEmpty': 'Nobody has looked at your data yet.',
  'innsyn.when': 'When',
  'innsyn.who': 'Who',
  'innsyn.what': 'What',
  'innsyn.why': 'Why',
  'innsyn.denied': 'refused',
  'innsyn.reserveTitle': 'Opt out',
  'innsyn.reserveText': 'You have the right to opt out of registration. Everything registered about you is then deleted, and nothing new is stored.',
  'innsyn.reserve': 'Opt me out',
  'innsyn.confirmTitle': 'Do you want to opt out?',
  'innsyn.confirmText': 'Everything registered about you in the quality registries will be deleted, and nothing new about you will be stored. This cannot be undone here.',
  'innsyn.confirm': 'Yes, opt me out',
  'innsyn.cancel': 'Cancel',
  'innsyn.reserved': 'Your opt-out is registered',
  'innsyn.notPatient': 'This page is for patients. Switch to the patient role, or log in as a patient.',
  'action.read': 'Read',
  'action.capture': 'Received data',
  'action.change': 'Changed',
  'action.reserve': 'Opt-out',
  'purpose.innsyn': 'Your own access',
  'purpose.worklist': 'Registration worklist',
  'purpose.case:read': 'Quality assurance of the registration',
  'purpose.case:history': 'History of the registration',
  'purpose.case:complete': 'Completing missing data',
  'purpose.capture': 'Automatic transfer from the hospital',
  'purpose.capture:process': 'Automatic transfer from the hospital',
  'purpose.capture:recover': 'Automatic transfer from the hospital',
  'purpose.case:finalise': 'Finalising the registration',
  'purpose.case:reopen': 'Reopening the registration',
  'purpose.case:delete-form': 'Deleting a form',
  'purpose.reservation': 'Opt-out',
  'purpose.reservation:innsyn': 'Your opt-out',
  'purpose.research-extract': 'Delivery to an approved research project',
  'error.generic': 'Something went wrong',
  'error.session': 'Your session has expired. Log in again.',
};

const dictionaries: Record<Lang, Record<Key, string>> = { nb, en };

interface I18n { lang: Lang; setLang(l: Lang): void; t(key: Key): string; tryT(key: string, fallback: string): string }
const Ctx = createContext<I18n | null>(null);

export function I18nProvider({ children }: { children: ReactNode }) {
  const [lang, setLang] = useState<Lang>(() => (localStorage.getItem('kvalreg.lang') === 'en' ? 'en' : 'nb'));
  useEffect(() => {
    document.documentElement.lang = lang;
    localStorage.setItem('kvalreg.lang', lang);
  }, [lang]);
  const t = (key: Key) => dictionaries[lang][key];
  const tryT = (key: string, fallback: string) => (dictionaries[lang] as Record<string, string>)[key] ?? fallback;
  return <Ctx.Provider value={{ lang, setLang, t, tryT }}>{children}</Ctx.Provider>;
}

export function useI18n(): I18n {
  const v = useContext(Ctx);
  if (!v) throw new Error('useI18n outside I18nProvider');
  return v;
}

export function formatDateTime(iso: string, lang: Lang): string {
  return new Intl.DateTimeFormat(lang === 'nb' ? 'nb-NO' : 'en-GB', { timeZone: 'Europe/Oslo', dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));
}

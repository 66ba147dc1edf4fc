// The pages of the app. A new page is one entry here: its path (with :params), its menu label,
// which roles see it in the menu (undefined = everyone; menu: false = reached by links only), and
// its component.
import type { ComponentType } from 'react';
import type { Key } from '../i18n.tsx';
import { Analyses } from './Analyses.tsx';
import { FollowUp } from './FollowUp.tsx';
import { Home } from './Home.tsx';
import { Hospitals } from './Hospitals.tsx';
import { Indicator } from './Indicator.tsx';
import { Indicators } from './Indicators.tsx';
import { Innsyn } from './Innsyn.tsx';
import { PromForm } from './PromForm.tsx';
import { Registrations } from './Registrations.tsx';
import { Reports } from './Reports.tsx';
import { PromResults } from './PromResults.tsx';

export interface PageDef {
  path: string;
  label: Key;
  /** Roles that see the page in the menu; undefined = everyone. */
  roles?: string[];
  /** false: not in the menu (a page reached by links, e.g. one indicator). */
  menu?: boolean;
  component: ComponentType;
}

export const PAGES: PageDef[] = [
  { path: '/', label: 'nav.home', component: Home },
  { path: '/indicators', label: 'nav.indicators', component: Indicators },
  { path: '/indicators/:indicator', label: 'nav.indicators', menu: false, component: Indicator },
  { path: '/analyses', label: 'nav.analyses', component: Analyses },
  { path: '/hospitals', label: 'nav.hospitals', component: Hospitals },
  { path: '/prom-results', label: 'nav.prom', component: PromResults },
  { path: '/registrations', label: 'nav.registrations', roles: ['unit-registrar', 'registry-admin', 'platform-admin'], component: Registrations },
  { path: '/reports', label: 'nav.reports', roles: ['unit-reader', 'unit-registrar', 'registry-admin', 'platform-admin'], component: Reports },
  { path: '/innsyn', label: 'nav.innsyn', roles: ['patient'], component: Innsyn },
  { path: '/follow-up', label: 'nav.followUp', roles: ['unit-reader', 'unit-registrar', 'registry-admin', 'platform-admin'], component: FollowUp },
  { path: '/prom/:token', label: 'prom.title', menu: false, component: PromForm },
];

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
import { Metadata } from './Metadata.tsx';
import { Coverage, DataQuality, Stage } from './Quality.tsx';
import { PromForm } from './PromForm.tsx';
import { Registrations } from './Registrations.tsx';
import { Reports } from './Reports.tsx';
import { PatientPage, PatientSearch } from './Patients.tsx';
import { ManualRegistration } from './Manual.tsx';
import { PrintPage } from './Print.tsx';
import { Research } from './Research.tsx';
import { Admin } from './Admin.tsx';
import { NotFound } from './NotFound.tsx';
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
  {
    path: '/registrations',
    label: 'nav.registrations',
    roles: ['unit-registrar', 'unit-reader', 'registry-admin', 'platform-admin'],
    component: Registrations,
  },
  { path: '/registrations/new', label: 'manual.title', menu: false, component: ManualRegistration },
  { path: '/print', label: 'print.print', menu: false, component: PrintPage },
  {
    path: '/patients',
    label: 'nav.patients',
    roles: ['unit-registrar', 'unit-reader', 'registry-admin', 'platform-admin'],
    component: PatientSearch,
  },
  { path: '/patients/:personId', label: 'nav.patients', menu: false, component: PatientPage },
  {
    path: '/reports',
    label: 'nav.reports',
    roles: ['unit-reader', 'unit-registrar', 'registry-admin', 'platform-admin'],
    component: Reports,
  },
  { path: '/innsyn', label: 'nav.innsyn', roles: ['patient'], component: Innsyn },
  {
    path: '/follow-up',
    label: 'nav.followUp',
    roles: ['unit-reader', 'unit-registrar', 'registry-admin', 'platform-admin'],
    component: FollowUp,
  },
  {
    path: '/quality',
    label: 'nav.quality',
    roles: ['unit-reader', 'unit-registrar', 'registry-admin', 'platform-admin'],
    component: DataQuality,
  },
  {
    path: '/coverage',
    label: 'nav.coverage',
    roles: ['unit-reader', 'unit-registrar', 'registry-admin', 'platform-admin'],
    component: Coverage,
  },
  { path: '/stage', label: 'nav.stage', roles: ['registry-admin', 'platform-admin'], component: Stage },
  { path: '/metadata', label: 'nav.metadata', component: Metadata },
  { path: '/metadata/:registry', label: 'nav.metadata', menu: false, component: Metadata },
  { path: '/prom/:token', label: 'prom.title', menu: false, component: PromForm },
  { path: '/research', label: 'nav.research', roles: ['researcher', 'registry-admin', 'platform-admin'], component: Research },
  { path: '/admin', label: 'nav.admin', roles: ['platform-admin'], component: Admin },
];

/** What a path the app does not have shows. */
export const NOT_FOUND: PageDef = { path: '*', label: 'notfound.title', menu: false, component: NotFound };

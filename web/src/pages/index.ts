// The pages of the app. A new page (worklist, indicators …) is one entry here: its path, its
// menu label, which roles see it in the menu, and its component.
import type { ComponentType } from 'react';
import type { Key } from '../i18n.tsx';
import { Home } from './Home.tsx';
import { Innsyn } from './Innsyn.tsx';

export interface PageDef {
  path: string;
  label: Key;
  /** Roles that see the page in the menu; undefined = everyone. */
  roles?: string[];
  component: ComponentType;
}

export const PAGES: PageDef[] = [
  { path: '/', label: 'nav.home', component: Home },
  { path: '/innsyn', label: 'nav.innsyn', roles: ['patient'], component: Innsyn },
];

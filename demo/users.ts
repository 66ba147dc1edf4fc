// Demo people: accounts at the local login service (identity only) and their grants in the
// platform's own user store (what they may do). One in every role; the demo patient is a person
// in the demo data, known once the demo has run.
import type { Queryable } from '../src/db/pool.ts';
import type { LocalAccount } from '../src/auth/local-idp.ts';
import { setUser } from '../src/auth/sessions.ts';
import type { Grant } from '../src/access/caller.ts';

export const DEMO_PASSWORD = 'demo';

interface DemoUser {
  account: LocalAccount;
  grants: Grant[];
}

const user = (subject: string, username: string, name: string, description: string, grants: Grant[]): DemoUser => ({
  account: { subject, username, password: DEMO_PASSWORD, name, description },
  grants,
});

export const DEMO_USERS: DemoUser[] = [
  user('demo-platform-admin', 'admin', 'Ada Drift', 'Driftsansvarlig, alle registre / platform admin, every registry', [
    { registry: '*', role: 'platform-admin', unit: '1' },
  ]),
  user(
    'demo-registry-admin',
    'registeradmin',
    'Reidun Register',
    'Registeradministrator, frakturregisteret og traumeregisteret / registry admin, fracture and trauma registers',
    [
      { registry: 'fracture', role: 'registry-admin', unit: '1' },
      { registry: 'trauma', role: 'registry-admin', unit: '1' },
    ],
  ),
  user(
    'demo-registrar-sus',
    'registrar',
    'Sindre Stavanger',
    'Registrar, ortopedisk avd. SUS (8201101), og leser ved SUS / registrar at SUS orthopaedics, and reader at SUS',
    [
      { registry: 'fracture', role: 'unit-registrar', unit: '8201101' },
      { registry: 'fracture', role: 'unit-reader', unit: '8201100' },
    ],
  ),
  user(
    'demo-trauma-registrar-sus',
    'traumeregistrar',
    'Tora Traume',
    'Traumeregistrar ved SUS (8201100) / trauma registrar at Stavanger University Hospital',
    [{ registry: 'trauma', role: 'unit-registrar', unit: '8201100' }],
  ),
  user('demo-reader-kalnes', 'leser', 'Live Kalnes', 'Leser, ortopedisk avd. Kalnes (8101101) / reader at Kalnes orthopaedics', [
    { registry: 'fracture', role: 'unit-reader', unit: '8101101' },
  ]),
  user('demo-researcher', 'forsker', 'Frida Forsker', 'Forsker, frakturregisteret / researcher, fracture register', [
    { registry: 'fracture', role: 'researcher', unit: '1' },
  ]),
];

/** The demo patient: logs in with the pid claim of a person in the demo data, and so is a patient. */
export function demoPatient(nin: string): LocalAccount {
  return {
    subject: 'demo-patient',
    username: 'pasient',
    password: DEMO_PASSWORD,
    name: 'Pia Pasient',
    pid: nin,
    description: 'Pasient med et registrert brudd (innsyn) / patient with a registered fracture',
  };
}

/** Puts the demo users and their grants in the user store (idempotent). */
export async function seedDemoUsers(db: Queryable): Promise<void> {
  for (const u of DEMO_USERS) await setUser(db, { subject: u.account.subject, name: u.account.name, grants: u.grants });
}

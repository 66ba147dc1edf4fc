// Innsyn, the PROM part: the questionnaires the patient has been sent (who asked, for what, what
// became of each) and every answer kept about them (the questions and their answers, the scores,
// where it came from, and which registries it was shared with). Runs in the patient's own door
// transaction (row-level security shows their rows only), beside records/innsyn.ts.
import type { PersonTx } from '../access/door.ts';
import type { Registry } from '../registry/load.ts';
import type { UnitTree } from '../units/tree.ts';
import { hospitalName } from './sender.ts';
import type { Prom } from './service.ts';

type Lang = 'nb' | 'en';

export interface PromInnsyn {
  invitations: Array<{
    id: number;
    hospital: string;
    purpose: string;
    status: string;
    sentAt: string | null;
    deadline: string | null;
    answeredAt: string | null;
    asked: Array<{ registry: string; timepoint: string; instrument: string; status: string }>;
  }>;
  answers: Array<{
    id: number;
    instrument: string;
    recall: string;
    status: string;
    answeredAt: string | null;
    source: string;
    scores: Array<{ label: string; value: string }>;
    items: Array<{ question: string; answer: string }>;
    sharedWith: Array<{ registry: string; timepoint: string }>;
  }>;
}

const WORDS = {
  nb: {
    invitation: {
      ordered: 'Skal sendes',
      sent: 'Sendt',
      reminded: 'Påminnelse sendt',
      answered: 'Besvart',
      expired: 'Utløpt uten svar',
      'not-reachable': 'Sendes på papir',
      cancelled: 'Avlyst',
    },
    item: { pending: 'Venter', invited: 'Spurt', answered: 'Besvart', expired: 'Ikke besvart', cancelled: 'Avlyst' },
    response: { draft: 'Påbegynt', completed: 'Sendt inn' },
    recall: { current: 'Slik du har det nå', 'pre-injury': 'Slik du hadde det før skaden' },
    source: {
      patient: 'Du svarte på nett',
      proxy: 'Svart for deg på nett',
      paper: 'Papirskjema registrert av sykehuset',
      fhir: 'Overført fra',
      import: 'Overført fra',
    },
    yes: 'Ja',
    no: 'Nei',
    clinic: 'Sykehusets egen oppfølging',
  },
  en: {
    invitation: {
      ordered: 'To be sent',
      sent: 'Sent',
      reminded: 'Reminder sent',
      answered: 'Answered',
      expired: 'Expired unanswered',
      'not-reachable': 'Sent on paper',
      cancelled: 'Cancelled',
    },
    item: { pending: 'Waiting', invited: 'Asked', answered: 'Answered', expired: 'Not answered', cancelled: 'Cancelled' },
    response: { draft: 'Started', completed: 'Sent' },
    recall: { current: 'As you are now', 'pre-injury': 'As you were before the injury' },
    source: {
      patient: 'You answered online',
      proxy: 'Answered for you online',
      paper: 'Paper form entered by the hospital',
      fhir: 'Sent by',
      import: 'Sent by',
    },
    yes: 'Yes',
    no: 'No',
    clinic: "The hospital's own follow-up",
  },
} as const;

const word = (table: Record<string, string>, key: string) => table[key] ?? key;

export async function promInnsyn(tx: PersonTx, prom: Prom, registries: Registry[], units: UnitTree, lang: Lang): Promise<PromInnsyn> {
  const person = (await tx.client.query("SELECT id FROM person WHERE id::text = current_setting('kvalreg.person', true)")).rows[0];
  if (!person) return { invitations: [], answers: [] };
  const w = WORDS[lang];
  const registryTitle = (id: string) => registries.find((r) => r.id === id)?.meta.title[lang] ?? id;
  // Who asked: a registry, or the treating unit's own follow-up (party: clinic).
  const askedBy = (i: { registry: string; party: string }) => (i.party === 'clinic' ? w.clinic : registryTitle(i.registry));
  const timepointLabel = (registry: string, schedule: string, tp: string) =>
    prom.schedules.find((s) => s.registry === registry && s.def.id === schedule)?.def.timepoints.find((t) => t.id === tp)?.label[lang] ??
    tp;
  const instrumentTitle = (id: string) => prom.instruments.get(id)?.def.title[lang] ?? id;
  const rows = async (sql: string) => (await tx.client.query(sql, [person.id])).rows;
  const invitations = await rows(
    'SELECT id, unit_resh, purpose, status, sent_at, expires_at, answered_at FROM prom_invitation WHERE person_id = $1 ORDER BY created_at DESC',
  );
  const items = await rows(
    'SELECT registry, party, schedule, timepoint, instrument, status, invitation_id, response_id FROM prom_item WHERE person_id = $1 ORDER BY due_date, registry, timepoint, instrument',
  );
  const responses = await rows(
    'SELECT id, instrument, recall, status, answers, scores, provenance, answered_at FROM prom_response WHERE person_id = $1 ORDER BY coalesce(answered_at, created_at) DESC',
  );
  const iso = (d: unknown) => (d ? new Date(d as string).toISOString() : null);
  return {
    invitations: invitations.map((v) => ({
      id: Number(v.id),
      hospital: hospitalName(units, v.unit_resh, lang),
      purpose: v.purpose?.[lang] ?? '',
      status: word(w.invitation, v.status),
      sentAt: iso(v.sent_at),
      deadline: iso(v.expires_at),
      answeredAt: iso(v.answered_at),
      asked: items
        .filter((i) => Number(i.invitation_id) === Number(v.id))
        .map((i) => ({
          registry: askedBy(i),
          timepoint: timepointLabel(i.registry, i.schedule, i.timepoint),
          instrument: instrumentTitle(i.instrument),
          status: word(w.item, i.status),
        })),
    })),
    answers: responses.map((r) => {
      const inst = prom.instruments.get(r.instrument);
      const p = r.provenance ?? {};
      return {
        id: Number(r.id),
        instrument: instrumentTitle(r.instrument),
        recall: word(w.recall, r.recall),
        status: word(w.response, r.status),
        answeredAt: iso(r.answered_at),
        source: p.kind === 'fhir' || p.kind === 'import' ? `${word(w.source, p.kind)} ${p.sender}` : word(w.source, p.kind ?? ''),
        scores: Object.entries((r.scores ?? {}) as Record<string, { value: unknown }>)
          .filter(([, s]) => s.value !== null && s.value !== undefined)
          .map(([id, s]) => ({ label: inst?.scores.get(id)?.label[lang] ?? id, value: String(s.value) })),
        // In the Questionnaire's order (stored answers keep no order of their own).
        items: Object.entries((r.answers ?? {}) as Record<string, unknown>)
          .sort(([a], [b]) => itemOrder(inst, a) - itemOrder(inst, b))
          .map(([linkId, value]) => {
            const item = inst?.items.get(linkId);
            const option = item?.options.find((o) => o.code === String(value));
            const answer = option
              ? option.display
              : typeof value === 'boolean' || value === 'true' || value === 'false'
                ? String(value) === 'true'
                  ? w.yes
                  : w.no
                : String(value);
            return { question: item?.text || linkId, answer };
          }),
        sharedWith: items
          .filter((i) => Number(i.response_id) === Number(r.id))
          .map((i) => ({ registry: askedBy(i), timepoint: timepointLabel(i.registry, i.schedule, i.timepoint) })),
      };
    }),
  };
}

function itemOrder(inst: Prom['instruments'] extends Map<string, infer I> ? I | undefined : never, linkId: string): number {
  const i = inst ? [...inst.items.keys()].indexOf(linkId) : -1;
  return i < 0 ? Number.MAX_SAFE_INTEGER : i;
}

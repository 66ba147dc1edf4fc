// Innsyn, the patient's own view: what is registered about them and their questionnaires; opting
// out from the same place; and what a patient needs beside innsyn itself: whether (and when) they
// opted out — after which nothing about them remains to show — and how to reach each registry (to
// withdraw the reservation, have data corrected, or ask about the access log).
import type { FastifyInstance } from 'fastify';
import { callerLabel } from '../../access/caller.ts';
import { promInnsyn } from '../../prom/innsyn.ts';
import { innsyn } from '../../records/innsyn.ts';
import { reservationOf } from '../../records/reservation-status.ts';
import { reserveByHash } from '../../records/reservation.ts';
import { PATIENTS } from '../access-policy.ts';
import type { RouteOptions } from './plugin.ts';
import { KvalregError } from '../../errors.ts';

export async function innsynRoutes(app: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  // Innsyn: the patient's own view, and opting out from the same place.
  app.get<{ Querystring: { lang?: string } }>('/api/innsyn', { config: { access: PATIENTS } }, async (req) => {
    const c = req.caller!;
    const lang = req.query.lang === 'en' ? 'en' : 'nb';
    return platform.data.transaction(
      c,
      'innsyn',
      async (tx) => ({
        ...(await innsyn(tx, platform.registries, lang)),
        // The questionnaires the patient was sent and their answers (src/prom/innsyn.ts).
        prom: await promInnsyn(tx, platform.prom, platform.registries, platform.units, lang),
      }),
      { readOnly: true, client: req.ip },
    );
  });
  app.post('/api/innsyn/reservation', { config: { access: PATIENTS } }, async (req, reply) => {
    const c = req.caller!;
    if (c.kind !== 'user' || !c.personHash)
      throw new KvalregError(
        'conflict',
        'Your login does not carry your identity number, so the reservation cannot be registered. Contact the registry.',
      );
    const hash = Buffer.from(c.personHash, 'hex');
    // Carried out by the platform for the patient: it must reach raw messages, which only the platform may.
    const result = await platform.data.transaction(
      { kind: 'platform', task: 'reservation' },
      'reservation:innsyn',
      (tx) => reserveByHash(tx, hash, 'innsyn', platform.keys, { label: callerLabel(c), role: 'patient' }),
      { client: req.ip },
    );
    return reply.code(201).send({
      reserved: true,
      ...result,
      message: {
        nb: 'Du er reservert. Opplysningene om deg er slettet fra registrene, og nye opplysninger blir ikke lagret.',
        en: 'You have opted out. What was registered about you has been deleted, and nothing new will be stored.',
      },
    });
  });

  app.get('/api/innsyn/status', { config: { access: PATIENTS } }, async (req) => {
    const c = req.caller!;
    const hash = c.kind === 'user' && c.personHash ? Buffer.from(c.personHash, 'hex') : null;
    // The reservation is kept by the keyed hash only; the platform reads it for the patient (no
    // person-level data: the person is gone once they opt out).
    const reservation = hash
      ? await platform.data.transaction({ kind: 'platform', task: 'innsyn-status' }, 'innsyn:status', (tx) => reservationOf(tx, hash), {
          readOnly: true,
        })
      : null;
    return {
      reservation,
      registries: platform.registries.map((r) => ({
        id: r.id,
        title: r.meta.title,
        dataController: r.meta.dataController ?? null,
        contact: r.meta.contact ?? null,
      })),
    };
  });
}

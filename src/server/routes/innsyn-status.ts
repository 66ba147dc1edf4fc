// What a patient needs beside innsyn itself: whether (and when) they opted out — after which
// nothing about them remains to show — and how to reach each registry (to withdraw the reservation,
// have data corrected, or ask about the access log).
import type { FastifyInstance } from 'fastify';
import type { Platform } from '../../platform.ts';
import { reservationOf } from '../../records/reservation-status.ts';
import { PATIENTS } from '../access-policy.ts';

export function innsynStatusRoutes(app: FastifyInstance, platform: Platform): void {
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

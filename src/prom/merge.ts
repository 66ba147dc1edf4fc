// When two persons become one (a temporary number resolved to the real one: records/persons.ts),
// everything PROM knows about the merged-away person becomes the survivor's. Without this the
// merged-away person's row is deleted with its cascades, and with it the patient's answers, the
// questions waiting for them, how to reach them and — worse than lost — their objection to a
// registry, which would then ask and be shared answers it was refused.
import type { Queryable } from '../db/pool.ts';

const OPEN = `('ordered', 'sent', 'reminded')`;

/** Moves person `fromId`'s PROM records to person `intoId`. The caller holds both persons' locks. */
export async function movePromRecords(db: Queryable, fromId: number, intoId: number): Promise<void> {
  // An objection under either number is the person's.
  await db.query(
    `INSERT INTO prom_objection (person_id, registry, at) SELECT $2, registry, at FROM prom_objection WHERE person_id = $1
     ON CONFLICT (person_id, registry) DO NOTHING`,
    [fromId, intoId],
  );
  await db.query('DELETE FROM prom_objection WHERE person_id = $1', [fromId]);
  // Contact details: the survivor's where it has them, the merged-away person's fill the gaps.
  await db.query(
    `INSERT INTO prom_contact (person_id, email_enc, mobile_enc, source, updated_at)
     SELECT $2, email_enc, mobile_enc, source, updated_at FROM prom_contact WHERE person_id = $1
     ON CONFLICT (person_id) DO UPDATE SET email_enc = coalesce(prom_contact.email_enc, EXCLUDED.email_enc),
       mobile_enc = coalesce(prom_contact.mobile_enc, EXCLUDED.mobile_enc)`,
    [fromId, intoId],
  );
  await db.query('DELETE FROM prom_contact WHERE person_id = $1', [fromId]);

  // A patient has at most one open invitation. When both had one, the merged-away person's
  // questions (and unfinished answers) join the survivor's, and theirs is cancelled as merged: its
  // link then opens nothing, and the survivor's invitation asks everything that is due.
  const open = (
    await db.query(`SELECT id, person_id FROM prom_invitation WHERE person_id = ANY($1::bigint[]) AND status IN ${OPEN}`, [
      [fromId, intoId],
    ])
  ).rows;
  const fromOpen = open.find((r) => Number(r.person_id) === fromId);
  const intoOpen = open.find((r) => Number(r.person_id) === intoId);
  if (fromOpen && intoOpen) {
    await db.query(`UPDATE prom_item SET invitation_id = $2, updated_at = now() WHERE invitation_id = $1 AND status = 'invited'`, [
      fromOpen.id,
      intoOpen.id,
    ]);
    await db.query(
      `UPDATE prom_response r SET invitation_id = $2, updated_at = now() WHERE r.invitation_id = $1 AND r.status = 'draft'
         AND NOT EXISTS (SELECT 1 FROM prom_response x WHERE x.invitation_id = $2 AND x.instrument = r.instrument AND x.recall = r.recall)`,
      [fromOpen.id, intoOpen.id],
    );
    await db.query(
      `UPDATE prom_invitation v SET closes_on = greatest(v.closes_on, f.closes_on), updated_at = now()
       FROM prom_invitation f WHERE v.id = $2 AND f.id = $1`,
      [fromOpen.id, intoOpen.id],
    );
    await db.query(`UPDATE prom_invitation SET status = 'cancelled', cancelled_reason = 'merged', updated_at = now() WHERE id = $1`, [
      fromOpen.id,
    ]);
  }
  await db.query('UPDATE prom_invitation SET person_id = $2 WHERE person_id = $1', [fromId, intoId]);
  await db.query('UPDATE prom_response SET person_id = $2 WHERE person_id = $1', [fromId, intoId]);
  await db.query('UPDATE prom_item SET person_id = $2 WHERE person_id = $1', [fromId, intoId]);
  await db.query('UPDATE prom_triage SET person_id = $2 WHERE person_id = $1', [fromId, intoId]);
}

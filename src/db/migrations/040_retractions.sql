-- Retractions (records/retraction.ts): a sender deletes a resource it sent (a conditional DELETE
-- by identifier). Its stored content goes; the row stays with the time of the deletion, so that a
-- resend of the deletion is a no-op and a later message may send the resource again.
ALTER TABLE source_resource ADD COLUMN deleted_at timestamptz;

-- What a registry decided about an anchor now includes 'retracted' (the sender took it back).
DO $$
DECLARE c text;
BEGIN
  SELECT conname INTO c FROM pg_constraint WHERE conrelid = 'routing_decision'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%decision%';
  IF c IS NOT NULL THEN EXECUTE format('ALTER TABLE routing_decision DROP CONSTRAINT %I', c); END IF;
END $$;
ALTER TABLE routing_decision ADD CONSTRAINT routing_decision_decision_check
  CHECK (decision IN ('included', 'referred', 'not-included', 'retracted'));

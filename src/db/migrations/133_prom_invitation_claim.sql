-- A PROM invitation being sent is claimed instead of locked while its channels are tried
-- (prom/sender.ts): a channel may take seconds to fail, and the patient's form and a capture for
-- the same patient need the row meanwhile. A claim names its sender (`claimed_by`, one id per
-- sender run) and lasts until `claimed_until` (the database's clock), renewed before each attempt;
-- no other sender takes the invitation until then, and only the claiming sender records what it
-- did. A sender that dies with a claim leaves the invitation due again when the claim ends.
ALTER TABLE prom_invitation ADD COLUMN claimed_by uuid, ADD COLUMN claimed_until timestamptz;

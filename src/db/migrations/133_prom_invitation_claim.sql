-- A PROM invitation being sent is claimed for a while instead of locked while its channels are
-- tried (prom/sender.ts): a channel may take seconds to fail, and the patient's form and a capture
-- for the same patient need the row meanwhile. Until `claimed_until` no other sender takes it; a
-- sender that dies with a claim leaves it due again when the claim ends.
ALTER TABLE prom_invitation ADD COLUMN claimed_until timestamptz;

-- The keyed hashes of the identity numbers a raw message names, stored when it is received, so
-- that a reservation finds every message about the person — also those never processed (waiting
-- or quarantined), whose bodies are encrypted — by index, without decrypting the inbox.
-- Null for messages received before this column existed: a reservation still searches those by
-- decrypting them.
ALTER TABLE inbox_message ADD COLUMN nin_hashes bytea[];
CREATE INDEX inbox_nin_hashes_idx ON inbox_message USING gin (nin_hashes) WITH (fastupdate = off);

-- What stored indicator results were computed with (the declaration, the analytics columns it reads
-- and the engine): results are moved incrementally with each analytics batch only while this is the
-- running definition's; otherwise they are recomputed in full (src/indicators/incremental.ts).
ALTER TABLE indicator_run ADD COLUMN signature text;

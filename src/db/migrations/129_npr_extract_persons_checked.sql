-- Whether an NPR extract's episodes have had their persons looked up again after its import
-- committed (src/quality/npr.ts, relinkExtract). The import and that look-up are two transactions;
-- a stop between them (a crash, a kill) left the episodes' persons as the import saw them, blind to
-- a person a capture created beside it. Until the look-up has run, the linkage and the "only in
-- NPR" worklist run it first. Extracts imported before this migration were resolved by 126.
ALTER TABLE npr_extract ADD COLUMN persons_checked boolean NOT NULL DEFAULT true;
ALTER TABLE npr_extract ALTER COLUMN persons_checked SET DEFAULT false;

-- A PROM item's person is its case's person (the scheduler and the capture of answers write it
-- from the case; a merge moves cases and items together, src/prom/merge.ts), and the item goes
-- when its case goes (the foreign key to registry_case cascades, and a case goes with its person).
-- The item's own foreign key to person therefore guarded nothing the case's does not, and cost a
-- row lock on the person for every item written: a third of the scheduler's busiest run
-- (docs/performance.md, PROM).
ALTER TABLE prom_item DROP CONSTRAINT prom_item_person_id_fkey;

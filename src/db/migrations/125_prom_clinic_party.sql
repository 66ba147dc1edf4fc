-- The clinic as a party to collect once (seed 004 §1.5: patients get overlapping questionnaires
-- from the clinic and from registries). A schedule declared `party: clinic` in a registry's
-- prom.yaml is the treating unit's own follow-up, for the patient's care: its items share the
-- patient's one invitation with the registries' items, and each instrument is still asked once.
-- What the party may see follows the item: the clinic reads the answers to its own items (a
-- response shared by a clinic and a registry item is both's); a registry's results, analytics rows
-- and research extracts read registry items only, so an instrument only the clinic asked never
-- reaches a registry. Every item so far was a registry's.
ALTER TABLE prom_item ADD COLUMN party text NOT NULL DEFAULT 'registry' CHECK (party IN ('registry', 'clinic'));

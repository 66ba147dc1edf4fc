-- Fewer index entries per captured resource (issue 15: capture near the machine's limit). A
-- fracture stores about eight resources; each paid for three indexes, two of which carry nothing:
--
-- * the GIN index on `links` (several entries per resource, written synchronously: fastupdate off).
--   Links are only ever matched for the persons of the message being captured
--   (kvalreg_capture_read: `person_id = ANY(…) AND links && …`), and a person's few resources are
--   found by source_resource_person_idx; nothing looks a link up across persons.
-- * the surrogate `id` (a sequence draw and a b-tree entry per resource): nothing refers to it;
--   a resource is named by its key, `rkey`, everywhere, which becomes the primary key.
DROP INDEX source_resource_links_idx;
ALTER TABLE source_resource DROP COLUMN id;
ALTER TABLE source_resource DROP CONSTRAINT source_resource_rkey_key, ADD PRIMARY KEY (rkey);

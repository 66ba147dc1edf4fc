-- Foundation schema: organisation units, registry definitions, identities, the durable inbox,
-- captured source resources, cases with forms, value history, routing counts.
-- Person-level tables carry the registry as their first key where they belong to one registry,
-- so they can later be distributed by registry.

CREATE TABLE org_unit (
  resh          text PRIMARY KEY,
  parent_resh   text REFERENCES org_unit (resh),
  level         text NOT NULL CHECK (level IN ('nation', 'region', 'trust', 'hospital', 'department')),
  kind          text,            -- for departments: orthopaedic, emergency_clinic, emergency_department
  short_name    text,
  name_nb       text NOT NULL,
  name_en       text,
  orgnr         text,
  municipality  text,
  population    integer,
  demo_area     boolean NOT NULL DEFAULT false,
  -- resh ids from the nation down to this unit: "unit scope includes sub-units" is a prefix test
  path          text[] NOT NULL
);
CREATE INDEX org_unit_path_idx ON org_unit USING gin (path);

-- Every loaded version of a registry definition; data records the version it was captured under.
CREATE TABLE registry_version (
  registry    text NOT NULL,
  version     text NOT NULL,
  sha256      text NOT NULL,
  definition  jsonb NOT NULL,
  loaded_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (registry, version)
);
CREATE TABLE registry (
  id               text PRIMARY KEY,
  current_version  text NOT NULL,
  FOREIGN KEY (id, current_version) REFERENCES registry_version (registry, version)
);

-- The national identity number never appears in clear text in the database: it is encrypted
-- (AES-256-GCM, key outside the database) and looked up through a keyed hash.
CREATE TABLE person (
  id              bigserial PRIMARY KEY,
  nin_hash        bytea NOT NULL UNIQUE,
  nin_enc         bytea NOT NULL,
  nin_kind        text NOT NULL,
  birth_date      date,
  sex             text CHECK (sex IN ('male', 'female')),
  deceased_date   date,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Patients who have used their right to opt out. Only the keyed hash is kept, so that later
-- messages about them are recognised and refused without keeping who they are.
CREATE TABLE reservation (
  nin_hash     bytea PRIMARY KEY,
  reserved_at  timestamptz NOT NULL DEFAULT now(),
  channel      text NOT NULL
);
-- Refused messages are counted without identity.
CREATE TABLE refused_count (
  day     date NOT NULL,
  sender  text NOT NULL,
  reason  text NOT NULL,
  n       integer NOT NULL,
  PRIMARY KEY (day, sender, reason)
);

-- The durable inbox: every inbound message is stored here (encrypted) before it is processed.
CREATE TABLE inbox_message (
  id            bigserial PRIMARY KEY,
  sender        text NOT NULL,
  channel       text NOT NULL,                 -- fhir, ndjson, csv
  received_at   timestamptz NOT NULL DEFAULT now(),
  body_sha256   bytea NOT NULL,
  body_enc      bytea,                          -- null once pruned or removed for a reservation
  status        text NOT NULL DEFAULT 'received'
                CHECK (status IN ('received', 'processed', 'quarantined', 'refused')),
  attempts      integer NOT NULL DEFAULT 0,
  outcome       jsonb,                          -- per-entry results or the OperationOutcome
  person_ids    bigint[] NOT NULL DEFAULT '{}',
  processed_at  timestamptz,
  pruned_reason text
);
CREATE INDEX inbox_pending_idx ON inbox_message (id) WHERE status = 'received';
CREATE INDEX inbox_quarantine_idx ON inbox_message (id) WHERE status = 'quarantined';
CREATE INDEX inbox_person_idx ON inbox_message USING gin (person_ids) WITH (fastupdate = off);

-- Each captured FHIR resource (except Patient, which becomes `person`), keyed by the sender's
-- business identifier: the key that makes resends idempotent. References to the patient are
-- replaced by the internal person id before the resource is stored.
CREATE TABLE source_resource (
  id             bigserial PRIMARY KEY,
  resource_type  text NOT NULL,
  rkey           text NOT NULL UNIQUE,          -- Type|identifier.system|identifier.value
  person_id      bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
  sender         text NOT NULL,
  message_id     bigint NOT NULL,
  version        integer NOT NULL DEFAULT 1,
  content_sha256 bytea NOT NULL,
  links          text[] NOT NULL DEFAULT '{}',  -- keys of the resources this one refers to
  resource       jsonb NOT NULL,
  updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX source_resource_person_idx ON source_resource (person_id);
-- fastupdate off: every capture looks links up right after inserting them, and a pending list
-- would be scanned on each of those look-ups.
CREATE INDEX source_resource_links_idx ON source_resource USING gin (links) WITH (fastupdate = off);

-- A case is one registry's unit of registration (for fractures: one fracture).
CREATE TABLE registry_case (
  registry          text NOT NULL REFERENCES registry (id),
  id                bigserial NOT NULL,
  person_id         bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
  anchor_key        text NOT NULL,              -- rkey of the resource the case grew from, or manual:<uuid>
  unit_resh         text REFERENCES org_unit (resh),
  registry_version  text NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (registry, id),
  UNIQUE (registry, anchor_key)
);
CREATE INDEX registry_case_person_idx ON registry_case (person_id);
CREATE INDEX registry_case_unit_idx ON registry_case (registry, unit_resh);

-- The values of one form of a case, with provenance per value and the findings that put the
-- case on its unit's worklist (missing required values, rule violations).
CREATE TABLE case_form (
  registry      text NOT NULL,
  case_id       bigint NOT NULL,
  form          text NOT NULL,
  instance      text NOT NULL DEFAULT '',       -- repeating forms: one instance per source resource
  status        text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'finalised', 'reopened')),
  data          jsonb NOT NULL DEFAULT '{}',
  provenance    jsonb NOT NULL DEFAULT '{}',
  missing       text[] NOT NULL DEFAULT '{}',
  findings      jsonb NOT NULL DEFAULT '[]',
  version       integer NOT NULL DEFAULT 1,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (registry, case_id, form, instance),
  FOREIGN KEY (registry, case_id) REFERENCES registry_case (registry, id) ON DELETE CASCADE
);
CREATE INDEX case_form_incomplete_idx ON case_form (registry, case_id)
  WHERE cardinality(missing) > 0 OR jsonb_array_length(findings) > 0;

-- Every change to a form's values or status, with its provenance: the history of each value.
CREATE TABLE value_history (
  registry   text NOT NULL,
  case_id    bigint NOT NULL,
  form       text NOT NULL,
  instance   text NOT NULL,
  version    integer NOT NULL,
  changed_at timestamptz NOT NULL DEFAULT now(),
  changes    jsonb NOT NULL,                    -- {variable: [old, new]} and {"$status": [old, new]}
  source     jsonb NOT NULL,                    -- {kind: system|user, sender|user, message, resource}
  PRIMARY KEY (registry, case_id, form, instance, version),
  FOREIGN KEY (registry, case_id) REFERENCES registry_case (registry, id) ON DELETE CASCADE
);

-- What each registry decided about each anchor it saw: included, referred to another registry
-- (AO 31 → the hip fracture register) or not included. One row per anchor, so a resend or an
-- update never counts twice, and no shared counter row serialises concurrent captures.
CREATE TABLE routing_decision (
  registry    text NOT NULL,
  anchor_key  text NOT NULL,
  person_id   bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
  decision    text NOT NULL CHECK (decision IN ('included', 'referred', 'not-included')),
  target      text NOT NULL DEFAULT '',
  decided_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (registry, anchor_key)
);
CREATE INDEX routing_decision_person_idx ON routing_decision (person_id);

-- Callers of the API until OpenID Connect arrives: hashed bearer tokens bound to a sending
-- system or to a user's grants.
CREATE TABLE api_token (
  token_sha256  bytea PRIMARY KEY,
  name          text NOT NULL,
  kind          text NOT NULL CHECK (kind IN ('system', 'user')),
  sender        text,                            -- for systems: the sender id recorded as provenance
  grants        jsonb NOT NULL DEFAULT '[]',     -- [{registry, role, unit}]
  created_at    timestamptz NOT NULL DEFAULT now()
);

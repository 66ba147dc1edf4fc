-- Requests for research extracts: a researcher asks for the data an approved project needs, and
-- follows the request; the registry decides (approve: the extract is delivered and recorded in
-- extract_delivery; reject: with the reason). No person-level data: the definition only.
CREATE TABLE extract_request (
  id             bigserial PRIMARY KEY,
  registry       text NOT NULL REFERENCES registry (id),
  requested_by   text NOT NULL,                 -- the researcher (caller label)
  requester_name text,
  project        text NOT NULL,
  approval_ref   text NOT NULL,                 -- the ethics committee's or data controller's reference
  purpose        text NOT NULL,
  definition     jsonb NOT NULL,                -- as for a delivery: variables, period, date handling, expiry
  status         text NOT NULL DEFAULT 'submitted' CHECK (status IN ('submitted', 'approved', 'rejected', 'delivered', 'withdrawn')),
  decided_by     text,
  decided_at     timestamptz,
  decision_note  text,
  delivery_id    bigint REFERENCES extract_delivery (id),
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX extract_request_registry_idx ON extract_request (registry, status, id);
CREATE INDEX extract_request_requester_idx ON extract_request (requested_by, id);
GRANT SELECT, INSERT, UPDATE ON extract_request TO kvalreg_app;
GRANT USAGE ON SEQUENCE extract_request_id_seq TO kvalreg_app;

-- Research extracts: each delivery of data to an approved project is recorded with its full
-- definition and a hash of what was delivered, so that it can be reproduced and checked.
CREATE TABLE extract_delivery (
  id            bigserial PRIMARY KEY,
  registry      text NOT NULL REFERENCES registry (id),
  project       text NOT NULL,                 -- the approved project's id
  approval_ref  text NOT NULL,                 -- e.g. the ethics committee's reference
  expires       date NOT NULL,
  definition    jsonb NOT NULL,                -- variables, period, filter, date handling, quasi-identifiers, k
  delivered_by  text NOT NULL,
  delivered_at  timestamptz NOT NULL DEFAULT now(),
  row_count     integer NOT NULL,
  sha256        text NOT NULL,                 -- of the delivered CSV
  k_report      jsonb NOT NULL
);
GRANT SELECT, INSERT ON extract_delivery TO kvalreg_app;
GRANT USAGE ON SEQUENCE extract_delivery_id_seq TO kvalreg_app;

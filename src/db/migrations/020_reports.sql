-- Reports: the population figures incidence is computed against, report subscriptions and
-- dispatches, and the job queue that renders and e-mails them, with its delivery log.

-- Population by year, municipality, age group and sex (Statistics Norway's tables, or the demo's
-- synthetic one), with the health trust whose catchment area the municipality belongs to.
CREATE TABLE population (
  year               integer NOT NULL,
  municipality       text NOT NULL,
  municipality_name  text NOT NULL,
  area_resh          text NOT NULL,
  age_group          text NOT NULL,
  sex                text NOT NULL CHECK (sex IN ('male', 'female')),
  population         integer NOT NULL CHECK (population >= 0),
  PRIMARY KEY (year, municipality, age_group, sex)
);
CREATE INDEX population_area ON population (area_resh, year);

-- A subscription (a user's own: one recipient, owner set) or a dispatch (set up by a registry
-- admin for a unit: a mailing list, owner null). Reports are aggregates: no person-level data.
CREATE TABLE report_subscription (
  id           bigserial PRIMARY KEY,
  registry     text NOT NULL REFERENCES registry (id),
  report       text NOT NULL CHECK (report IN ('unit', 'indicator')),
  unit_resh    text NOT NULL,
  indicator    text,
  frequency    text NOT NULL CHECK (frequency IN ('daily', 'weekly', 'monthly', 'quarterly')),
  lang         text NOT NULL DEFAULT 'nb' CHECK (lang IN ('nb', 'en')),
  recipients   text[] NOT NULL CHECK (cardinality(recipients) BETWEEN 1 AND 200),
  owner        text,
  created_by   text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz,
  next_run_at  timestamptz NOT NULL,
  active       boolean NOT NULL DEFAULT true,
  CHECK (report <> 'indicator' OR indicator IS NOT NULL)
);
CREATE INDEX report_subscription_due ON report_subscription (next_run_at) WHERE active;
CREATE INDEX report_subscription_owner ON report_subscription (owner);

-- Recipients who unsubscribed from a subscription by its link.
CREATE TABLE report_unsubscribed (
  subscription_id  bigint NOT NULL REFERENCES report_subscription (id) ON DELETE CASCADE,
  recipient        text NOT NULL,
  at               timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (subscription_id, recipient)
);

-- The job queue: one job per report to one recipient. Workers claim due jobs with
-- FOR UPDATE SKIP LOCKED, so several processes never send the same job twice; a failed attempt
-- is retried later with exponential backoff until max_attempts.
CREATE TABLE report_job (
  id               bigserial PRIMARY KEY,
  subscription_id  bigint NOT NULL REFERENCES report_subscription (id) ON DELETE CASCADE,
  recipient        text NOT NULL,
  period           text NOT NULL,
  status           text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed', 'cancelled')),
  run_at           timestamptz NOT NULL DEFAULT now(),
  attempts         integer NOT NULL DEFAULT 0,
  max_attempts     integer NOT NULL DEFAULT 5,
  last_error       text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  finished_at      timestamptz,
  UNIQUE (subscription_id, recipient, period)
);
CREATE INDEX report_job_due ON report_job (run_at) WHERE status = 'queued';

-- Every attempt to deliver, successful or not.
CREATE TABLE report_delivery (
  id               bigserial PRIMARY KEY,
  job_id           bigint NOT NULL REFERENCES report_job (id) ON DELETE CASCADE,
  subscription_id  bigint NOT NULL,
  recipient        text NOT NULL,
  attempt          integer NOT NULL,
  at               timestamptz NOT NULL DEFAULT now(),
  outcome          text NOT NULL CHECK (outcome IN ('sent', 'failed')),
  error            text,
  message_id       text,
  bytes            integer
);
CREATE INDEX report_delivery_subscription ON report_delivery (subscription_id, at);

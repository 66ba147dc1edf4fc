-- Background jobs run by one process at a time (src/jobs/leader.ts): the leader of the moment,
-- what each job last did, and a short log of runs. Several platform processes share one database;
-- the one holding the leader's advisory lock runs the jobs and writes these rows, the others read
-- them for /health/ready and /metrics. The platform's own bookkeeping: no person-level data.
CREATE TABLE job_leader (
  singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  holder        text NOT NULL,                 -- host:pid:nonce of the process
  since         timestamptz NOT NULL,
  heartbeat_at  timestamptz NOT NULL
);

CREATE TABLE job_state (
  job               text PRIMARY KEY,
  interval_ms       integer NOT NULL,
  holder            text,                      -- the leader that registered it last
  runs              bigint NOT NULL DEFAULT 0,
  failures          bigint NOT NULL DEFAULT 0,
  last_started_at   timestamptz,
  last_finished_at  timestamptz,
  last_ok_at        timestamptz,
  last_error        text
);

-- Every run, kept for a week: which process ran what, when, and how it ended.
CREATE TABLE job_run (
  id           bigserial PRIMARY KEY,
  job          text NOT NULL,
  holder       text NOT NULL,
  started_at   timestamptz NOT NULL,
  finished_at  timestamptz NOT NULL,
  ok           boolean NOT NULL,
  error        text
);
CREATE INDEX job_run_started_idx ON job_run (started_at);

-- The deceased persons, indexed apart: the PROM scheduler cancels what is open for them at every
-- run. It looked each open item's and invitation's person up by key (65,000 look-ups on a busy day
-- among 1,000,000 cases, about 0.3 s a run); with this index it reads the deceased once and joins
-- (src/prom/scheduler.ts, cancel). Only deaths are in it, so the capture's writes of living persons
-- never touch it.
CREATE INDEX person_deceased ON person (id) WHERE deceased_date IS NOT NULL;

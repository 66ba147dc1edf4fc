-- Disclosure control of indicator results (src/disclosure/): each stored count carries whether it
-- may be shown, decided once per computation over every unit, period and stratum together, so that
-- every view, export and report withholds the same cells. NULL = shown; otherwise why not:
-- 'too-few' (denominator under the minimum), 'small' (numerator under the registry's threshold),
-- 'linked' (withheld so that another withheld count cannot be worked out from shown ones).
ALTER TABLE indicator_result
  ADD COLUMN numerator_withheld text CHECK (numerator_withheld IN ('too-few', 'small', 'linked')),
  ADD COLUMN denominator_withheld text CHECK (denominator_withheld IN ('too-few', 'small', 'linked'));
-- Results stored before this carry no decision: compute them again (readers wait for the first run).
DELETE FROM indicator_result;
DELETE FROM indicator_run;

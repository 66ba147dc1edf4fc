-- Reading results for some units across every period (the indicator page's list of years asks for
-- the nation's results of all years): the primary key puts the period before the unit, so such a
-- read walked every unit's rows of every period and stratum. This index finds a unit's rows directly.
CREATE INDEX indicator_result_by_unit ON indicator_result (registry, unit_resh, dataset, grain, stratifier, indicator, period);

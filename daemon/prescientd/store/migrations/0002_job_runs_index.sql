-- The scheduler reads each job's latest success and its failures since then once at start-up.
-- (job, outcome) orders each job's successes and failures by id (the rowid ends every index), and
-- (job, outcome, local_date) gives the latest successful date, both in O(log n) at any history size.
CREATE INDEX job_runs_by_outcome ON job_runs (job, outcome);
CREATE INDEX job_runs_by_outcome_date ON job_runs (job, outcome, local_date);

-- older builds: run beside
-- Two figures of the monitoring report that the reporting store could not give (report-store.ts):
-- 1. The contact hours: each contact's duration in minutes, as the HIS or the municipality registered it (NULL when
--    it gave none, and for contacts written before this migration: the report counts those apart, "without a
--    duration", and leaves them out of the hours). A column without a default: catalog only.
-- 2. How complete the figures are (registratiegraad): one row per trajectory that was registered but does not
--    count (no consent for purpose monitoring on its day, or an objection or withdrawal took it out). It keeps the
--    trajectory's pseudonymous key (so a trajectory counts once, and leaves this table when it comes to count),
--    municipality, practice and start date, and nothing else: no child pseudonym, no age, no category, so neither
--    the rows nor the figure say which child objected. A new table: nothing waits.
ALTER TABLE report_contact ADD COLUMN IF NOT EXISTS duration_minutes integer;
CREATE TABLE IF NOT EXISTS report_uncounted_trajectory (
  trajectory_key text PRIMARY KEY,        -- the same HMAC as report_trajectory's
  municipality text NOT NULL,             -- CBS code
  practice text NOT NULL,                 -- AGB of the practice
  start_date date NOT NULL
);
CREATE INDEX IF NOT EXISTS report_uncounted_trajectory_start ON report_uncounted_trajectory (municipality, start_date);

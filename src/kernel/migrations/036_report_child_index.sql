-- older builds: run beside
-- An objection or a withdrawal takes every fact of the child at the practice out of the reporting store
-- (monitoring-writer.ts `removeChildFacts`), and every later event of that child looks for facts to remove: found by
-- the child's pseudonym, not by a scan of ten years of figures. Index builds on the two reporting tables: the map
-- stage's writes to them wait while they are built (seconds for a million rows).
CREATE INDEX report_trajectory_child ON report_trajectory (municipality, practice, child_pseudonym);
CREATE INDEX report_referral_child ON report_referral (municipality, practice, child_pseudonym);

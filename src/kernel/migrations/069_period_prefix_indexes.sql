-- older builds: run beside
-- Three reads that went through a whole table, felt by a municipality with years of data:
-- 1. The monitoring report's contact hours (report-store.ts) count the contacts held in the period: read by their
--    date, from the period's first day to its last, where they read every contact of every trajectory the
--    municipality started before the period ended.
-- 2. The trajectories open at some time in the period (active, help questions, interventions, children): those still
--    open through this partial index, those closed since the period began through 005's closed index, where they
--    read every trajectory the municipality started before the period ended.
-- 3. A case worker's search of the received referrals by the practice's referral number or its beginning, in any
--    case (received-referrals.ts, `starts_with(lower(value), lower($n))`): a range of this index whatever the
--    database's collation (text_pattern_ops), where it read every referral number.
-- Building each reads its table once; writes to that table wait meanwhile (one to two seconds per million rows:
-- the map stage's writes of contacts and trajectories, the receipt of referrals). Not CONCURRENTLY: the migrations
-- of a start-up run in one transaction, where that is not allowed.
CREATE INDEX IF NOT EXISTS report_contact_on ON report_contact (contact_on);
CREATE INDEX IF NOT EXISTS report_trajectory_open ON report_trajectory (municipality, start_date)
  WHERE closed_on IS NULL;
CREATE INDEX IF NOT EXISTS referral_identifier_value_prefix ON referral_identifier (lower(value) text_pattern_ops);

-- older builds: run beside
-- Two reads a HIS makes of the statuses on its referrals (/fhir/Task):
-- 1. By the focus it was sent back: a fhir-bundle HIS addresses its referral by the identifier it gave its
--    ServiceRequest, which is now also forwarded to the municipality beside `urn:agb:<agb>:referral|<id>`. The first
--    such identifier of a referral event is kept here (null for other dialects and for events stored before this
--    migration, which are found by the referral id as before), and found by its value with this partial index.
-- 2. By when a status was stored (`_lastUpdated`) for the practice's own referrals, a HIS catching up after a missed
--    push: the statuses of one practice in (time stored, id) order, a range of this index.
-- The new columns are catalog only. Building the indexes reads `referral_identifier` and `feedback` once; the receipt
-- of referrals and the storing of statuses wait meanwhile (one to two seconds per million rows). Not CONCURRENTLY: the
-- migrations of a start-up run in one transaction, where that is not allowed.
ALTER TABLE referral_identifier ADD COLUMN IF NOT EXISTS his_system text, ADD COLUMN IF NOT EXISTS his_value text;
CREATE INDEX IF NOT EXISTS referral_identifier_his ON referral_identifier (his_value, his_system)
  WHERE his_value IS NOT NULL;
CREATE INDEX IF NOT EXISTS feedback_tenant_created ON feedback (tenant, created_at, id);

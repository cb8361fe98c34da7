-- older builds: run beside
-- How a municipality addresses a referral: the business identifier of the ServiceRequest it received (the HIS's own
-- referral id, `urn:agb:<agb>:referral|<id>`), written at receipt. Several events can carry the same referral (a
-- correction sent under a new event id); the status routes use the newest one delivered.
CREATE TABLE referral_identifier (
  inbox_id uuid PRIMARY KEY REFERENCES inbox (id),
  tenant text NOT NULL,
  system text NOT NULL,
  value text NOT NULL
);
CREATE INDEX referral_identifier_value ON referral_identifier (value, system);

-- The day a status took effect (decision date, start or end of care; else the day it was received), for the
-- timeline and waiting times. Text in ISO form (YYYY-MM-DD) rather than `date`, so both drivers return it as written.
ALTER TABLE feedback ADD COLUMN status_date text CHECK (status_date ~ '^\d{4}-\d{2}-\d{2}$');

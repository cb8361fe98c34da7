-- older builds: run beside
-- The reporting store behind the municipality's monitoring report. It holds no identity: no BSN, name, free text,
-- ICPC code or source id. Children and records are keyed by an HMAC under a key per municipality that is kept
-- outside the database (REPORT_PSEUDONYM_KEY or DATA_DIR/report-key), so the rows cannot be linked back to a
-- child, nor across municipalities. Rows outlive the inbox payload (REPORT_RETENTION_DAYS).

-- One row per trajectory (EpisodeOfCare), with the aggregates of its contacts kept up to date.
CREATE TABLE report_trajectory (
  trajectory_key text PRIMARY KEY,        -- HMAC of practice + the HIS's trajectory id
  municipality text NOT NULL,             -- CBS code
  practice text NOT NULL,                 -- AGB of the practice (an organisation, not a person)
  child_pseudonym text NOT NULL,          -- HMAC of the BSN under the municipality's key
  age_band text NOT NULL,                 -- on the trajectory's start date: 0-3 | 4-11 | 12-15 | 16-17 | 18+
  start_date date NOT NULL,
  closed_on date,
  outcome text,                           -- trajectory-outcome code
  referrer_type text,                     -- COD327
  referrer_subtype text,                  -- referrer-subtype code
  help_questions text[] NOT NULL DEFAULT '{}',
  interventions text[] NOT NULL DEFAULT '{}',
  contact_count integer NOT NULL DEFAULT 0,
  first_contact_on date,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX report_trajectory_start ON report_trajectory (municipality, start_date);
CREATE INDEX report_trajectory_closed ON report_trajectory (municipality, closed_on) WHERE closed_on IS NOT NULL;

-- One row per contact, so a contact mapped twice (retry, replay) counts once.
CREATE TABLE report_contact (
  contact_key text PRIMARY KEY,           -- HMAC of practice + the HIS's contact id
  trajectory_key text NOT NULL,
  contact_on date NOT NULL,
  age_band text NOT NULL,                 -- on the contact date
  interventions text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX report_contact_trajectory ON report_contact (trajectory_key);

-- One row per referral (opschaling): where escalated children went, and the dates for waiting times.
CREATE TABLE report_referral (
  referral_key text PRIMARY KEY,          -- HMAC of practice + the HIS's referral id
  municipality text NOT NULL,
  practice text NOT NULL,
  child_pseudonym text NOT NULL,
  target text,                            -- referral-target code
  product_category text,                  -- JZ020
  referrer_type text,                     -- COD327
  status text NOT NULL,                   -- active | revoked
  referred_on date NOT NULL,
  care_start_on date,                     -- from the municipality's status feedback, once it carries it
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX report_referral_date ON report_referral (municipality, referred_on);

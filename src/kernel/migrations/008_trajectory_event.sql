-- older builds: run beside
-- Trajectory events a municipality registered in its own system (the agreement names it the system of record),
-- on their way to the practice's HIS. The event as received is personal data: encrypted, like the inbox. The
-- delivery columns are those of `feedback`, so retries, dead letters and replay work the same way.
CREATE TABLE trajectory_event (
  id uuid PRIMARY KEY,
  tenant text NOT NULL,                 -- the practice (AGB) whose HIS receives it
  municipality text NOT NULL,           -- the municipality that sent it
  source_event_id text NOT NULL,        -- the municipality's own id of the event: a repeat is the same event
  event_type text NOT NULL,             -- intake | contact | referral | closure
  payload bytea,                        -- the event as received, encrypted (NULL once retention removed it)
  payload_key_id text,
  submitted_by text NOT NULL,           -- principal id (never a person's name)
  decision text NOT NULL,               -- permit | deny
  decision_reason text NOT NULL,        -- the policy engine's reason codes
  agreement_id text,
  agreement_version integer,
  idempotency_key text NOT NULL UNIQUE, -- towards the practice
  state text NOT NULL,                  -- denied | pending | delivered | dead
  round integer NOT NULL DEFAULT 0,
  attempts integer NOT NULL DEFAULT 0,
  last_status integer,
  last_error text,
  response_body text,
  trace_id text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  delivered_at timestamptz,
  UNIQUE (municipality, source_event_id)
);
CREATE INDEX trajectory_event_open ON trajectory_event (state, updated_at) WHERE state IN ('pending', 'dead');

-- older builds: run beside
-- Health of each destination: consecutive failed attempts, and whether (and by whom) it is paused. PostgreSQL holds
-- this, not Redis: a pause must survive Redis losing its data, and every worker process must see the same count.
CREATE TABLE destination_state (
  destination text PRIMARY KEY,
  consecutive_failures integer NOT NULL DEFAULT 0,
  paused_by text,                       -- NULL (running) | 'auto' (after N failures; a probe resumes it) | 'operator'
  paused_at timestamptz,
  pause_reason text,
  last_failure_at timestamptz,
  last_error text,
  last_probe_at timestamptz,
  last_probe_result text,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Status updates of municipalities on delivered referrals, and their delivery back to the practice's HIS.
CREATE TABLE feedback (
  id uuid PRIMARY KEY,                  -- also the FHIR Task's id and identifier
  inbox_id uuid NOT NULL REFERENCES inbox (id),
  tenant text NOT NULL,                 -- the practice (AGB) the status goes back to
  municipality text NOT NULL,           -- the municipality that sent it
  status text NOT NULL,                 -- accepted | rejected | allocated | closed
  service_request_status text NOT NULL, -- active | revoked | completed
  task jsonb NOT NULL,                  -- the FHIR Task as built (and validated) when it was received
  request_key text,                     -- the municipality's own Idempotency-Key header, when it sent one
  submitted_by text NOT NULL,           -- principal id (never a person's name)
  idempotency_key text NOT NULL UNIQUE, -- towards the practice
  state text NOT NULL,                  -- pending | delivered | dead
  round integer NOT NULL DEFAULT 0,     -- raised by each replay, so the replayed job gets a fresh job id
  attempts integer NOT NULL DEFAULT 0,
  last_status integer,
  last_error text,
  response_body text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  delivered_at timestamptz,
  UNIQUE (inbox_id, request_key)
);
CREATE INDEX feedback_inbox ON feedback (inbox_id, created_at);
CREATE INDEX feedback_open ON feedback (state, updated_at) WHERE state <> 'delivered';

-- older builds: run beside
-- Inbox: every accepted HIS event, its state, and (encrypted) its original record.
CREATE TABLE inbox (
  id uuid PRIMARY KEY,
  tenant text NOT NULL,                 -- the sending practice (AGB), the unit of isolation and audit chains
  source_event_id text NOT NULL,        -- the HIS's own event id; (tenant, source_event_id) is idempotent
  dialect text NOT NULL,
  event_type text NOT NULL,
  municipality text,                    -- CBS code of the responsible municipality (GM0226)
  state text NOT NULL,
  state_reason text,
  payload bytea,                        -- AES-256-GCM ciphertext of the record; purged after retention
  payload_key_id text,
  trace_id text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant, source_event_id)
);
CREATE INDEX inbox_open ON inbox (state, updated_at)
  WHERE state NOT IN ('delivered', 'denied', 'failed', 'dead');

CREATE TABLE inbox_history (
  id bigserial PRIMARY KEY,
  inbox_id uuid NOT NULL REFERENCES inbox (id),
  state text NOT NULL,
  reason text,
  at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX inbox_history_inbox ON inbox_history (inbox_id, id);

-- One row per (event, destination): the unit of delivery, retry, dead letter and replay.
CREATE TABLE delivery (
  id uuid PRIMARY KEY,
  inbox_id uuid NOT NULL REFERENCES inbox (id),
  destination text NOT NULL,
  idempotency_key text NOT NULL UNIQUE,
  state text NOT NULL,                  -- pending | delivered | dead | cancelled
  round integer NOT NULL DEFAULT 0,     -- raised by each replay, so the replayed job gets a fresh job id
  attempts integer NOT NULL DEFAULT 0,
  last_status integer,
  last_error text,
  response_body text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  delivered_at timestamptz,
  UNIQUE (inbox_id, destination)
);
CREATE INDEX delivery_dead ON delivery (destination, updated_at) WHERE state = 'dead';

-- Consent registry: every Consent from any dialect, written before the HTTP answer.
CREATE TABLE consent (
  id text PRIMARY KEY,                  -- deterministic FHIR id, so a re-sent consent updates in place
  tenant text NOT NULL,
  patient_bsn text NOT NULL,
  status text NOT NULL,
  date_time timestamptz,
  resource jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consent_patient ON consent (patient_bsn);

-- Audit: FHIR AuditEvents, one hash chain per tenant. Append-only: see the trigger below.
CREATE TABLE audit_event (
  tenant text NOT NULL,
  seq bigint NOT NULL,
  id uuid NOT NULL UNIQUE,
  recorded timestamptz NOT NULL,
  type text NOT NULL,
  subtype text,
  action text,
  outcome text NOT NULL,
  patient_bsn text,
  agents text[] NOT NULL DEFAULT '{}',
  entities text[] NOT NULL DEFAULT '{}',
  resource jsonb NOT NULL,
  prev_hash text NOT NULL,
  hash text NOT NULL,
  PRIMARY KEY (tenant, seq)
);
CREATE INDEX audit_event_patient ON audit_event (patient_bsn, recorded);
CREATE INDEX audit_event_recorded ON audit_event (recorded);

CREATE TABLE audit_chain_head (
  tenant text PRIMARY KEY,
  seq bigint NOT NULL,
  hash text NOT NULL
);

CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP;
END
$$;
CREATE TRIGGER audit_event_no_update BEFORE UPDATE OR DELETE ON audit_event
  FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
  FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only();

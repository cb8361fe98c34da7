-- older builds: stop
-- Audit trail: search indexes, retention checkpoints, and a delete that only the retention purge may perform.

-- Search (GET /fhir/AuditEvent) orders by (recorded, tenant, seq) and filters on agents and entities by containment.
DROP INDEX IF EXISTS audit_event_recorded;
CREATE INDEX audit_event_recorded ON audit_event (recorded, tenant, seq);
CREATE INDEX audit_event_tenant_recorded ON audit_event (tenant, recorded);
CREATE INDEX audit_event_agents ON audit_event USING gin (agents);
CREATE INDEX audit_event_entities ON audit_event USING gin (entities);
CREATE INDEX audit_event_type ON audit_event (type, subtype, recorded);

-- Where a chain continues after a retention purge: the seq and hash of the last purged row. Verification starts
-- from the latest checkpoint of a tenant instead of the genesis. Append-only, like the log itself.
CREATE TABLE audit_checkpoint (
  tenant text NOT NULL,
  seq bigint NOT NULL,
  hash text NOT NULL,
  purged_at timestamptz NOT NULL DEFAULT now(),
  purged_rows bigint NOT NULL,
  PRIMARY KEY (tenant, seq)
);

-- UPDATE and TRUNCATE stay refused always. DELETE is refused unless the transaction declared itself the retention
-- purge (SET LOCAL jeugdbrug.audit_purge = 'on') and the row lies at or before a checkpoint already recorded for its
-- chain: a purge cannot remove a row that verification would still start before.
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE'
     AND current_setting('jeugdbrug.audit_purge', true) = 'on'
     AND EXISTS (SELECT 1 FROM audit_checkpoint c WHERE c.tenant = OLD.tenant AND c.seq >= OLD.seq) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP;
END
$$;

CREATE FUNCTION audit_checkpoint_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_checkpoint is append-only: % refused', TG_OP;
END
$$;
CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE OR DELETE ON audit_checkpoint
  FOR EACH ROW EXECUTE FUNCTION audit_checkpoint_append_only();
CREATE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON audit_checkpoint
  FOR EACH STATEMENT EXECUTE FUNCTION audit_checkpoint_append_only();

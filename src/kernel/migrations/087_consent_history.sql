-- older builds: run beside
-- Every version of a stored consent is kept, so a decision or disclosure that cites `Consent/<id>/_history/<v>` can
-- be shown with the consent text it read after the consent was withdrawn or refused under the same id (FHIR vread and
-- history of /fhir/Consent). `consent.version_id` counts the versions of one consent (1, 2, ...: its FHIR
-- `meta.versionId`); `consent.version` (migration 014) stays the cache key, new on every write.
--
-- The database keeps the history itself, by triggers, as 014 gives versions: an older process that still writes
-- consents (`ON CONFLICT (id) DO UPDATE`) keeps the history all the same, and no writer can forget it. A write that
-- changes nothing of the consent (an HIS re-sending it as it is) is no new version and keeps `updated_at`.
-- `consent_history` is append-only: a version an audit row cites is kept as long as the consent registry is, which
-- nothing purges (docs/audit.md "Consent versions").
--
-- Locks: the new column is catalog only, but its ALTER TABLE holds `consent` exclusively until the start-up's
-- migrations commit, and they copy each consent as its version 1 (what it reads now: earlier versions were
-- overwritten before this migration): reads and writes of consents (receipt of consent events, every decision) wait
-- for the copy, about two seconds per 100,000 consents (4.3 s for 200,000 of 0.7 kB on a loaded 2-core machine).
CREATE TABLE consent_history (
  id text NOT NULL,
  version_id int NOT NULL,
  tenant text NOT NULL,
  patient_bsn text NOT NULL,
  status text NOT NULL,
  date_time timestamptz,
  resource jsonb NOT NULL,
  recorded_at timestamptz NOT NULL,
  PRIMARY KEY (id, version_id)
);

ALTER TABLE consent ADD COLUMN version_id int NOT NULL DEFAULT 1;

-- Qualified by the table's schema, as 014's sequence: the session's search_path does not decide which table is used.
CREATE FUNCTION consent_next_version_id() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  last int;
BEGIN
  IF TG_OP = 'INSERT' THEN
    -- A consent deleted and stored again under its id continues its history rather than clash with it.
    EXECUTE format('SELECT max(version_id) FROM %I.consent_history WHERE id = $1', TG_TABLE_SCHEMA)
      INTO last USING NEW.id;
    NEW.version_id := COALESCE(last, 0) + 1;
    NEW.updated_at := now();
  ELSIF NEW.resource IS DISTINCT FROM OLD.resource OR NEW.status IS DISTINCT FROM OLD.status
      OR NEW.date_time IS DISTINCT FROM OLD.date_time THEN
    NEW.version_id := OLD.version_id + 1;
    NEW.updated_at := now();
  ELSE
    NEW.version_id := OLD.version_id;
    NEW.updated_at := OLD.updated_at;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER consent_version_id BEFORE INSERT OR UPDATE ON consent
  FOR EACH ROW EXECUTE FUNCTION consent_next_version_id();

CREATE FUNCTION consent_keep_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format(
    'INSERT INTO %I.consent_history (id, version_id, tenant, patient_bsn, status, date_time, resource, recorded_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)', TG_TABLE_SCHEMA)
    USING NEW.id, NEW.version_id, NEW.tenant, NEW.patient_bsn, NEW.status, NEW.date_time, NEW.resource, NEW.updated_at;
  RETURN NULL;
END $$;
CREATE TRIGGER consent_keep_new AFTER INSERT ON consent
  FOR EACH ROW EXECUTE FUNCTION consent_keep_version();
CREATE TRIGGER consent_keep_changed AFTER UPDATE ON consent
  FOR EACH ROW WHEN (NEW.version_id IS DISTINCT FROM OLD.version_id) EXECUTE FUNCTION consent_keep_version();

CREATE FUNCTION consent_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'consent_history is append-only (audit rows cite its versions): % refused', TG_OP;
END $$;
CREATE TRIGGER consent_history_no_change BEFORE UPDATE OR DELETE ON consent_history
  FOR EACH ROW EXECUTE FUNCTION consent_history_append_only();
CREATE TRIGGER consent_history_no_truncate BEFORE TRUNCATE ON consent_history
  FOR EACH STATEMENT EXECUTE FUNCTION consent_history_append_only();

-- What the registry holds now, as each consent's version 1.
INSERT INTO consent_history (id, version_id, tenant, patient_bsn, status, date_time, resource, recorded_at)
  SELECT id, 1, tenant, patient_bsn, status, date_time, resource, updated_at FROM consent;

-- older builds: run beside
-- Migration 087 numbered a stored consent's versions by reading the highest version kept (`max(version_id)` over
-- `consent_history`, a dynamic statement planned on every call) before each insert, and an upsert is an insert first:
-- every write to the consent registry, a changed consent and one re-sent as it is alike, read the history. Now a
-- version comes from the row written: an update's from the row it replaces, an insert's 1, or, for a consent deleted
-- and stored again under its id, one more than the version its deletion kept in `consent_retired` (a row per consent
-- ever deleted: almost always empty, read by its key). A write to the registry writes the history, never reads it.
--
-- The triggers stay where 087 put them, on every writer: an older build's writes (`ON CONFLICT (id) DO UPDATE`, no
-- `version_id`) are versioned all the same. The functions name their tables unqualified and take the search_path of
-- this migration (`SET search_path FROM CURRENT`), the schema of the tables they were created beside, so their
-- statements are planned once per connection and the session's search_path still does not decide which table is used.
--
-- Locks: the triggers' CREATE holds `consent` against writes until the start-up's migrations commit, and the consents
-- deleted under 087 are found in one pass over `consent_history` (0.12 s for 200,000 versions of 100,000 consents):
-- the receipt of consent events waits that long. Reads (every decision) go on.
-- The event that wrote each version (049's `consent.inbox_id`), from now on: a withdrawal notice cites the version
-- its consent event wrote (`Consent/<id>/_history/<v>`) as its reason. Catalog only; versions kept before have none.
ALTER TABLE consent_history ADD COLUMN inbox_id uuid;

CREATE TABLE consent_retired (
  id text PRIMARY KEY,
  -- The version the consent had when it was last deleted: its next insert continues from it.
  version_id int NOT NULL
);

CREATE OR REPLACE FUNCTION consent_next_version_id() RETURNS trigger LANGUAGE plpgsql
  SET search_path FROM CURRENT AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    NEW.version_id := COALESCE((SELECT r.version_id FROM consent_retired r WHERE r.id = NEW.id), 0) + 1;
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

CREATE OR REPLACE FUNCTION consent_keep_version() RETURNS trigger LANGUAGE plpgsql
  SET search_path FROM CURRENT AS $$
BEGIN
  INSERT INTO consent_history
      (id, version_id, tenant, patient_bsn, status, date_time, resource, recorded_at, inbox_id)
    VALUES (NEW.id, NEW.version_id, NEW.tenant, NEW.patient_bsn, NEW.status, NEW.date_time, NEW.resource,
      NEW.updated_at, NEW.inbox_id);
  RETURN NULL;
END $$;

-- A deleted consent's version, for its next insert. A TRUNCATE deletes without row triggers: its rows are kept first.
CREATE FUNCTION consent_retire() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    INSERT INTO consent_retired (id, version_id) SELECT id, version_id FROM consent
      ON CONFLICT (id) DO UPDATE SET version_id = GREATEST(consent_retired.version_id, EXCLUDED.version_id);
  ELSE
    INSERT INTO consent_retired (id, version_id) VALUES (OLD.id, OLD.version_id)
      ON CONFLICT (id) DO UPDATE SET version_id = GREATEST(consent_retired.version_id, EXCLUDED.version_id);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER consent_retire_deleted AFTER DELETE ON consent
  FOR EACH ROW EXECUTE FUNCTION consent_retire();
CREATE TRIGGER consent_retire_truncated BEFORE TRUNCATE ON consent
  FOR EACH STATEMENT EXECUTE FUNCTION consent_retire();

-- The consents deleted while 087's triggers numbered the versions: kept in the history, gone from the registry.
INSERT INTO consent_retired (id, version_id)
  SELECT h.id, max(h.version_id) FROM consent_history h
  WHERE NOT EXISTS (SELECT 1 FROM consent c WHERE c.id = h.id)
  GROUP BY h.id;

-- older builds: run beside
-- A version for each stored consent, new on every write: the pipeline's cache of compiled consents
-- (src/policy/consent-cache.ts) holds a compiled consent for exactly the version it was compiled from. Drawn from one
-- sequence, so a version is never given twice, also not to a consent deleted and stored again under the same id, and
-- set by the database itself on every insert and update, so no writer can forget it.
CREATE SEQUENCE consent_version_seq;
ALTER TABLE consent ADD COLUMN version bigint NOT NULL DEFAULT nextval('consent_version_seq');

CREATE FUNCTION consent_new_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Qualified by the table's schema: the session's search_path at the time of the write does not decide which
  -- sequence is used.
  NEW.version := nextval(format('%I.consent_version_seq', TG_TABLE_SCHEMA)::regclass);
  RETURN NEW;
END $$;
CREATE TRIGGER consent_version BEFORE UPDATE ON consent
  FOR EACH ROW EXECUTE FUNCTION consent_new_version();

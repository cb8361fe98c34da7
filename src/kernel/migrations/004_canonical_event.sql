-- older builds: run beside
-- The event is mapped once, at receipt: the canonical event (FHIR resources with deterministic ids) is stored
-- encrypted beside the HIS record, and every later stage reads it instead of mapping the record again. Retention
-- clears both. Rows received before this migration have no canonical event; the stages map their record instead.
ALTER TABLE inbox ADD COLUMN canonical bytea;
ALTER TABLE inbox ADD COLUMN canonical_key_id text;

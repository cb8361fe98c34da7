-- older builds: stop
-- Audit rows store the exact canonical text (RFC 8785) that was hashed, as `json` rather than `jsonb`: `json` keeps the
-- input bytes as they are, so verification hashes the stored text directly instead of parsing and re-canonicalising
-- it, and the writer skips jsonb's conversion. Rows written before this migration hold jsonb's own rendering; the
-- verifier re-canonicalises a row whose text does not hash right before calling it broken (src/audit/verify.ts).
-- Search operators that need jsonb (containment on type/subtype) cast the column where they use it.
ALTER TABLE audit_event ALTER COLUMN resource TYPE json USING resource::json;

-- A row's canonical text is about 2.5 kB, over the TOAST threshold, so every row is compressed on insert: lz4 costs a
-- fraction of the default pglz's CPU. Builds without lz4 (embedded PGlite) keep the default.
DO $$
BEGIN
  ALTER TABLE audit_event ALTER COLUMN resource SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
  NULL;
END
$$;

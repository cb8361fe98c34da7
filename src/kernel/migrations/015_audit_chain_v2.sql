-- older builds: run beside
-- Chain format 2: a row's hash also covers its search columns (src/audit/chain-columns.ts, docs/audit.md), so
-- PostgreSQL can check a range's content, columns and links itself with one sha256 per row, and verification no longer
-- reads every row's text into the application to compare its columns with it.
--
-- Rows written before this migration are format 1 (their hash covers the AuditEvent only), and so is any row written
-- without naming its format: a process still running the code before this migration during an upgrade keeps writing
-- format 1 rows that verify as such. The format is not itself protected, and needs not be: the two formats hash
-- different texts (a format 2 row's hashed text has a third line break, which canonical JSON never holds), so a format
-- 2 row marked 1 no longer hashes to its hash under format 1, and the other way round. Marking rows 1 only sends them
-- to the slower check in the application, which also compares every search column with the AuditEvent.
ALTER TABLE audit_event ADD COLUMN chain_format smallint NOT NULL DEFAULT 1;

-- Verification checks a chain up to its last format 1 row in the application and the rest in PostgreSQL; this finds
-- that row with one index look-up. New rows (format 2) do not enter it.
CREATE INDEX audit_event_chain_format_1 ON audit_event (tenant, seq) WHERE chain_format = 1;

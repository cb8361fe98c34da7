-- older builds: run beside
-- The digest of the status update a municipality sent (SHA-256 of the parsed update's canonical JSON), so that its
-- Idempotency-Key sent again with another update is refused (422) instead of answered with the first update while
-- the new one is dropped. NULL for updates stored before this column: a repeated key then counts as a repeat.
ALTER TABLE feedback ADD COLUMN request_digest text;

-- older builds: run beside
-- The digest of what was received under an event id (SHA-256 of the record's canonical JSON): a second message with
-- the same id and other content is refused with 409 instead of being taken for a re-send. Cleared with the payload
-- by retention, after which a re-sent id counts as a duplicate again. NULL for rows received before this column.
ALTER TABLE inbox ADD COLUMN content_digest text;
ALTER TABLE trajectory_event ADD COLUMN content_digest text;

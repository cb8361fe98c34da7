-- older builds: run beside
-- A municipality's free-text reason on a status update (`reason`, Task.statusReason.text, up to 2,000 characters)
-- was kept in plain text inside feedback.task and never purged, although it is where a municipality writes social or
-- clinical context, or the child's name. From now on it is kept encrypted with the inbox payload's cipher
-- (reason_sealed under reason_key_id; the Task keeps the reason's code), put back into the Task where it is shown or
-- delivered, and removed INBOX_PAYLOAD_RETENTION_DAYS after the update's delivery ended (clearFinishedFeedbackAnswers).
--
-- Catalog change only: SQL cannot use the application's key, so the texts stored before are sealed by the
-- application (sealPlainFeedbackReasons, at start-up and in each reconciler round), found by the partial index
-- below; it holds only the rows with a plain text, so once they are sealed each round is one probe of an empty
-- index. Building it reads the status updates once, holding writes to them meanwhile (one row per status a
-- municipality sent: far smaller than the deliveries). The plain texts' bytes stay in the data files until the rows
-- are written again or the table is rewritten: `VACUUM FULL feedback` in a maintenance window removes them from disk.
ALTER TABLE feedback ADD COLUMN reason_sealed bytea, ADD COLUMN reason_key_id text;
CREATE INDEX feedback_reason_plain ON feedback (id) WHERE task -> 'statusReason' ? 'text';
-- Retention finds the sealed texts past their time by this index, as it finds the answers by feedback_answer.
CREATE INDEX feedback_reason_sealed ON feedback (updated_at) WHERE reason_sealed IS NOT NULL;

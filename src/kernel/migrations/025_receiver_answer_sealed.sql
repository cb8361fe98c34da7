-- older builds: stop
-- A receiver's answer was kept in plain text (response_body, up to 4,000 characters), shown in full to operators and
-- never purged, while answers as often as not hold personal data: an error page that echoes the request carries the
-- child's and the guardians' BSNs. From now on it is kept encrypted with the inbox payload's cipher (response_sealed
-- under response_key_id), removed with the payload at retention, and operators see only response_summary: content
-- type, size, and an OperationOutcome's issue codes (src/event/receiver-answer.ts).
--
-- Safe on a large table: nothing here rewrites or scans delivery or trajectory_event. Adding a nullable column
-- without a default, changing a column's storage and dropping a column change only the catalog; each takes the
-- table's exclusive lock for that moment (it waits for queries running on the table, and queries arriving meanwhile
-- wait behind it). The plain bodies are dropped, not encrypted: SQL cannot use the application's key, and an UPDATE
-- of every row would rewrite the table (all delivered deliveries have an answer), holding each row until the
-- migration commits. Dropping makes them unreadable at once; their bytes stay in the data files until a row is next
-- written or the table is rewritten, so `VACUUM FULL delivery, feedback, trajectory_event` (or pg_repack) in a
-- maintenance window removes them from disk (and backups taken before hold them until they expire). Rows answered
-- before this migration have no summary: their last status and error stay.
ALTER TABLE delivery ADD COLUMN response_summary jsonb, ADD COLUMN response_sealed bytea,
  ADD COLUMN response_key_id text;
ALTER TABLE delivery ALTER COLUMN response_sealed SET STORAGE EXTERNAL;
ALTER TABLE delivery DROP COLUMN response_body;

ALTER TABLE trajectory_event ADD COLUMN response_summary jsonb, ADD COLUMN response_sealed bytea,
  ADD COLUMN response_key_id text;
ALTER TABLE trajectory_event ALTER COLUMN response_sealed SET STORAGE EXTERNAL;
ALTER TABLE trajectory_event DROP COLUMN response_body;

ALTER TABLE feedback ADD COLUMN response_summary jsonb, ADD COLUMN response_sealed bytea,
  ADD COLUMN response_key_id text;
ALTER TABLE feedback ALTER COLUMN response_sealed SET STORAGE EXTERNAL;
ALTER TABLE feedback DROP COLUMN response_body;
-- A status update has no payload whose purge could take its answer along: the retention purge finds answers past
-- their time by this index (clearFinishedFeedbackAnswers), which holds only the rows with an answer kept. Built on a
-- column that is empty here, it still reads the status updates once, holding writes to them meanwhile (a table far
-- smaller than the deliveries: one row per status a municipality sent).
CREATE INDEX feedback_answer ON feedback (updated_at) WHERE response_sealed IS NOT NULL;

-- older builds: run beside
-- The order in which jeugdbrug received events, where `received_at` cannot tell it: the events of one request (an
-- array, a CSV file), and of requests stored together, are inserted by one statement and share its `now()`. A
-- referral and its cancellation sent in one array were then neither before nor after each other, and the
-- cancellation did not count (report-xpolicy H1). `received_seq` is taken from a sequence as each row is inserted,
-- in the order of the request (the insert's `ORDER BY`); events are ordered by (`received_at`, `received_seq`).
-- The rows from before keep 0: among themselves they compare by `received_at` alone, as before. A column with a
-- constant default, then a new default: catalog only, nothing is rewritten. A process of the release before that
-- inserts without naming the column gets the sequence's value too.
CREATE SEQUENCE IF NOT EXISTS inbox_received_seq AS bigint;
ALTER TABLE inbox ADD COLUMN IF NOT EXISTS received_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE inbox ALTER COLUMN received_seq SET DEFAULT nextval('inbox_received_seq');
ALTER SEQUENCE inbox_received_seq OWNED BY inbox.received_seq;

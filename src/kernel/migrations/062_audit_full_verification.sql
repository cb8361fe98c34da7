-- older builds: run beside
-- The last whole verification of each audit chain, made on schedule by a worker (AUDIT_FULL_VERIFY_INTERVAL_MS): when
-- it ended and what it found, so that every process reports it alike (/metrics, the console's chain check) whichever
-- worker made it. `claimed_until` is a worker's claim on the chain's next one: another worker leaves the chain alone
-- until then, and a worker that stopped half way leaves a claim that simply runs out. No personal data: tenants are
-- AGB codes and destination ids, and the problem names a row and a column, never a value.
CREATE TABLE IF NOT EXISTS audit_full_verification (
  tenant text PRIMARY KEY,
  claimed_until timestamptz,
  verified_at timestamptz,
  ok boolean,
  rows_checked bigint,
  broken_at_seq bigint,
  problem text
);

-- older builds: run beside
-- What each retention run did, kept for the auditor (the console's "Keten controleren" page), where before it was only a
-- log line: when it ran, what kind of thing it removed (`content`: the content of finished events, per practice;
-- `audit`: audit rows older than the audit retention, per chain), how many rows of each, which chains it left alone
-- and why, and its outcome. And why an auditor acknowledged a chain's break (`reason`, free text the console asks
-- for), kept with the acknowledgement and in the integrity history. An older build neither reads nor writes them: its
-- retention runs are logged only, as before, and its acknowledgements carry no reason. No personal data: tenants are
-- AGB codes and chain names, the counts are counts, and the console asks that a reason names no child.
CREATE TABLE IF NOT EXISTS retention_run (
  id bigserial PRIMARY KEY,
  started_at timestamptz NOT NULL,
  finished_at timestamptz NOT NULL DEFAULT now(),
  outcome text NOT NULL,
  removed jsonb NOT NULL DEFAULT '[]',
  skipped jsonb NOT NULL DEFAULT '[]',
  terms jsonb NOT NULL,
  problem text
);
CREATE INDEX IF NOT EXISTS retention_run_finished ON retention_run (finished_at DESC, id DESC);
ALTER TABLE audit_chain_acknowledgement ADD COLUMN IF NOT EXISTS reason text;
ALTER TABLE audit_chain_integrity_history ADD COLUMN IF NOT EXISTS reason text;

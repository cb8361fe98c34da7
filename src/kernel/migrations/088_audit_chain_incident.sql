-- older builds: run beside
-- The life of an audit-chain integrity incident. `audit_chain_integrity` holds what is known now; these two tables keep
-- what happened: every change of a chain's verdict (intact → broken, broken → acknowledged or intact again) as one row
-- of `audit_chain_integrity_history`, never updated, and every acknowledgement of a break by an auditor in
-- `audit_chain_acknowledgement`: who, when, which rows and which problem, and the chain's head it was made at, signed
-- with the audit signing key (which never enters the database), so that a row written by hand does not verify and
-- clears nothing. An older build neither reads nor writes them: it keeps a chain whose break was acknowledged unsigned,
-- as it did. No personal data: tenants are AGB codes and destination ids, the problems name rows and columns, and
-- `acknowledged_by` is the principal id of an API key or console user.
CREATE TABLE IF NOT EXISTS audit_chain_integrity_history (
  id bigserial PRIMARY KEY,
  tenant text NOT NULL,
  changed_at timestamptz NOT NULL DEFAULT now(),
  verdict text NOT NULL,
  broken_from_seq bigint,
  broken_at_seq bigint,
  problem text,
  found_by text
);
CREATE INDEX IF NOT EXISTS audit_chain_integrity_history_tenant ON audit_chain_integrity_history (tenant, id);
CREATE TABLE IF NOT EXISTS audit_chain_acknowledgement (
  tenant text NOT NULL,
  acknowledged_at text NOT NULL,
  acknowledged_by text NOT NULL,
  broken_from_seq bigint NOT NULL,
  broken_at_seq bigint NOT NULL,
  problem text NOT NULL,
  row_breaks jsonb NOT NULL,
  head_seq bigint NOT NULL,
  head_hash text NOT NULL,
  head_digest text NOT NULL,
  kid text NOT NULL,
  sig text NOT NULL,
  PRIMARY KEY (tenant, acknowledged_at)
);
-- Where the integrity row says when it was found broken from which row: a rewrite is located as a range.
ALTER TABLE audit_chain_integrity ADD COLUMN IF NOT EXISTS broken_from_seq bigint;

-- older builds: run beside
-- What is last known of each audit chain's integrity, whichever process found it and however: a whole verification
-- (asked for in the API or console, or on schedule) says intact or broken; the signer's check of each chain's head
-- against its newest signed checkpoint, each round, only says broken (it reads only the rows since). The signer does
-- not sign a chain known broken, and the console shows the state on the pages that read a chain. `broken_since` is
-- when it was first found broken since it was last found intact. No personal data: tenants are AGB codes and
-- destination ids, and the problem names a row and a column, never a value.
CREATE TABLE IF NOT EXISTS audit_chain_integrity (
  tenant text PRIMARY KEY,
  ok boolean NOT NULL,
  checked_at timestamptz NOT NULL,
  broken_since timestamptz,
  broken_at_seq bigint,
  problem text,
  found_by text
);
-- A chain the scheduled full verification found broken before this migration is known broken from then.
INSERT INTO audit_chain_integrity (tenant, ok, checked_at, broken_since, broken_at_seq, problem, found_by)
SELECT tenant, ok, verified_at, CASE WHEN ok THEN NULL ELSE verified_at END, broken_at_seq, problem, 'full-verify'
FROM audit_full_verification WHERE verified_at IS NOT NULL AND ok IS NOT NULL
ON CONFLICT (tenant) DO NOTHING;

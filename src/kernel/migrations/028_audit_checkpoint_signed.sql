-- older builds: run beside
-- A retention purge signs its checkpoint with the audit signing key (src/audit/signed-heads.ts, signPurgeCheckpoint):
-- `kid` names the key, `sig` is the Ed25519 signature (base64url) over the labelled text
-- jeugdbrug-audit-purge/1\n<kid>\n<tenant>\n<seq>\n<hash>\n<purged_at>\n<purged_rows>. Verification with the keys
-- rejects a latest checkpoint without a valid signature: someone with database access but not the key can no longer
-- forge a purge. Checkpoints recorded before carry none (NULL). Adding nullable columns rewrites nothing.
ALTER TABLE audit_checkpoint ADD COLUMN kid text, ADD COLUMN sig text;

-- older builds: run beside
-- The agreement each disclosure of a child rested on (id, version, digest, as its AuditEvent names it), so that the
-- withdrawal notice telling the municipality to stop processing that data names the same agreement in its own
-- AuditEvent. NULL for disclosures recorded before this migration: their notice names the agreement in force for
-- the disclosure's purpose on the day it was made. A column without a default: adding it rewrites nothing.
ALTER TABLE child_disclosure ADD COLUMN IF NOT EXISTS agreement jsonb;

-- older builds: run beside
-- Whether a consent event records an objection (a Consent whose provision denies), kept at receipt: the practice
-- console's events list marks objections from this column instead of opening (decrypting) each consent event on
-- the page. NULL for an event received before this migration, or by an older build running beside it: the list
-- opens those, and only those, to tell. Not backfilled: whether an event objects is in its encrypted content, which
-- SQL cannot read. Kept when retention removes the content, as the event's type and state are: a yes or no, no
-- personal data. A column without a default: adding it rewrites nothing, catalog only.
ALTER TABLE inbox ADD COLUMN IF NOT EXISTS records_objection boolean;
